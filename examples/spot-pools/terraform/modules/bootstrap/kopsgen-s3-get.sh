#!/bin/sh
# kopsgen-s3-get KEY DEST
# Downloads s3://$KOPSGEN_ASSETS_BUCKET/$KOPSGEN_ASSETS_PREFIX/KEY to DEST with this
# instance's role credentials (read through IMDSv2), signing with curl --aws-sigv4.
# Retries until it has the object, backing off from 1 s to KOPSGEN_S3_GET_MAX_DELAY (60 s)
# and saying why each attempt failed: at boot the role, the network or the object may lag,
# and a node that gave up would stay a blank instance. KOPSGEN_S3_GET_ATTEMPTS limits the
# attempts (0, the default: no limit).
set -eu

if [ "$#" -ne 2 ]; then
  echo "usage: kopsgen-s3-get <key relative to the cluster prefix> <dest>" >&2
  exit 64
fi
key=$1
dest=$2

# shellcheck source=/dev/null
. "${KOPSGEN_ENVIRONMENT:-/etc/kopsgen/environment}"

imds=${KOPSGEN_IMDS_ENDPOINT:-http://169.254.169.254}
s3=${KOPSGEN_S3_ENDPOINT:-https://$KOPSGEN_ASSETS_BUCKET.s3.$KOPSGEN_REGION.amazonaws.com}
attempts=${KOPSGEN_S3_GET_ATTEMPTS:-0}
max_delay=${KOPSGEN_S3_GET_MAX_DELAY:-60}

# json_field NAME JSON: the string value of NAME in the flat JSON object IMDS returns.
json_field() {
  printf '%s\n' "$2" | tr '{},' '[\n*3]' | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

fetch() {
  token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$imds/latest/api/token" 2>"$err") || return 1
  role=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/iam/security-credentials/" 2>"$err") || return 1
  creds=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/iam/security-credentials/$role" 2>"$err") || return 1
  access_key=$(json_field AccessKeyId "$creds")
  secret_key=$(json_field SecretAccessKey "$creds")
  session_token=$(json_field Token "$creds")
  if [ -z "$access_key" ] || [ -z "$secret_key" ] || [ -z "$session_token" ]; then
    echo "no credentials for the instance role $role" >"$err"
    return 1
  fi

  curl -fsS -o "$tmp" \
    --aws-sigv4 "aws:amz:$KOPSGEN_REGION:s3" \
    --user "$access_key:$secret_key" \
    -H "x-amz-security-token: $session_token" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    "$s3/$KOPSGEN_ASSETS_PREFIX/$key" 2>"$err"
}

mkdir -p "$(dirname "$dest")"
tmp="$dest.kopsgen-s3-get.$$"
err="$dest.kopsgen-s3-get.$$.err"
trap 'rm -f "$tmp" "$err"' EXIT

attempt=1
delay=1
until fetch; do
  why=$(tail -n 1 "$err" 2>/dev/null || true)
  if [ "$attempts" -gt 0 ] && [ "$attempt" -ge "$attempts" ]; then
    echo "kopsgen-s3-get: giving up on $key after $attempt attempts: $why" >&2
    exit 1
  fi
  echo "kopsgen-s3-get: $key not fetched (attempt $attempt: ${why:-no answer}); retrying in ${delay}s" >&2
  sleep "$delay"
  attempt=$((attempt + 1))
  delay=$((delay * 2))
  if [ "$delay" -gt "$max_delay" ]; then
    delay=$max_delay
  fi
done

chmod 0600 "$tmp"
mv "$tmp" "$dest"
