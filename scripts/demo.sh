#!/usr/bin/env bash
# Start a local demo server on http://127.0.0.1:8080 with demo data in ./data.
# Needs the Rust toolchain; installs the Debian packages the build and the demo need if
# they are missing. The demo uses embedded SQLite, no PostgreSQL.
# Extra arguments go to `murakumo serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The only prerequisite: cargo (install from https://rustup.rs).
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

# Building: SAML signatures are verified by xmlsec1 through bindgen, which needs its headers
# (libxmlsec1-dev, found by pkg-config) and libclang.so (libclang-dev). Running: certificates
# embed IPAmj明朝 (fonts-ipamj-mincho).
./scripts/install-packages.sh demo libxmlsec1-dev libclang-dev pkg-config fonts-ipamj-mincho

exec cargo run --release -p murakumo-cli -- serve --demo --listen 127.0.0.1:8080 --data ./data "$@"
