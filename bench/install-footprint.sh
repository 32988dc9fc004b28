#!/usr/bin/env bash
# Install footprint of a palette-style install: pack the package, install the tarball with
# production dependencies only and --engine-strict (as the palette manager does), measure.
# Target (../shared/DESIGN.md): production tree at most 400 MB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root" && npm run -s build >/dev/null
tgz=$(npm pack --silent --pack-destination "$work" | tail -1)
cd "$work" && npm init -y >/dev/null
# As the README tells gateway users: onnxruntime-node's postinstall otherwise downloads CUDA
# libraries from nuget on linux x64, which fails offline (and is not needed on a CPU).
npm pkg set allowScripts.onnxruntime-node=false --json
if ! npm install --omit=dev --engine-strict --no-audit --no-fund "$work/$tgz" > install.log 2>&1; then
  cat install.log; exit 1
fi
total=$(du -sm node_modules | cut -f1)
echo "package tarball: $(du -k "$work/$tgz" | cut -f1) kB"
echo "production tree: ${total} MB (target <= 400 MB)"
echo "largest:"
du -sm node_modules/* node_modules/@*/* 2>/dev/null | sort -rn | head -8 | sed 's/^/  /'
