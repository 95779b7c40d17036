#!/usr/bin/env bash
# Device-control benchmark (issue 6): the sync service round trip REST -> iot-api -> Mosquitto -> device
# -> Mosquitto -> iot-api -> REST through the whole stack, at a fixed rate. A benchmark, never a test.
#
# Starts a private PostgreSQL (durability on), Mosquitto with the plugin, iot-migrate, iot-gateway and
# iot-api on free ports; registers a product with a sync service and devices through REST; then
# iot-control-bench connects the devices (they answer every RRPC request at once and time their own
# handling) and POSTs sync calls at IOT_CTL_RATE per second for IOT_CTL_SECONDS (open loop). Prints one
# JSON line: round trip p50/p90/p99/max, the devices' handling time, and overhead = round trip minus
# the devices' median handling time.
#
#   bench/control_rtt.sh
#   IOT_CTL_RATE=400 IOT_CTL_SECONDS=60 bench/control_rtt.sh
#
# Settings: IOT_BUILD_DIR (./build-release), IOT_CTL_RATE (200), IOT_CTL_SECONDS (30), IOT_CTL_DEVICES
# (20), IOT_CTL_CONCURRENCY (16 HTTP connections); IOT_KEEP_TMP=1 keeps logs.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}
RATE=${IOT_CTL_RATE:-200}
SECONDS_RUN=${IOT_CTL_SECONDS:-30}
DEVICES=${IOT_CTL_DEVICES:-20}
CONCURRENCY=${IOT_CTL_CONCURRENCY:-16}
PK=benchCtl01

iot_configure_bench "$BUILD_DIR"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target iot-control-bench iot-migrate iot_auth_plugin iot-gateway iot-api \
  >"$BUILD_DIR/control-build.log" 2>&1 || { tail -20 "$BUILD_DIR/control-build.log" >&2; iot_die "build failed"; }
BENCH=$BUILD_DIR/bench/control/iot-control-bench
[[ $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt") == Release ]] ||
  iot_say "warning: $BUILD_DIR is not a Release build"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-ctl.XXXXXX")
chmod 755 "$TMP"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  iot_mosquitto_stop "$TMP/mqtt" || true
  iot_pg_stop "$TMP/pg" || true
  if [[ ${IOT_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then iot_say "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

iot_say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
PG_PORT=$(iot_free_port)
iot_pg_init "$TMP/pg" 1
iot_pg_start "$TMP/pg" "$PG_PORT" "$TMP/pg.log"
iot_pg_setup_platform "$TMP/pg" "$PG_PORT" iot  # the platform's roles (README "Security")
DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_migrator iot)
API_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_api iot)
GW_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_gateway iot)
BROKER_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_broker iot)
"$BUILD_DIR/services/migrate/iot-migrate" "$DSN" 2>"$TMP/migrate.log" || { cat "$TMP/migrate.log" >&2; iot_die "iot-migrate failed"; }

GW_SECRET=$(openssl rand -hex 24)
API_SECRET=$(openssl rand -hex 24)
TOKEN=$(openssl rand -hex 24)
MQTT_PORT=$(iot_free_port)
API_PORT=$(iot_free_port)
METRICS_PORT=$(iot_free_port)
BASE=http://127.0.0.1:$API_PORT

iot_mosquitto_conf "$TMP/mqtt" 127.0.0.1 "$MQTT_PORT"
iot_mosquitto_plugin_conf "$TMP/mqtt" "$BUILD_DIR/services/broker-plugin/iot_auth_plugin.so" "$BROKER_DSN" "$GW_SECRET" "$API_SECRET" false
iot_mosquitto_start "$TMP/mqtt" "$MQTT_PORT" "$TMP/mosquitto.log"

IOT_PG_DSN=$GW_DSN IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-gateway \
  IOT_MQTT_PASSWORD=$GW_SECRET IOT_GATEWAY_METRICS_PORT=$METRICS_PORT IOT_LOG_LEVEL=warn \
  "$BUILD_DIR/services/gateway/iot-gateway" >"$TMP/gateway.log" 2>&1 &
PIDS+=($!)
IOT_PG_DSN=$API_DSN IOT_HTTP_PORT=$API_PORT IOT_HTTP_BIND=127.0.0.1 IOT_ADMIN_TOKEN=$TOKEN IOT_LOG_LEVEL=warn \
  IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-api IOT_MQTT_PASSWORD=$API_SECRET \
  IOT_DOWNLINK_RATE=0 IOT_OPENAPI_PATH=$IOT_ROOT/schemas/api/openapi.json \
  "$BUILD_DIR/services/api/iot-api" >"$TMP/api.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 300; i++)); do
  curl -sf "$BASE/healthz" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
((i < 300)) || iot_die "iot-api or iot-gateway did not start (logs in $TMP)"

api() {  # api METHOD PATH [JSON]: prints the body; fails on a non-2xx answer
  local out
  out=$(curl -sS -X "$1" "$BASE/api/v1$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} -w '\n%{http_code}') || iot_die "$1 $2: curl failed"
  [[ ${out##*$'\n'} == 2?? ]] || iot_die "$1 $2: HTTP ${out##*$'\n'}: ${out%$'\n'*}"
  printf '%s' "${out%$'\n'*}"
}

api POST /products "{\"productKey\":\"$PK\",\"name\":\"control benchmark\",\"validation\":\"strict\"}" >/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["profile"]["productKey"]=sys.argv[2]; print(json.dumps(d))' \
  "$IOT_ROOT/tests/fixtures/tsl/valid/reference_example.json" "$PK" >"$TMP/tsl.json"
api PUT "/products/$PK/thing-model" "@$TMP/tsl.json" >/dev/null
api POST "/products/$PK/thing-model/publish" '{}' >/dev/null
names=$(python3 -c 'import json,sys; print(json.dumps({"deviceNames": ["ctl%04d" % i for i in range(int(sys.argv[1]))]}))' "$DEVICES")
created=$(api POST "/products/$PK/devices:batch" "$names")
# Every device of the batch gets the same secret so the bench can sign for all of them.
SECRET=$(openssl rand -hex 16)
iot_pg_psql "$TMP/pg" "$PG_PORT" iot -c "UPDATE devices SET secret = '$SECRET' WHERE product_key = '$PK'" >/dev/null
DNS=$(printf '%s' "$created" | python3 -c 'import json,sys; print(",".join(d["deviceName"] for d in json.load(sys.stdin)["items"]))')
sleep 1.5  # the plugin picks the new secrets up (NOTIFY)

iot_say "sync service round trip: $RATE calls/s for ${SECONDS_RUN}s over $DEVICES devices, $CONCURRENCY connections"
"$BENCH" --api-port "$API_PORT" --token "$TOKEN" --mqtt-uri "tcp://127.0.0.1:$MQTT_PORT" --product "$PK" \
  --secret "$SECRET" --devices "$DNS" --rate "$RATE" --seconds "$SECONDS_RUN" --concurrency "$CONCURRENCY" |
  tee "$TMP/result.json"
iot_say "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
