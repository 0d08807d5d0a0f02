#!/usr/bin/env bash
# Set up dyndiet on a fresh Debian machine: the cross compilers and redis-server the tests use
# (when run as root, or with sudo), then a virtualenv in .venv with dyndiet and its pinned deps.
set -euo pipefail
cd "$(dirname "$0")"
DEBS="gcc gcc-i686-linux-gnu gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu
      gcc-s390x-linux-gnu gcc-powerpc64-linux-gnu redis-server xz-utils zstd"
missing=""
for d in $DEBS; do dpkg -s "$d" >/dev/null 2>&1 || missing="$missing $d"; done
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1; then
    echo "setup.sh: installing Debian packages:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  else
    echo "setup.sh: cannot install$missing (not root, no sudo); the tests needing them will skip" >&2
  fi
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup.sh: ready (.venv/bin/dyndiet)"
