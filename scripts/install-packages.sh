#!/usr/bin/env bash
# Install the given Debian packages unless dpkg already reports each one as installed.
# Idempotent: with everything present it runs no `apt-get update` and returns at once.
# The check is by exact package name, never by a file pattern: a look-alike such as
# libclang-cpp14 must not pass for libclang-dev (bindgen needs libclang.so).
# Usage: scripts/install-packages.sh WHO PACKAGE…   (WHO prefixes the messages)
set -euo pipefail
who=$1
shift

missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
((${#missing[@]})) || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "$who: these Debian packages are missing and there is no apt-get to install them: ${missing[*]}" >&2
  exit 1
fi
# Run as root directly, otherwise through sudo.
SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
echo "$who: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
