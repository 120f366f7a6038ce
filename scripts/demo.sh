#!/usr/bin/env bash
# Start a local demo server on http://127.0.0.1:8080 with demo data in ./data.
# Needs the Rust toolchain (and Debian's xmlsec1 headers, installed below if missing):
# the demo uses embedded SQLite, no PostgreSQL.
# Extra arguments go to `murakumo serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The only prerequisite: cargo (install from https://rustup.rs).
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

# SAML signatures are verified by xmlsec1: building needs its headers (Debian packages).
if ! pkg-config --exists xmlsec1-openssl 2>/dev/null || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  echo "demo: installing the build dependencies of SAML (libxmlsec1-dev libclang-dev pkg-config)"
  SUDO=(); if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libxmlsec1-dev libclang-dev pkg-config
fi

exec cargo run --release -p murakumo-cli -- serve --demo --listen 127.0.0.1:8080 --data ./data "$@"
