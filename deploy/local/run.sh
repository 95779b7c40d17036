#!/usr/bin/env bash
# Runs the whole platform on this machine: installs what is missing, builds (Release), creates and starts a
# private PostgreSQL cluster and a private Mosquitto broker under $IOT_DATA_DIR (default ./.local; no system
# service is touched), then every platform service. Ctrl-C stops all of it.
#
# Supervision: a component that exits (a service, Mosquitto or PostgreSQL) is logged and started again with
# backoff (1 s doubling to 60 s; back to 1 s after a minute up); the rest keeps running. Logs in
# $IOT_DATA_DIR/logs are rotated at IOT_LOG_MAX_BYTES (10 MB; one previous file kept as <name>.log.1).
#
# Settings (environment): IOT_DATA_DIR, IOT_HTTP_PORT (8080, loopback unless IOT_HTTP_BIND opens it),
# IOT_HTTPS_PORT (8443, all interfaces), IOT_OPS_PORT (9180, loopback), IOT_MQTT_PORT (1883), IOT_MQTTS_PORT (8883),
# IOT_PG_PORT (55432), IOT_MQTT_BIND (127.0.0.1), IOT_MQTTS_BIND (0.0.0.0), IOT_ADMIN_TOKEN (generated once when unset, kept in the data
# IOT_MQTT_WS_PORT (8083, on IOT_MQTT_BIND), IOT_MQTT_WSS_PORT (8084, on IOT_MQTTS_BIND),
# directory), IOT_BUILD_DIR (./build-release). See README.md for every IOT_ variable.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

DATA=${IOT_DATA_DIR:-$IOT_ROOT/.local}
HTTP_PORT=${IOT_HTTP_PORT:-8080}
HTTPS_PORT=${IOT_HTTPS_PORT:-8443}
OPS_PORT=${IOT_OPS_PORT:-9180}
MQTT_PORT=${IOT_MQTT_PORT:-1883}
MQTTS_PORT=${IOT_MQTTS_PORT:-8883}
MQTT_WS_PORT=${IOT_MQTT_WS_PORT:-8083}
MQTT_WSS_PORT=${IOT_MQTT_WSS_PORT:-8084}
PG_PORT=${IOT_PG_PORT:-55432}
# Plain MQTT carries replayable device passwords: loopback unless opened (README "Security").
MQTT_BIND=${IOT_MQTT_BIND:-127.0.0.1}
MQTTS_BIND=${IOT_MQTTS_BIND:-0.0.0.0}
BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}

"$IOT_ROOT/deploy/install-deps.sh"

iot_require_port_free "$PG_PORT" PostgreSQL IOT_PG_PORT
iot_require_port_free "$MQTT_PORT" MQTT IOT_MQTT_PORT
iot_require_port_free "$MQTTS_PORT" "MQTT over TLS" IOT_MQTTS_PORT
iot_require_port_free "$MQTT_WS_PORT" "MQTT over WebSocket" IOT_MQTT_WS_PORT
iot_require_port_free "$MQTT_WSS_PORT" "MQTT over secure WebSocket" IOT_MQTT_WSS_PORT
iot_require_port_free "$HTTP_PORT" HTTP IOT_HTTP_PORT
iot_require_port_free "$HTTPS_PORT" HTTPS IOT_HTTPS_PORT
iot_require_port_free "$OPS_PORT" "API operations" IOT_OPS_PORT

iot_say "building (Release) in $BUILD_DIR"
iot_build "$BUILD_DIR" Release -DIOT_BUILD_TESTS=OFF -DIOT_BUILD_BENCH=OFF
"$IOT_ROOT/web/build.sh" "$BUILD_DIR/web"  # the console iot-api serves (cached)

mkdir -p "$DATA" "$DATA/logs"
DATA=$(cd "$DATA" && pwd)
# Secrets, the database and the broker's state live here: nobody else may read it. When root, the
# postgres and mosquitto users get search permission only (an ACL), on this directory and its ancestors.
chmod 700 "$DATA" "$DATA/logs"
[[ $(id -u) -eq 0 ]] && iot_grant_traverse postgres "$DATA/logs"  # its log file; $DATA on the way

# Secrets are generated once and kept in the data directory (mode 600).
secret_file() {
  local file=$DATA/$1
  if [[ ! -s $file ]]; then
    (umask 077; openssl rand -hex 24 >"$file")
  fi
  cat "$file"
}
GATEWAY_SECRET=${IOT_GATEWAY_MQTT_PASSWORD:-$(secret_file gateway-mqtt-secret)}
API_SECRET=${IOT_API_MQTT_PASSWORD:-$(secret_file api-mqtt-secret)}
if [[ -n ${IOT_ADMIN_TOKEN:-} ]]; then
  ADMIN_TOKEN=$IOT_ADMIN_TOKEN
else
  ADMIN_TOKEN=$(secret_file admin-token)
