#!/bin/bash
# Usage: kopsgen-fetch-credentials ROLE FILE...
# Fetches credentials/ROLE/FILE from the cluster's S3 prefix into /etc/kubernetes/pki.
# Private keys (*-key.pem) are readable by root only; nothing is written half-way.
set -euo pipefail

role=$1
shift
dir=/etc/kubernetes/pki
mkdir -p "${dir}"
chmod 0755 "${dir}"
umask 077

for file in "$@"; do
  tmp="${dir}/.${file}.download"
  /opt/bin/kopsgen-s3-get "credentials/${role}/${file}" "${tmp}"
  case "${file}" in
    *-key.pem) chmod 0600 "${tmp}" ;;
    *) chmod 0644 "${tmp}" ;;
  esac
  mv -f "${tmp}" "${dir}/${file}"
done
