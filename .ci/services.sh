#!/usr/bin/env bash
# Bring up (and check) the services the test suite needs:
#   postgresql  PostgreSQL 15 "main" cluster on 127.0.0.1:5432 with TimescaleDB preloaded
#   mosquitto   MQTT broker on 127.0.0.1:1883
#   chromium    /usr/bin/chromium for the browser tests
#
# Usage: .ci/services.sh [postgresql] [mosquitto] [chromium]   (default: all)
# Idempotent. Exits non-zero, naming the service, if any of them cannot be
# brought up (always, and so also under CI=true).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DEBIAN_FRONTEND=noninteractive

PG_VERSION=15 PG_CLUSTER=main PG_HOST=127.0.0.1 PG_PORT=5432 PG_DB=test
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
PG_CONF_DIR=/etc/postgresql/$PG_VERSION/$PG_CLUSTER
PG_DROPIN=$PG_CONF_DIR/conf.d/greenpulse-timescaledb.conf
MQTT_HOST=127.0.0.1 MQTT_PORT=${MQTT_PORT:-1883} MQTT_CONF=${MQTT_CONF:-/etc/mosquitto/mosquitto.conf}

log() { echo "services: $*"; }
summary=() failed=()
ok()   { summary+=("OK      $1: $2"); }
fail() { echo "services: ERROR: $1: $2" >&2; summary+=("FAILED  $1: $2"); failed+=("$1"); }

