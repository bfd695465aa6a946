#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then runs the test suite (npm test).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
nodebin="$(bash scripts/setup.sh --print-path)"
export PATH="$nodebin:$PATH"
exec npm test -- "$@"
