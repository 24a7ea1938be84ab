#!/bin/bash
# Usage: kopsgen-fetch-credentials ROLE FILE...
# Fetches credentials/ROLE/FILE from the cluster's S3 prefix into /etc/kubernetes/pki.
# Private keys (*-key.pem) are readable by root only; nothing is written half-way.
#
# KOPSGEN_CREDENTIALS_SHA256 (the user data's environment) names the version this instance
# was made for: SHA-256 of `sha256sum FILE...` over the files, as kopsgen renders it into
# terraform/credentials.auto.tfvars.json. Files already in place with that digest (a
# reboot) are kept without asking S3, whatever S3 holds by then; fetched files are installed
# only when they have it, else this exits 1 (kopsgen-retry runs it again) -- until
# `kopsgen credentials push` has uploaded that version, or this instance is replaced.
# "none" (a workspace rendered without credentials) installs what S3 holds.
set -euo pipefail

role=$1
shift
dir=/etc/kubernetes/pki
want=${KOPSGEN_CREDENTIALS_SHA256:-none}
mkdir -p "${dir}"
chmod 0755 "${dir}"
umask 077

# digest DIR: the role's digest over the files in DIR (fails if one is missing).
digest() {
  (cd "$1" && sha256sum -- "${@:2}") | sha256sum | cut -d ' ' -f 1
}

if [ "${want}" != none ] && have=$(digest "${dir}" "$@" 2>/dev/null) && [ "${have}" = "${want}" ]; then
  echo "kopsgen-fetch-credentials: keeping the ${role} credentials this instance was created with (${want})"
  exit 0
fi

stage="${dir}/.kopsgen-fetch"
rm -rf "${stage}"
mkdir -m 0700 "${stage}"
trap 'rm -rf "${stage}"' EXIT
for file in "$@"; do
  /opt/bin/kopsgen-s3-get "credentials/${role}/${file}" "${stage}/${file}"
done
got=$(digest "${stage}" "$@")
if [ "${want}" != none ] && [ "${got}" != "${want}" ]; then
  echo "kopsgen-fetch-credentials: s3 credentials/${role}/ holds version ${got}, but this instance was created for ${want}: waiting for \`kopsgen credentials push\` of that version (or for this instance to be replaced)" >&2
  exit 1
fi
for file in "$@"; do
  case "${file}" in
    *-key.pem) chmod 0600 "${stage}/${file}" ;;
    *) chmod 0644 "${stage}/${file}" ;;
  esac
  mv -f "${stage}/${file}" "${dir}/${file}"
done
echo "kopsgen-fetch-credentials: installed the ${role} credentials ${got}"
