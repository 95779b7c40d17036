#!/usr/bin/env bash
# Runs the whole platform on this machine: installs what is missing, builds (Release), creates and starts a
# private PostgreSQL cluster and a private Mosquitto broker under $IOT_DATA_DIR (default ./.local; no system
# service is touched), then every platform service. Ctrl-C stops all of it.
#
# Settings (environment): IOT_DATA_DIR, IOT_HTTP_PORT (8080), IOT_MQTT_PORT (1883), IOT_MQTTS_PORT (8883),
# IOT_PG_PORT (55432), IOT_MQTT_BIND (127.0.0.1), IOT_MQTTS_BIND (0.0.0.0), IOT_ADMIN_TOKEN (generated once when unset, kept in the data
# directory), IOT_BUILD_DIR (./build-release). See README.md for every IOT_ variable.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

DATA=${IOT_DATA_DIR:-$IOT_ROOT/.local}
HTTP_PORT=${IOT_HTTP_PORT:-8080}
MQTT_PORT=${IOT_MQTT_PORT:-1883}
MQTTS_PORT=${IOT_MQTTS_PORT:-8883}
PG_PORT=${IOT_PG_PORT:-55432}
# Plain MQTT carries replayable device passwords: loopback unless opened (README "Security").
MQTT_BIND=${IOT_MQTT_BIND:-127.0.0.1}
MQTTS_BIND=${IOT_MQTTS_BIND:-0.0.0.0}
BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}

"$IOT_ROOT/deploy/install-deps.sh"

iot_require_port_free "$PG_PORT" PostgreSQL IOT_PG_PORT
iot_require_port_free "$MQTT_PORT" MQTT IOT_MQTT_PORT
iot_require_port_free "$MQTTS_PORT" "MQTT over TLS" IOT_MQTTS_PORT
iot_require_port_free "$HTTP_PORT" HTTP IOT_HTTP_PORT

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
# The broker plugin reads the devices table, and the broker starts before the services (which would
# migrate too): bring the schema up to date first.
"$BUILD_DIR/services/migrate/iot-migrate" "$MIGRATOR_DSN" 2>>"$DATA/logs/migrate.log" ||
  iot_die "database migration failed (see $DATA/logs/migrate.log)"
iot_mosquitto_plugin_conf "$MQTT_DIR" "$BUILD_DIR/services/broker-plugin/iot_auth_plugin.so" "$BROKER_DSN" \
  "$GATEWAY_SECRET" "$API_SECRET" "${IOT_MQTT_ALLOW_ANONYMOUS:-false}"
iot_mosquitto_start "$MQTT_DIR" "$MQTT_PORT" "$DATA/logs/mosquitto.log"
pids+=("$(cat "$MQTT_DIR/mosquitto.run.pid")")

export IOT_ADMIN_TOKEN=$ADMIN_TOKEN IOT_HTTP_PORT=$HTTP_PORT
export IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT

# Each service connects to the broker with its own account (secrets generated once, kept hashed in
# mosquitto.conf and in clear only in the data directory).
start_with_mqtt_account() {
  local name=$1 bin=$2 user=$3 secret=$4 dsn=$5
  IOT_PG_DSN=$dsn IOT_MQTT_USERNAME=$user IOT_MQTT_PASSWORD=$secret start_service "$name" "$bin"
}

# Platform services, started when they have been built.
start_service() {
  local name=$1 bin=$2
  [[ -x $bin ]] || return 0
  "$bin" >>"$DATA/logs/$name.log" 2>&1 &
  pids+=("$!")
  iot_say "started $name (log: $DATA/logs/$name.log)"
}
start_with_mqtt_account iot-api "$BUILD_DIR/services/api/iot-api" iot-api "$API_SECRET" "$API_DSN"
start_with_mqtt_account iot-gateway "$BUILD_DIR/services/gateway/iot-gateway" iot-gateway "$GATEWAY_SECRET" "$GATEWAY_DSN"

cat <<EOF

  IoT device cloud is running (data in $DATA)
    REST API      http://127.0.0.1:$HTTP_PORT/api/v1   (console: http://127.0.0.1:$HTTP_PORT/)
    MQTT          mqtt://$MQTT_BIND:$MQTT_PORT   (plain; IOT_MQTT_BIND=0.0.0.0 opens it to the network)
    MQTT over TLS mqtts://<this host>:$MQTTS_PORT   (CA: $TLS/ca.crt)
    PostgreSQL    postgresql://<role>@127.0.0.1:$PG_PORT/iot   (passwords: $DATA/pg.secrets/<role>)
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
