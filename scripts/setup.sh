#!/usr/bin/env bash
# Sets up a checkout: npm dependencies (offline-safe flags), the packages the tests need, and
# the build. Skips whatever is already in place, so it is cheap to run again.
#   scripts/setup.sh          npm deps + build (enough for the demo)
#   scripts/setup.sh --test   also the system packages the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

export ONNXRUNTIME_NODE_INSTALL=skip   # its CPU binaries ship in the package; the script only fetches CUDA parts
export ELECTRON_SKIP_BINARY_DOWNLOAD=1 # the electron package is installed for its types only
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

say() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-fund --no-audit
else
  say "npm dependencies already installed"
fi

if [ "${1:-}" = "--test" ]; then
  need=()
  command -v git >/dev/null 2>&1 || need+=(git)
  # The Python side (export, golden parity, reference samplers) runs on Debian's torch.
  /usr/bin/python3 -c 'import torch, numpy, onnx, pytest' >/dev/null 2>&1 || need+=(python3-torch python3-numpy python3-onnx python3-pytest)
  # The generated FastAPI server runs on Debian's FastAPI/uvicorn in the contract tests.
  /usr/bin/python3 -c 'import fastapi, uvicorn' >/dev/null 2>&1 || need+=(python3-fastapi python3-uvicorn)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing system packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
fi

say "building (tsc)"
npx tsc -p tsconfig.json
