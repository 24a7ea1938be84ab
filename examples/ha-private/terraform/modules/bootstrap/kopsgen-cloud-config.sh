#!/bin/sh
# kopsgen-cloud-config DEST
# Puts this instance's cloud-config at DEST: exactly the version its user data names
# (KOPSGEN_CLOUD_CONFIG_KEY, KOPSGEN_CLOUD_CONFIG_SHA256 in /etc/kopsgen/environment).
# A copy kept from an earlier boot is used when it still has that SHA-256, so a reboot runs
# what the instance was created with, whatever S3 holds by then. Otherwise it is fetched
# from S3 and checked; a different version there (the cluster was changed, and this
# instance is about to be replaced) is waited out, never applied.
set -eu

dest=$1
# shellcheck source=/dev/null
. "${KOPSGEN_ENVIRONMENT:-/etc/kopsgen/environment}"
want=$KOPSGEN_CLOUD_CONFIG_SHA256
s3_get=${KOPSGEN_S3_GET:-/opt/bin/kopsgen-s3-get}

sha256() {
  sha256sum "$1" | cut -d ' ' -f 1
}

if [ -f "$dest" ] && [ "$(sha256 "$dest")" = "$want" ]; then
  echo "kopsgen-cloud-config: applying the cloud-config this instance was created with ($want)"
  exit 0
fi
while :; do
  "$s3_get" "$KOPSGEN_CLOUD_CONFIG_KEY" "$dest.new"
  got=$(sha256 "$dest.new")
  if [ "$got" = "$want" ]; then
    mv "$dest.new" "$dest"
    echo "kopsgen-cloud-config: fetched $KOPSGEN_CLOUD_CONFIG_KEY ($want)"
    exit 0
  fi
  echo "kopsgen-cloud-config: $KOPSGEN_CLOUD_CONFIG_KEY has SHA-256 $got, but this instance was created for $want; waiting for that version (retrying in ${KOPSGEN_CLOUD_CONFIG_RETRY:-30}s)" >&2
  rm -f "$dest.new"
  sleep "${KOPSGEN_CLOUD_CONFIG_RETRY:-30}"
done
