#!/bin/sh
# Entry point of the cosigner image: exports each file of $COSIGNER_ENV_DIR (default
# /run/cosigner/secrets/env) as an environment variable named after the file, then runs the
# command. A secret a service reads from its environment (the admin token) thereby lives in the
# workload's own secrets volume, not in the compose file or the shell that started it.
set -eu
dir="${COSIGNER_ENV_DIR:-/run/cosigner/secrets/env}"
if [ -d "$dir" ]; then
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    case "$name" in
      [A-Z_]*) ;;
      *) continue ;;
    esac
    case "$name" in
      *[!A-Z0-9_]*) continue ;;
    esac
    value=$(cat "$f")
    export "$name=$value"
  done
fi
exec "$@"
