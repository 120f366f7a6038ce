#!/usr/bin/env bash
# HA inside one data centre: Murakumo on a PostgreSQL primary with a synchronous streaming
# standby; the primary is lost (immediate stop, as a power cut), the standby is promoted, and
# Murakumo on it holds every acknowledged change with every chain verifying.
#
#   scripts/example-pg-ha.sh [path/to/murakumo]
#
# The example of docs/replication.md, run by crates/cli/tests/it/pg_ha.rs. Everything lives in a
# temporary directory on 127.0.0.1; needs Debian's postgresql (initdb, pg_ctl, pg_basebackup)
# and, when run as root, the `postgres` system user to run them as.
set -euo pipefail

MURAKUMO=${1:-target/debug/murakumo}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x "$PGBIN/initdb" ]] || { echo "no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/murakumo-pg-ha.XXXXXX)
# Every murakumo process of one platform shares the platform key (it seals the signing keys).
export MURAKUMO_PLATFORM_KEY_FILE="$WORK/platform.key"
chmod 755 "$WORK"
AS=()
if [[ $(id -u) -eq 0 ]]; then AS=(runuser -u postgres --); chown postgres "$WORK"; fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port); P2=$(free_port)
cleanup() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/primary" -m immediate stop >/dev/null 2>&1 || true
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/standby" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { echo "== $*"; }

step "primary on port $P1 (wal_level=replica)"
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/primary" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=trust >/dev/null
cat >>"$WORK/primary/postgresql.conf" <<EOF
port = $P1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
wal_level = replica
max_wal_senders = 5
EOF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/primary" -l "$WORK/primary.log" -w start >/dev/null
"${AS[@]}" "$PGBIN/psql" -h "$WORK" -p "$P1" -U postgres -qc "CREATE ROLE murakumo LOGIN CREATEROLE" \
    -c "CREATE DATABASE murakumo OWNER murakumo"

step "standby on port $P2 (pg_basebackup -R: streaming from the primary)"
"${AS[@]}" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$P1" -U postgres -D "$WORK/standby" -R -X stream -c fast
sed -i "s/^port = $P1/port = $P2/" "$WORK/standby/postgresql.conf"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/standby" -l "$WORK/standby.log" -w start >/dev/null

step "synchronous commit: the primary acknowledges only what the standby has applied"
# remote_apply (not just `on`): an acknowledged commit is also visible on the standby, so the
# read below cannot race the replay.
"${AS[@]}" "$PGBIN/psql" -h "$WORK" -p "$P1" -U postgres -qc "ALTER SYSTEM SET synchronous_standby_names = '*'" \
    -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
# The reload reaches the WAL sender asynchronously: wait (up to 30 s) until it reports `sync`.
for _ in $(seq 60); do
    STATE=$("${AS[@]}" "$PGBIN/psql" -h "$WORK" -p "$P1" -U postgres -Atc \
        "SELECT 'standby ' || application_name || ': ' || state || ', ' || sync_state FROM pg_stat_replication")
    [[ "$STATE" == *", sync" ]] && break
    sleep 0.5
done
echo "$STATE"

PRIMARY_URL="postgres://murakumo@127.0.0.1:$P1/murakumo"
STANDBY_URL="postgres://murakumo@127.0.0.1:$P2/murakumo"
m() { "$MURAKUMO" "$@"; }

step "Murakumo on the primary: a municipality, a setting, a staff account"
m tenant create --code 012289 --name 深川市 --database-url "$PRIMARY_URL"
m tenant settings --code 012289 --set certificate.issuer_name="深川市長 山下 貴史" --reason 例 --database-url "$PRIMARY_URL" >/dev/null
m staff create --tenant 012289 --login sato --name "佐藤 花子" --roles resident.clerk --database-url "$PRIMARY_URL" >/dev/null
BEFORE=$(m ledger verify --database-url "$PRIMARY_URL")
echo "$BEFORE"

step "the standby streams it (synchronous: each commit above waited for it)"
"${AS[@]}" "$PGBIN/psql" -h "$WORK" -p "$P2" -U postgres -d murakumo -Atc \
    "SELECT 'standby in recovery: ' || pg_is_in_recovery() || ', ledger entries: ' || count(*) FROM ledger_entries"

step "the primary is lost (immediate stop); the standby is promoted"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/primary" -m immediate stop >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/standby" -w promote >/dev/null

step "Murakumo on the promoted standby: everything is there and verifies"
AFTER=$(m ledger verify --database-url "$STANDBY_URL")
echo "$AFTER"
m tenant list --database-url "$STANDBY_URL"
[[ "$BEFORE" == "$AFTER" ]] || { echo "the chains differ after failover" >&2; exit 1; }
m tenant settings --code 012289 --set certificate.issuer_title=深川市長 --reason 例 --database-url "$STANDBY_URL" >/dev/null
echo "OK: failover inside the centre lost nothing; the promoted standby takes writes"
