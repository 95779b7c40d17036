#!/usr/bin/env bash
# Runs the whole platform on this machine: installs what is missing, builds (Release), creates and starts a
# private PostgreSQL cluster and a private Mosquitto broker under $IOT_DATA_DIR (default ./.local; no system
# service is touched), then every platform service. Ctrl-C stops all of it.
#
# Settings (environment): IOT_DATA_DIR, IOT_HTTP_PORT (8080, loopback unless IOT_HTTP_BIND opens it),
# IOT_HTTPS_PORT (8443, all interfaces), IOT_OPS_PORT (9180, loopback), IOT_MQTT_PORT (1883), IOT_MQTTS_PORT (8883),
# IOT_PG_PORT (55432), IOT_MQTT_BIND (0.0.0.0), IOT_ADMIN_TOKEN (generated once when unset, kept in the data
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
PG_PORT=${IOT_PG_PORT:-55432}
MQTT_BIND=${IOT_MQTT_BIND:-0.0.0.0}
BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}

"$IOT_ROOT/deploy/install-deps.sh"

iot_require_port_free "$PG_PORT" PostgreSQL IOT_PG_PORT
iot_require_port_free "$MQTT_PORT" MQTT IOT_MQTT_PORT
iot_require_port_free "$MQTTS_PORT" "MQTT over TLS" IOT_MQTTS_PORT
iot_require_port_free "$HTTP_PORT" HTTP IOT_HTTP_PORT
iot_require_port_free "$HTTPS_PORT" HTTPS IOT_HTTPS_PORT
iot_require_port_free "$OPS_PORT" "API operations" IOT_OPS_PORT

iot_say "building (Release) in $BUILD_DIR"
iot_build "$BUILD_DIR" Release -DIOT_BUILD_TESTS=OFF -DIOT_BUILD_BENCH=OFF
"$IOT_ROOT/web/build.sh" "$BUILD_DIR/web"  # the console iot-api serves (cached)

mkdir -p "$DATA" "$DATA/logs"
DATA=$(cd "$DATA" && pwd)
chmod 755 "$DATA"
[[ $(id -u) -eq 0 ]] && iot_grant_traverse postgres "$DATA"

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

pids=()
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
iot_pg_ensure_db "$PG_PORT" iot
PG_DSN="postgresql://postgres@127.0.0.1:$PG_PORT/iot"

# Mosquitto reads its key as its own user after dropping privileges: give it a copy it can read.
MQTT_DIR=$DATA/mqtt
mkdir -p "$MQTT_DIR"
cp "$TLS/ca.crt" "$TLS/server.crt" "$TLS/server.key" "$MQTT_DIR/"
iot_mosquitto_conf "$MQTT_DIR" "$MQTT_BIND" "$MQTT_PORT" "$MQTTS_PORT" \
  "$MQTT_DIR/ca.crt" "$MQTT_DIR/server.crt" "$MQTT_DIR/server.key"
# The broker plugin reads the devices table, and the broker starts before the services (which would
# migrate too): bring the schema up to date first.
"$BUILD_DIR/services/migrate/iot-migrate" "$PG_DSN" 2>>"$DATA/logs/migrate.log" ||
  iot_die "database migration failed (see $DATA/logs/migrate.log)"
iot_mosquitto_plugin_conf "$MQTT_DIR" "$BUILD_DIR/services/broker-plugin/iot_auth_plugin.so" "$PG_DSN" \
  "$GATEWAY_SECRET" "$API_SECRET" "${IOT_MQTT_ALLOW_ANONYMOUS:-false}"
iot_mosquitto_start "$MQTT_DIR" "$MQTT_PORT" "$DATA/logs/mosquitto.log"
pids+=("$(cat "$MQTT_DIR/mosquitto.run.pid")")

export IOT_PG_DSN=$PG_DSN IOT_ADMIN_TOKEN=$ADMIN_TOKEN IOT_HTTP_PORT=$HTTP_PORT
# iot-api: plain HTTP on loopback (IOT_HTTP_BIND opens it, with a warning), HTTPS on every interface with the
# local CA's certificate unless the operator gives one, /metrics and /readyz details on a loopback port.
export IOT_HTTPS_PORT=$HTTPS_PORT IOT_OPS_PORT=$OPS_PORT
export IOT_TLS_CERT=${IOT_TLS_CERT:-$TLS/server.crt} IOT_TLS_KEY=${IOT_TLS_KEY:-$TLS/server.key}
export IOT_PUBLIC_BASE_URL=${IOT_PUBLIC_BASE_URL:-https://$(hostname):$HTTPS_PORT}
export IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT

# Each service connects to the broker with its own account (secrets generated once, kept hashed in
# mosquitto.conf and in clear only in the data directory).
start_with_mqtt_account() {
  local name=$1 bin=$2 user=$3 secret=$4
  IOT_MQTT_USERNAME=$user IOT_MQTT_PASSWORD=$secret start_service "$name" "$bin"
}

# Platform services, started when they have been built.
start_service() {
  local name=$1 bin=$2
  [[ -x $bin ]] || return 0
  "$bin" >>"$DATA/logs/$name.log" 2>&1 &
  pids+=("$!")
  iot_say "started $name (log: $DATA/logs/$name.log)"
}
start_with_mqtt_account iot-api "$BUILD_DIR/services/api/iot-api" iot-api "$API_SECRET"
start_with_mqtt_account iot-gateway "$BUILD_DIR/services/gateway/iot-gateway" iot-gateway "$GATEWAY_SECRET"

cat <<EOF

  IoT device cloud is running (data in $DATA)
    REST API      http://127.0.0.1:$HTTP_PORT/api/v1   (console: http://127.0.0.1:$HTTP_PORT/)
    over HTTPS    $IOT_PUBLIC_BASE_URL/api/v1   (CA: $TLS/ca.crt)
    operations    http://127.0.0.1:$OPS_PORT/metrics   (and /readyz, no token)
    MQTT          mqtt://<this host>:$MQTT_PORT
    MQTT over TLS mqtts://<this host>:$MQTTS_PORT   (CA: $TLS/ca.crt)
    PostgreSQL    $PG_DSN
    Admin token   $ADMIN_TOKEN
    Logs          $DATA/logs/

  Press Ctrl-C to stop everything.

EOF

# Stay in the foreground until Ctrl-C or until a component exits.
while true; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      iot_say "a component (pid $pid) exited; see $DATA/logs/"
      exit 1
    fi
  done
  sleep 1
done
