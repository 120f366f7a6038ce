#!/usr/bin/env bash
# HA inside one data centre, automated: two PostgreSQL nodes managed by Patroni (leader lock in
# etcd, synchronous mode), HAProxy routing to whichever is the leader, and `murakumo serve` on
# the HAProxy address. The leader's machine is lost (Patroni and PostgreSQL killed at once);
# Patroni promotes the synchronous standby by itself, HAProxy follows, and the same Murakumo
# server, without a restart, answers and takes writes, with every acknowledged change there.
#
#   scripts/example-patroni.sh [path/to/murakumo]
#
# The example of docs/replication.md ("Patroni"), run by crates/cli/tests/it/pg_ha.rs. Everything
# runs on 127.0.0.1 in a temporary directory. Needs Debian's postgresql, patroni, etcd-server,
# haproxy and curl (scripts/setup-test.sh installs them); when run as root, PostgreSQL and
# Patroni run as the `postgres` system user.
set -euo pipefail

MURAKUMO=$(realpath "${1:-target/debug/murakumo}")
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x "$PGBIN/initdb" ]] || { echo "no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 2; }
for tool in patroni etcd haproxy curl; do
    command -v "$tool" >/dev/null || { echo "no $tool (scripts/setup-test.sh installs it)" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/murakumo-patroni.XXXXXX)
# Every murakumo process of one platform shares the platform key (it seals the signing keys).
export MURAKUMO_PLATFORM_KEY_FILE="$WORK/platform.key"
chmod 755 "$WORK"
AS=()
if [[ $(id -u) -eq 0 ]]; then AS=(runuser -u postgres --); chown postgres "$WORK"; fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ETCD_CLIENT=$(free_port); ETCD_PEER=$(free_port); PROXY=$(free_port); STATS=$(free_port); WEB=$(free_port)
declare -A PG REST PID
for n in db1 db2; do PG[$n]=$(free_port); REST[$n]=$(free_port); done

cleanup() {
    for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    # runuser's children (Patroni) outlive it.
    pkill -KILL -f "patroni $WORK/" 2>/dev/null || true
    for n in db1 db2; do
        "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/$n" -m immediate stop >/dev/null 2>&1 || true
    done
    if [[ -n "${KEEP_LOGS:-}" ]]; then cp "$WORK"/*.log "$KEEP_LOGS"/ 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "== $*"; }
# Waits up to $1 seconds for a command to succeed.
wait_for() {
    local secs=$1; shift
    for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "timed out after ${secs} s waiting for: $*" >&2
    tail -n 30 "$WORK"/*.log >&2 || true
    return 1
}
rest() { curl -fsS -o /dev/null "http://127.0.0.1:${REST[$1]}/$2"; }

step "etcd (the DCS holding Patroni's leader lock)"
etcd --name dcs --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "dcs=http://127.0.0.1:$ETCD_PEER" >"$WORK/etcd.log" 2>&1 &
PID[etcd]=$!
wait_for 30 curl -fsS "http://127.0.0.1:$ETCD_CLIENT/health"

patroni_yml() {
    cat <<EOF
scope: murakumo
name: $1
restapi: {listen: "127.0.0.1:${REST[$1]}", connect_address: "127.0.0.1:${REST[$1]}"}
etcd3: {hosts: "127.0.0.1:$ETCD_CLIENT"}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    # A commit waits for the synchronous standby, and only it may be promoted: RPO 0.
    synchronous_mode: true
    postgresql:
      parameters: {wal_level: replica, max_wal_senders: 5, hot_standby: "on"}
  initdb: [{encoding: UTF8}, {locale: C}, {auth-local: trust}, {auth-host: trust}]
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: "127.0.0.1:${PG[$1]}"
  connect_address: "127.0.0.1:${PG[$1]}"
  data_dir: $WORK/$1
  bin_dir: $PGBIN
  pgpass: $WORK/$1.pgpass
  # A replica is cloned without waiting for a spread checkpoint (minutes) on the leader.
  basebackup: {checkpoint: fast}
  authentication:
    superuser: {username: postgres, password: example}
    replication: {username: replicator, password: example}
  parameters: {unix_socket_directories: "$WORK"}
EOF
}
start_patroni() {
    patroni_yml "$1" >"$WORK/$1.yml"
    "${AS[@]}" patroni "$WORK/$1.yml" >"$WORK/$1.log" 2>&1 &
    PID[$1]=$!
}

step "Patroni node db1 bootstraps the cluster and takes the leader lock"
start_patroni db1
wait_for 60 rest db1 primary
"${AS[@]}" "$PGBIN/psql" -h 127.0.0.1 -p "${PG[db1]}" -U postgres -qc "CREATE ROLE murakumo LOGIN CREATEROLE" \
    -c "CREATE DATABASE murakumo OWNER murakumo"

step "Patroni node db2 joins as a replica and becomes the synchronous standby"
start_patroni db2
wait_for 90 rest db2 synchronous
echo "db1: $(curl -s "http://127.0.0.1:${REST[db1]}/patroni" | python3 -c 'import json,sys; print(json.load(sys.stdin)["role"])'), db2: synchronous standby"

step "HAProxy on port $PROXY routes to whichever node answers GET /primary"
cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen murakumo_db
    bind 127.0.0.1:$PROXY
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
    server db1 127.0.0.1:${PG[db1]} check port ${REST[db1]}
    server db2 127.0.0.1:${PG[db2]} check port ${REST[db2]}
listen stats
    mode http
    bind 127.0.0.1:$STATS
    stats enable
    stats uri /stats
EOF
haproxy -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PID[haproxy]=$!
URL="postgres://murakumo@127.0.0.1:$PROXY/murakumo"
# HAProxy starts with both servers up until their checks say otherwise: wait until it routes
# to the one leader only.
routes_to() {
    [[ $(curl -fsS "http://127.0.0.1:$STATS/stats;csv" | awk -F, '$1 == "murakumo_db" && $2 ~ /^db/ && $18 == "UP" { print $2 }') == "$1" ]]
}
wait_for 30 routes_to db1
echo "HAProxy routes to: db1"

m() { "$MURAKUMO" "$@" --database-url "$URL"; }
step "Murakumo through HAProxy: a municipality, a setting, a staff account; a server"
m tenant create --code 012289 --name 深川市
m tenant settings --code 012289 --set certificate.issuer_name="深川市長 山下 貴史" --reason 例 >/dev/null
PASSWORD=$(m staff create --tenant 012289 --login sato --name "佐藤 花子" --roles resident.clerk | sed -n 's/.*password: //p')
MURAKUMO_LOG=${MURAKUMO_LOG:-warn} "$MURAKUMO" serve --database-url "$URL" --listen "127.0.0.1:$WEB" >"$WORK/serve.log" 2>&1 &
PID[serve]=$!
wait_for 60 curl -fsS "http://127.0.0.1:$WEB/healthz"
login() {
    curl -fsS -H 'content-type: application/json' \
        -d "{\"tenant\":\"012289\",\"login\":\"sato\",\"password\":\"$PASSWORD\"}" \
        "http://127.0.0.1:$WEB/api/v1/session"
}
login >/dev/null && echo "staff login through the server: ok"
BEFORE=$(m ledger verify)
echo "$BEFORE"

step "db1's machine is lost: Patroni and PostgreSQL killed at once"
LOST=$(date +%s%N)
pkill -KILL -f "patroni $WORK/db1.yml"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/db1" -m immediate stop >/dev/null
unset 'PID[db1]'
wait_for 60 rest db2 primary
wait_for 30 routes_to db2
# Patroni answers /primary once it holds the leader lock; PostgreSQL may still be finishing
# its promotion for a moment (read-only). Wait until writes go through the proxy.
writable() { [[ $("$PGBIN/psql" "$URL" -tAc 'SELECT pg_is_in_recovery()') == f ]]; }
wait_for 30 writable
echo "Patroni promoted db2 and HAProxy routes to it $(( ($(date +%s%N) - LOST) / 1000000000 )) s after the loss (the leader lock expires after ttl = 10 s)"

step "every acknowledged change is on db2; the same server, not restarted, goes on"
AFTER=$(m ledger verify)
echo "$AFTER"
[[ "$BEFORE" == "$AFTER" ]] || { echo "the chains differ after failover" >&2; exit 1; }
wait_for 30 login
echo "staff login through the server: ok"
curl -fsS "http://127.0.0.1:$WEB/healthz"; echo
m tenant settings --code 012289 --set certificate.issuer_title=深川市長 --reason 例 >/dev/null
echo "OK: Patroni failed over by itself and lost nothing; Murakumo took writes on the new leader"