fi

# Local CA and server certificate for the TLS listener (devices with securemode=2 trust ca.crt).
TLS=$DATA/tls
if [[ ! -s $TLS/server.crt ]]; then
  iot_make_tls "$TLS" "$(hostname)"
  iot_say "created a local CA: $TLS/ca.crt"
fi

declare -A pids=()  # component -> pid of what runs now
stop_all() {
  trap - EXIT INT TERM
  iot_say "stopping"
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  iot_mosquitto_stop "$DATA/mqtt"
  iot_pg_stop "$DATA/pg"
  iot_say "stopped"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

iot_pg_init "$DATA/pg" 1
iot_pg_start "$DATA/pg" "$PG_PORT" "$DATA/logs/postgresql.log"
# One role per service, none a superuser, passwords generated into $DATA/pg.secrets (README "Security").
iot_pg_setup_platform "$DATA/pg" "$PG_PORT" iot
MIGRATOR_DSN=$(iot_pg_dsn "$DATA/pg" "$PG_PORT" iot_migrator iot)
API_DSN=$(iot_pg_dsn "$DATA/pg" "$PG_PORT" iot_api iot)
GATEWAY_DSN=$(iot_pg_dsn "$DATA/pg" "$PG_PORT" iot_gateway iot)
BROKER_DSN=$(iot_pg_dsn "$DATA/pg" "$PG_PORT" iot_broker iot)

# Mosquitto reads its key as its own user after dropping privileges: give it a copy it can read.
MQTT_DIR=$DATA/mqtt
mkdir -p "$MQTT_DIR"
cp "$TLS/ca.crt" "$TLS/server.crt" "$TLS/server.key" "$MQTT_DIR/"
iot_mosquitto_conf "$MQTT_DIR" "$MQTT_BIND" "$MQTT_PORT" "$MQTTS_PORT" \
  "$MQTT_DIR/ca.crt" "$MQTT_DIR/server.crt" "$MQTT_DIR/server.key" "$MQTTS_BIND"
if [[ $MQTT_BIND != 127.0.0.1 && $MQTT_BIND != localhost && $MQTT_BIND != ::1 ]]; then
  iot_say "warning: plain MQTT listens on $MQTT_BIND: device passwords cross the network in clear and can be replayed (use TLS on $MQTTS_PORT)"
fi
iot_mosquitto_ws_conf "$MQTT_DIR" "$MQTT_BIND" "$MQTT_WS_PORT" "$MQTT_WSS_PORT" \
  "$MQTT_DIR/ca.crt" "$MQTT_DIR/server.crt" "$MQTT_DIR/server.key" "$MQTTS_BIND"
# The broker plugin reads the devices table, and the broker starts before the services (which would
# migrate too): bring the schema up to date first.
"$BUILD_DIR/services/migrate/iot-migrate" "$MIGRATOR_DSN" 2>>"$DATA/logs/migrate.log" ||
  iot_die "database migration failed (see $DATA/logs/migrate.log)"
iot_mosquitto_plugin_conf "$MQTT_DIR" "$BUILD_DIR/services/broker-plugin/iot_auth_plugin.so" "$BROKER_DSN" \
  "$GATEWAY_SECRET" "$API_SECRET" "${IOT_MQTT_ALLOW_ANONYMOUS:-false}"
start_mosquitto() {
  iot_mosquitto_start "$MQTT_DIR" "$MQTT_PORT" "$DATA/logs/mosquitto.log"
  pids[mosquitto]=$(cat "$MQTT_DIR/mosquitto.run.pid")
}
start_mosquitto

export IOT_ADMIN_TOKEN=$ADMIN_TOKEN IOT_HTTP_PORT=$HTTP_PORT
# iot-api: plain HTTP on loopback (IOT_HTTP_BIND opens it, with a warning), HTTPS on every interface with the
# local CA's certificate unless the operator gives one, /metrics and /readyz details on a loopback port.
export IOT_HTTPS_PORT=$HTTPS_PORT IOT_OPS_PORT=$OPS_PORT
export IOT_TLS_CERT=${IOT_TLS_CERT:-$TLS/server.crt} IOT_TLS_KEY=${IOT_TLS_KEY:-$TLS/server.key}
export IOT_PUBLIC_BASE_URL=${IOT_PUBLIC_BASE_URL:-https://$(hostname):$HTTPS_PORT}
export IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT

# Each service connects to the broker with its own account (secrets generated once, kept hashed in
# mosquitto.conf and in clear only in the data directory).
start_with_mqtt_account() {
  local name=$1 bin=$2 user=$3 secret=$4 dsn=$5
  IOT_PG_DSN=$dsn IOT_MQTT_USERNAME=$user IOT_MQTT_PASSWORD=$secret start_service "$name" "$bin"
}

# Platform services, started when they have been built; how to start each again is kept for supervision.
declare -A restart_cmd=([mosquitto]=start_mosquitto [postgresql]=start_postgresql)
start_service() {
  local name=$1 bin=$2
  [[ -x $bin ]] || return 0
  "$bin" >>"$DATA/logs/$name.log" 2>&1 &
  pids[$name]=$!
  # Everything start_with_mqtt_account set for this one service (a restart without IOT_PG_DSN exits 2).
  restart_cmd[$name]="$(printf 'IOT_PG_DSN=%q IOT_MQTT_USERNAME=%q IOT_MQTT_PASSWORD=%q start_service %q %q' \
    "${IOT_PG_DSN:-}" "${IOT_MQTT_USERNAME:-}" "${IOT_MQTT_PASSWORD:-}" "$name" "$bin")"
  iot_say "started $name (log: $DATA/logs/$name.log)"
}
start_with_mqtt_account iot-api "$BUILD_DIR/services/api/iot-api" iot-api "$API_SECRET" "$API_DSN"
start_with_mqtt_account iot-gateway "$BUILD_DIR/services/gateway/iot-gateway" iot-gateway "$GATEWAY_SECRET" "$GATEWAY_DSN"

cat <<EOF

  IoT device cloud is running (data in $DATA)
    REST API      http://127.0.0.1:$HTTP_PORT/api/v1   (console: http://127.0.0.1:$HTTP_PORT/)
    over HTTPS    $IOT_PUBLIC_BASE_URL/api/v1   (CA: $TLS/ca.crt)
    operations    http://127.0.0.1:$OPS_PORT/metrics   (and /readyz, no token)
    MQTT          mqtt://$MQTT_BIND:$MQTT_PORT   (plain; IOT_MQTT_BIND=0.0.0.0 opens it to the network)
    MQTT over TLS mqtts://<this host>:$MQTTS_PORT   (CA: $TLS/ca.crt)
    MQTT over WS  ws://<this host>:$MQTT_WS_PORT/mqtt, wss://<this host>:$MQTT_WSS_PORT/mqtt
    Registration  http://127.0.0.1:$HTTP_PORT/auth/register/device (one product one secret)
    PostgreSQL    postgresql://<role>@127.0.0.1:$PG_PORT/iot   (passwords: $DATA/pg.secrets/<role>)
    Admin token   $ADMIN_TOKEN
    Logs          $DATA/logs/

  Press Ctrl-C to stop everything.

EOF

# Stay in the foreground until Ctrl-C, restarting what exits (with backoff) and rotating the logs.
start_postgresql() { iot_pg_start "$DATA/pg" "$PG_PORT" "$DATA/logs/postgresql.log"; }
postgresql_alive() { iot_as "$(stat -c %U "$DATA/pg")" "$PG_BIN/pg_ctl" -D "$DATA/pg" status >/dev/null 2>&1; }
LOG_MAX=${IOT_LOG_MAX_BYTES:-10485760}
declare -A backoff=() next_try=() up_since=()
tick=0
while true; do
  sleep 1
  now=$SECONDS
  for name in "${!restart_cmd[@]}"; do
    if [[ $name == postgresql ]]; then alive=postgresql_alive; else alive="kill -0 ${pids[$name]:-0}"; fi
    if $alive 2>/dev/null; then
      [[ -n ${up_since[$name]:-} ]] || up_since[$name]=$now
      ((now - up_since[$name] < 60)) || backoff[$name]=1
      continue
    fi
    if [[ -z ${next_try[$name]:-} ]]; then  # just found dead: log it and schedule the restart
      status=0
      wait "${pids[$name]:-0}" 2>/dev/null || status=$?
      if ((status == 127)); then status="unknown"; fi  # not our child (PostgreSQL, a restarted Mosquitto)
      delay=${backoff[$name]:-1}
      iot_say "$name exited (status $status); restarting in ${delay}s (log: $DATA/logs/$name.log)"
      next_try[$name]=$((now + delay))
      backoff[$name]=$((delay * 2 > 60 ? 60 : delay * 2))
      unset "up_since[$name]"
    fi
    if ((now >= next_try[$name])); then
      unset "next_try[$name]"
      # PostgreSQL and Mosquitto start in a subshell: a start that fails (iot_die) is retried later.
      case $name in
        postgresql) (start_postgresql) ;;
        mosquitto) (start_mosquitto) && pids[mosquitto]=$(cat "$MQTT_DIR/mosquitto.run.pid") ;;
        *) eval "${restart_cmd[$name]}" ;;
      esac || iot_say "starting $name failed; trying again later"
    fi
  done
  # Copy-and-truncate rotation: the components append (O_APPEND), so they carry on at the start.
  if ((++tick % 10 == 0)); then
    for log in "$DATA"/logs/*.log; do
      if [[ -f $log ]] && (($(stat -c %s "$log") > LOG_MAX)); then
        cp "$log" "$log.1" && : >"$log"
      fi
    done
  fi
done
