#!/usr/bin/env bash
# Set up dyndiet on a fresh Debian machine: the cross compilers, redis-server, headless chromium
# and pdftotext (the campaign page's rendering test) and Debian's kernel
# sources (linux-source-6.1, linux-source-6.12) the tests use (when run as root, or with sudo),
# then a virtualenv in .venv with dyndiet and its pinned deps, then the kernel files dyndiet
# builds are extracted once into its cache (~/.cache/dyndiet, outside the repository).
set -euo pipefail
cd "$(dirname "$0")"
DEBS="gcc gcc-i686-linux-gnu gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu
      gcc-s390x-linux-gnu gcc-powerpc64-linux-gnu redis-server xz-utils zstd binutils"
# Installed without their recommends, like the kernel sources:
KERNELS="linux-source-6.1 linux-source-6.12"
BROWSER="chromium poppler-utils fonts-dejavu-core"
missing=""
for d in $DEBS; do dpkg -s "$d" >/dev/null 2>&1 || missing="$missing $d"; done
kmissing=""
for d in $KERNELS $BROWSER; do dpkg -s "$d" >/dev/null 2>&1 || kmissing="$kmissing $d"; done
if [ -n "$missing$kmissing" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1; then
    echo "setup.sh: installing Debian packages:$missing$kmissing"
    $sudo apt-get update -qq
    [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
    [ -z "$kmissing" ] || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends $kmissing >/dev/null
  else
    echo "setup.sh: cannot install$missing$kmissing (not root, no sudo); the tests needing them will skip" >&2
  fi
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# Extract the kernel files once (about 20 s per kernel, then cached).
.venv/bin/python -m kernel.sources 6.1 6.12 || echo "setup.sh: kernel sources not extracted" >&2
echo "setup.sh: ready (.venv/bin/dyndiet)"
