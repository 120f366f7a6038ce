#!/usr/bin/env bash
# Start a local demo server on http://127.0.0.1:8080 with demo data in ./data.
# Needs only the Rust toolchain: the demo uses embedded SQLite, no PostgreSQL.
# Extra arguments go to `murakumo serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The only prerequisite: cargo (install from https://rustup.rs).
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

exec cargo run --release -p murakumo-cli -- serve --demo --listen 127.0.0.1:8080 --data ./data "$@"
