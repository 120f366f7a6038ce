#!/usr/bin/env bash
# Mutation testing with cargo-mutants over the code that holds Murakumo's key properties:
# each mutant is a one-line change (a condition inverted, a function returning a default …);
# a mutant the tests do not catch ("missed") is a property no test holds. Results and the
# last recorded scores: docs/testing.md.
#
# Usage: scripts/mutants.sh [TARGET…]      (default: the quick ones, ledger auth dispersal)
#   ledger            murakumo-ledger: canonical bytes, hashes, chain verification, segments
#   auth              murakumo-auth: password hashing, session tokens, login throttling
#   dispersal         murakumo-dispersal: 2-of-3 秘密分散
#   documents-verify  murakumo-documents, verify.rs only: certificate verification
#   replication-fork  the fork check (Follower::lost_against), judged by the server's
#                     replication tests
#   store             murakumo-store: append, projections, rebuild, shipping, fencing
#                     (slow: every mutant runs the store suite on SQLite and PostgreSQL)
#   server-gates      the server's gates: sessions, the documented-routes gate, the API router
#                     (slow: every mutant runs the server's API and isolation tests)
#   all               every target above
#
# Environment: MUTANTS_JOBS (default 1: the machine is shared), MUTANTS_TIMEOUT (seconds one
# test run of a mutant may take; default: set by cargo-mutants from the unmutated run, at
# least 20), MUTANTS_OUT (default target/mutants),
# MUTANTS_IN_PLACE=1 to mutate this checkout itself (one mutant at a time, restored after
# each) and reuse its target directory: much faster for store and server, but do not edit
# or build the tree while it runs. By default cargo-mutants works in a copy of the tree and
# of its target directory (MUTANTS_COPY_TARGET=false: a copy without it, built from scratch).
# MUTANTS_BASELINE=skip skips the test run on the unmutated tree (when it is known to pass).
# Needs cargo-mutants and cargo-nextest: `cargo install cargo-mutants --locked`.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${MUTANTS_JOBS:-1}"
# Without MUTANTS_TIMEOUT, cargo-mutants sets the timeout from the unmutated test run (a
# mutant that makes a loop endless, e.g. generate_password_for under an impossible policy,
# then costs seconds, not the 600 s a fixed timeout for the store suite would).
timeout_args=(--minimum-test-timeout 20)
if [ -n "${MUTANTS_TIMEOUT:-}" ]; then
    timeout_args=(--timeout "$MUTANTS_TIMEOUT")
fi
out="${MUTANTS_OUT:-target/mutants}"

command -v cargo-mutants >/dev/null || {
    echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
    exit 2
}
# By default cargo-mutants tests in a copy of the tree; copy the target directory too, so
# that the copy starts from what is already built instead of building every dependency again.
mode=(--copy-target "${MUTANTS_COPY_TARGET:-true}" --jobs "$jobs")
if [ "${MUTANTS_IN_PLACE:-}" = 1 ]; then
    if ! git diff --quiet; then
        echo "the tree has uncommitted changes; in place, mutants would mix with them" >&2
        exit 2
    fi
    # cargo-mutants 27 refuses --jobs with --in-place (one mutant at a time anyway).
    mode=(--in-place)
fi

run() {
    local name="$1"
    shift
    echo "== mutants: $name" >&2
    # Exit status 2 means "some mutants were missed": report it, go on with the next target.
    local status=0
    # cargo-mutants 27 creates mutants.out inside --output but not --output itself.
    mkdir -p "$out/$name"
    cargo mutants "${mode[@]}" --test-tool nextest "${timeout_args[@]}" \
        --baseline "${MUTANTS_BASELINE:-run}" --output "$out/$name" "$@" || status=$?
    case "$status" in
        0) echo "== $name: every mutant caught" >&2 ;;
        2) echo "== $name: some mutants missed: $out/$name/mutants.out/missed.txt" >&2 ;;
        3) echo "== $name: some mutants timed out: $out/$name/mutants.out/timeout.txt" >&2 ;;
        *) echo "== $name: cargo-mutants failed ($status)" >&2; return "$status" ;;
    esac
}

target() {
    case "$1" in
        ledger) run ledger -p murakumo-ledger ;;
        auth) run auth -p murakumo-auth ;;
        dispersal) run dispersal -p murakumo-dispersal ;;
        documents-verify) run documents-verify -p murakumo-documents -f crates/documents/src/verify.rs ;;
        replication-fork)
            # cargo-mutants 27 runs the tests of the mutated package whatever --test-package
            # says: name the server's package among the test arguments instead.
            run replication-fork -p murakumo-replication -f crates/replication/src/follower.rs \
                --re 'lost_against' \
                -- --package murakumo-server --test it -E 'test(/^replication::.*fork/)' ;;
        store)
            run store -p murakumo-store \
                -f crates/store/src/tenant.rs -f crates/store/src/projection.rs \
                -f crates/store/src/shipping.rs -f crates/store/src/replication.rs \
                -f crates/store/src/certificates.rs -f crates/store/src/group.rs ;;
        server-gates)
            run server-gates -p murakumo-server \
                -f crates/server/src/session.rs -f crates/server/src/observe.rs \
                -f crates/server/src/api/mod.rs \
                -- -E 'test(/^api::/) | test(/^isolation::/)' ;;
        all)
            for t in ledger auth dispersal documents-verify replication-fork store server-gates; do
                target "$t"
            done ;;
        *) echo "unknown target $1 (see the top of $0)" >&2; exit 2 ;;
    esac
}

if [ "$#" -eq 0 ]; then
    set -- ledger auth dispersal
fi
for t in "$@"; do
    target "$t"
done
