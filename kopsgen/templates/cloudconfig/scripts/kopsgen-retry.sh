#!/bin/bash
# Usage: kopsgen-retry COMMAND [ARG...]
# Runs COMMAND until it succeeds, backing off from 2 to 60 seconds between attempts, so a
# oneshot unit waits out a slow network, S3 object or volume attachment instead of failing.
set -uo pipefail

delay=2
attempt=1
until "$@"; do
  echo "kopsgen-retry: attempt ${attempt} of '$*' failed; retrying in ${delay}s" >&2
  sleep "${delay}"
  attempt=$((attempt + 1))
  delay=$((delay * 2 > 60 ? 60 : delay * 2))
done
