#!/bin/sh
# kopsgen-s3-put FILE KEY KMS_KEY_ARN
# Uploads FILE to s3://$KOPSGEN_ASSETS_BUCKET/$KOPSGEN_ASSETS_PREFIX/KEY, encrypted with
# SSE-KMS under KMS_KEY_ARN, with this instance's role credentials (read through IMDSv2).
# The request carries the file's SHA-256 as its signed payload hash, so S3 refuses a body
# that differs from the file. Signed here (AWS Signature Version 4, with openssl) rather
# than with curl --aws-sigv4: curl before 8.10 sorts the signed headers as "name:value"
# lines, which puts x-amz-server-side-encryption-aws-kms-key-id before
# x-amz-server-side-encryption, and S3 answers SignatureDoesNotMatch (curl/curl#14370).
# Tries KOPSGEN_S3_PUT_ATTEMPTS times (3), 5 s apart, and says why each attempt failed.
set -eu

if [ "$#" -ne 3 ]; then
  echo "usage: kopsgen-s3-put <file> <key relative to the cluster prefix> <kms key arn>" >&2
  exit 64
fi
file=$1
key=$2
kms_key=$3

# shellcheck source=/dev/null
. "${KOPSGEN_ENVIRONMENT:-/etc/kopsgen/environment}"

imds=${KOPSGEN_IMDS_ENDPOINT:-http://169.254.169.254}
s3=${KOPSGEN_S3_ENDPOINT:-https://$KOPSGEN_ASSETS_BUCKET.s3.$KOPSGEN_REGION.amazonaws.com}
attempts=${KOPSGEN_S3_PUT_ATTEMPTS:-3}
sha=$(sha256sum "$file" | cut -d' ' -f1)
# The canonical URI is the path as sent: only characters that need no URI-encoding.
case "$KOPSGEN_ASSETS_PREFIX/$key" in
  *[!A-Za-z0-9._~/-]*)
    echo "kopsgen-s3-put: $KOPSGEN_ASSETS_PREFIX/$key has characters this signer does not encode" >&2
    exit 64
    ;;
esac
url="$s3/$KOPSGEN_ASSETS_PREFIX/$key"
authority=${url#*://}
host=${authority%%/*}
path=/${authority#*/}

# json_field NAME JSON: the string value of NAME in the flat JSON object IMDS returns.
json_field() {
  printf '%s\n' "$2" | tr '{},' '[\n*3]' | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

put() {
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

  amz_date=$(date -u +%Y%m%dT%H%M%SZ)
  day=${amz_date%%T*}
  scope="$day/$KOPSGEN_REGION/s3/aws4_request"
  signed=host\;x-amz-content-sha256\;x-amz-date\;x-amz-security-token\;x-amz-server-side-encryption\;x-amz-server-side-encryption-aws-kms-key-id
  # Canonical headers sorted by name (SigV4: "Create a canonical request").
  canonical=$(printf 'PUT\n%s\n\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\nx-amz-security-token:%s\nx-amz-server-side-encryption:aws:kms\nx-amz-server-side-encryption-aws-kms-key-id:%s\n\n%s\n%s' \
    "$path" "$host" "$sha" "$amz_date" "$session_token" "$kms_key" "$signed" "$sha")
  to_sign=$(printf 'AWS4-HMAC-SHA256\n%s\n%s\n%s' "$amz_date" "$scope" \
    "$(printf '%s' "$canonical" | sha256sum | cut -d' ' -f1)")
  k=$(printf 'AWS4%s' "$secret_key" | od -An -v -tx1 | tr -d ' \n')
  for part in "$day" "$KOPSGEN_REGION" s3 aws4_request "$to_sign"; do
    k=$(hmac "$k" "$part")
  done
  curl -fsS -o /dev/null -T "$file" \
    -H "Host: $host" \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=$access_key/$scope, SignedHeaders=$signed, Signature=$k" \
    -H "x-amz-date: $amz_date" \
    -H "x-amz-security-token: $session_token" \
    -H "x-amz-content-sha256: $sha" \
    -H "x-amz-server-side-encryption: aws:kms" \
    -H "x-amz-server-side-encryption-aws-kms-key-id: $kms_key" \
    "$url" 2>"$err"
}

# hmac HEX_KEY DATA: HMAC-SHA256 of DATA under the key, in hex.
hmac() {
  printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r | cut -d' ' -f1
}

err=$(mktemp)
trap 'rm -f "$err"' EXIT
attempt=1
until put; do
  why=$(tail -n 1 "$err" 2>/dev/null || true)
  if [ "$attempt" -ge "$attempts" ]; then
    echo "kopsgen-s3-put: giving up on $key after $attempt attempts: ${why:-no answer}" >&2
    exit 1
  fi
  echo "kopsgen-s3-put: $key not stored (attempt $attempt: ${why:-no answer}); retrying in 5s" >&2
  sleep 5
  attempt=$((attempt + 1))
done
echo "kopsgen-s3-put: stored $key (sha256 $sha)"
