#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), starts nats-server and every service, and signs a demo
# ETH transfer end to end. Stays up until Ctrl-C; pass --exit to stop after the demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
nodebin="$(bash scripts/setup.sh --print-path)"
export PATH="$nodebin:$PATH"
exec npx cosigner up --demo "$@"
