#!/usr/bin/env bash
# Install what the test suite needs on a Debian 12 machine. Idempotent: when everything is
# already there it installs nothing, runs no `apt-get update`, and finishes in well under a
# second. See docs: DESIGN.md, "Real components, and how tests start them".
set -euo pipefail

# Debian packages the tests drive for real (never mocks):
#   postgresql      initdb/pg_ctl/psql; murakumo-testkit starts throwaway clusters with them
#   chromium, chromium-driver, fonts-ipamj-mincho   UI tests over WebDriver, Japanese glyphs
#   iproute2        network namespaces + tc for the bad-link tests
#   nftables, ethtool   loss and (with python3) delay on those links where the kernel has no netem
#   curl            HTTP requests from inside a namespace (replication tests)
#   rclone          `rclone serve webdav` as the off-site storage target
#   xmlsec1         SAML signatures
#   libxmlsec1-dev, libclang-dev, pkg-config   to build murakumo-saml (samael binds xmlsec1)
#   simplesamlphp, php-cli, php-xml, php-mbstring, openssl   the real SAML IdP the SSO tests
#                   log in through (murakumo_testkit::SimpleSamlIdp runs it under `php -S`)
#   poppler-utils   pdftotext / pdftoppm: certificates read back as a printer would see them
#   patroni, etcd-server, haproxy   PostgreSQL HA inside a centre (scripts/example-patroni.sh);
#                   the tests start their own (a service a package starts is not used)
PACKAGES=(postgresql chromium chromium-driver fonts-ipamj-mincho iproute2 rclone xmlsec1
  libxmlsec1-dev libclang-dev pkg-config simplesamlphp php-cli php-xml php-mbstring openssl curl
  poppler-utils patroni etcd-server haproxy nftables ethtool)

# We do not start (or rely on) the system PostgreSQL service: each test starts its own
# cluster. If the package starts one by itself, that is harmless.
"$(dirname "$0")/install-packages.sh" setup-test "${PACKAGES[@]}"

# cargo-nextest runs the suite (one process per test). Normally preinstalled.
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "setup-test: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