apt_updated=0
apt_install() {  # apt_install PKG... (runs apt-get update once per script run)
    if ((!apt_updated)); then apt-get update -qq || return 1; apt_updated=1; fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_for() {  # wait_for SECONDS CMD...
    local i
    for ((i = 0; i < $1 * 2; i++)); do "${@:2}" && return 0; sleep 0.5; done
    return 1
}

# --- PostgreSQL + TimescaleDB ------------------------------------------------
pg_ready() { "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT"; }
psql_pg() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"; }
pg_ctl_cluster() {
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" "$1" \
        && wait_for 30 pg_ready
}

# shared_preload_libraries as configured in the files (not as running).
pg_configured_preload() {
    runuser -u postgres -- "$PG_BIN/postgres" -C shared_preload_libraries \
        --config-file="$PG_CONF_DIR/postgresql.conf"
}

setup_postgresql() {
    bash "$HERE/install-timescaledb.sh" || { fail postgresql "TimescaleDB install failed"; return; }

    if ! pg_ready; then
        log "postgresql: not accepting connections on $PG_HOST:$PG_PORT, starting cluster $PG_VERSION/$PG_CLUSTER"
        pg_ctl_cluster start || { fail postgresql "cluster $PG_VERSION/$PG_CLUSTER did not start"; return; }
    fi

    grep -Eq "^[[:space:]]*include_dir[[:space:]]*=?[[:space:]]*'conf\.d'" "$PG_CONF_DIR/postgresql.conf" \
        || { fail postgresql "$PG_CONF_DIR/postgresql.conf does not include conf.d"; return; }

    # Keep whatever else is preloaded; add timescaledb.
    local preload want
    preload=$(pg_configured_preload) || { fail postgresql "cannot read shared_preload_libraries"; return; }
    if [[ ",${preload// /}," == *,timescaledb,* ]]; then want=$preload
    else want=${preload:+$preload,}timescaledb; fi
    want="# Written by .ci/services.sh (GreenPulse): TimescaleDB needs preloading.
shared_preload_libraries = '$want'
timescaledb.telemetry_level = off"
    if [[ ! -f $PG_DROPIN || $(<"$PG_DROPIN") != "$want" ]]; then
        log "postgresql: writing $PG_DROPIN"
        printf '%s\n' "$want" >"$PG_DROPIN"
    fi
    [[ ",$(pg_configured_preload | tr -d ' ')," == *,timescaledb,* ]] \
        || { fail postgresql "shared_preload_libraries still lacks timescaledb (overridden by a later config file?)"; return; }

    if [[ ",$(psql_pg -d "$PG_DB" -Atc 'SHOW shared_preload_libraries' | tr -d ' ')," != *,timescaledb,* ]]; then
        log "postgresql: restarting cluster to preload timescaledb"
        pg_ctl_cluster restart || { fail postgresql "cluster did not come back after restart"; return; }
    else
        psql_pg -d "$PG_DB" -Atc 'SELECT pg_reload_conf()' >/dev/null
    fi

    # Prove it works in a scratch database, leaving `test` alone.
    local scratch=greenpulse_services_check out
    psql_pg -d "$PG_DB" -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" -c "CREATE DATABASE $scratch" \
        || { fail postgresql "cannot create scratch database (is database '$PG_DB' there?)"; return; }
    out=$(psql_pg -d "$scratch" -At -F ' ' \
        -c 'CREATE EXTENSION timescaledb' \
        -c "SELECT extversion, current_setting('timescaledb.license'), current_setting('timescaledb.telemetry_level'), current_setting('server_version') FROM pg_extension WHERE extname = 'timescaledb'")
    local rc=$?
    psql_pg -d "$PG_DB" -c "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" || true
    ((rc == 0)) && [[ -n $out ]] || { fail postgresql "CREATE EXTENSION timescaledb failed"; return; }
    local ext lic tel ver; read -r ext lic tel ver <<<"$out"
    ok postgresql "$PG_HOST:$PG_PORT PostgreSQL $ver, timescaledb $ext preloaded (license $lic, telemetry $tel)"
}

# --- Mosquitto ----------------------------------------------------------------
setup_mosquitto() {
    if ! port_open "$MQTT_HOST" "$MQTT_PORT"; then
        if ! command -v mosquitto >/dev/null; then
            log "mosquitto: not installed, installing"
            apt_install mosquitto || { fail mosquitto "apt-get install mosquitto failed"; return; }
        fi
        log "mosquitto: nothing on $MQTT_HOST:$MQTT_PORT, starting broker"
        install -d -o mosquitto -g mosquitto /run/mosquitto /var/log/mosquitto /var/lib/mosquitto 2>/dev/null || true
        mosquitto -d -c "$MQTT_CONF" || { fail mosquitto "mosquitto -d -c $MQTT_CONF failed"; return; }
        wait_for 10 port_open "$MQTT_HOST" "$MQTT_PORT" \
            || { fail mosquitto "broker not listening on $MQTT_HOST:$MQTT_PORT after 10 s"; return; }
    fi
    if ! command -v mosquitto_pub >/dev/null; then
        log "mosquitto: installing mosquitto-clients"
        apt_install mosquitto-clients || { fail mosquitto "apt-get install mosquitto-clients failed"; return; }
    fi
    # Round trip through a retained message, then clear it.
    local topic=greenpulse/ci/services-check got
    mosquitto_pub -h "$MQTT_HOST" -p "$MQTT_PORT" -q 1 -r -t "$topic" -m pong \
        && got=$(mosquitto_sub -h "$MQTT_HOST" -p "$MQTT_PORT" -t "$topic" -C 1 -W 5)
    mosquitto_pub -h "$MQTT_HOST" -p "$MQTT_PORT" -r -n -t "$topic" 2>/dev/null || true
    [[ ${got:-} == pong ]] || { fail mosquitto "publish/subscribe round trip on $MQTT_HOST:$MQTT_PORT failed"; return; }
    local ver; ver=$(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null)
    ok mosquitto "$MQTT_HOST:$MQTT_PORT mosquitto ${ver:-?}, publish/subscribe round trip ok"
}

# --- Chromium -------------------------------------------------------------------
setup_chromium() {
    if [[ ! -x /usr/bin/chromium ]]; then
        log "chromium: not installed, installing (large download)"
        apt_install chromium || { fail chromium "apt-get install chromium failed"; return; }
    fi
    local ver
    ver=$(/usr/bin/chromium --version 2>/dev/null) || { fail chromium "chromium --version failed"; return; }
    ok chromium "/usr/bin/chromium $ver"
}

# --- main ---------------------------------------------------------------------------
services=("$@")
((${#services[@]})) || services=(postgresql mosquitto chromium)
for s in "${services[@]}"; do
    case $s in
        postgresql|mosquitto|chromium) log "checking $s"; "setup_$s" ;;
        *) fail "$s" "unknown service (known: postgresql mosquitto chromium)" ;;
    esac
done

echo "services: ---- summary ----"
for line in "${summary[@]}"; do echo "services: $line"; done
if ((${#failed[@]})); then
    echo "services: FAILED: ${failed[*]} could not be brought up${CI:+ (CI=$CI)}" >&2
    exit 1
fi
