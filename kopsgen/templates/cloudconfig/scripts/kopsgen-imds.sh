#!/bin/bash
# Usage: kopsgen-imds PATH
# Prints instance metadata PATH (e.g. instance-id) using IMDSv2.
set -euo pipefail

imds=http://169.254.169.254/latest
curl_imds() {
  curl --fail --silent --show-error --retry 5 --retry-delay 2 --retry-connrefused "$@"
}
token=$(curl_imds -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "${imds}/api/token")
curl_imds -H "X-aws-ec2-metadata-token: ${token}" "${imds}/meta-data/$1"
