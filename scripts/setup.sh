#!/usr/bin/env bash
# Sets up a checkout: npm dependencies (offline-safe flags), the packages the tests need, and
# the build. Skips whatever is already in place, so it is cheap to run again.
#   scripts/setup.sh          npm deps + build (enough for the demo)
#   scripts/setup.sh --test   also the system packages the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

# package.json's allowScripts already denies these two packages' install scripts on npm 11.19+;
# the variables cover an npm that ignores allowScripts. They live here, not in .npmrc: npm warns
# about every key it does not know there ("Unknown project config"), on every npm command.
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
  # Drift statistics tests compare KS / chi-squared / G against scipy on fixed data.
  /usr/bin/python3 -c 'import scipy' >/dev/null 2>&1 || need+=(python3-scipy)
  # Docker target tests: Debian's engine, and debootstrap for the offline base image.
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  # Swarm target tests validate the generated stack.yml with `docker-compose config -q`.
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  # The GUI's end-to-end test and benchmark drive Debian's Chromium through playwright-core
  # (never `npx playwright install`: it downloads from the internet); DejaVu keeps screenshots stable.
  [ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing system packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  if ! docker info >/dev/null 2>&1; then
    # overlay2 shares image layers (a weights-only rebuild copies megabytes, not the whole
    # rootfs); vfs copies every layer in full and is the fallback where overlayfs cannot mount.
    driver=vfs
    probe=$(mktemp -d)
    mkdir -p "$probe"/l "$probe"/u "$probe"/w "$probe"/m
    if mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" 2>/dev/null; then
      umount "$probe/m"; driver=overlay2
    fi
    rm -rf "$probe"
    say "starting dockerd ($driver, no iptables, no default bridge)"
    setsid -f dockerd --storage-driver=$driver --iptables=false --bridge=none >/var/log/dockerd.log 2>&1 </dev/null
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { say "dockerd did not start: $(tail -5 /var/log/dockerd.log)"; exit 1; }
  fi
  avail_gb=$(df -BG --output=avail / | tail -1 | tr -dc 0-9)
  [ "${avail_gb:-0}" -ge 20 ] || say "warning: only ${avail_gb} GB free; the Docker tests need ~5 GB (overlay2) to ~20 GB (vfs)"
fi

say "building (tsc, and the preload as one CommonJS file for Electron's sandbox)"
npx tsc -p tsconfig.json
npm run -s build:preload

# The renderer: type-checked (Vite only strips types) and bundled into renderer/dist, which the
# Electron window loads and web mode serves. Skipped when nothing it is built from has changed.
stamp=renderer/dist/index.html
if [ ! -f "$stamp" ] || [ -n "$(find renderer/src renderer/index.html renderer/vite.config.ts renderer/tsconfig.json preload/contract.ts package-lock.json -newer "$stamp" -print -quit)" ]; then
  say "building the renderer (type check, vite build)"
  npm run -s typecheck:renderer
  npm run -s build:renderer
else
  say "renderer already built"
fi
