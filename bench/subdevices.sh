#!/usr/bin/env bash
# Sub-device posts through one gateway connection against direct-device posts (issue 22), in the same
# run. A benchmark, never a test.
#
# Starts a private PostgreSQL (durability on), Mosquitto with the plugin, iot-migrate, iot-gateway and
# iot-api on free ports; creates a product with the reference thing model and a gateway product through
# REST; then runs iot-devsim alternately (direct, gateway, direct, gateway, ... IOT_SUB_ROUNDS times):
#   direct   IOT_SUB_DEVICES devices of the product, each with its own MQTT connection and a window of
#            IOT_SUB_WINDOW posts in flight;
#   gateway  one gateway (--gateway-product) carrying the same number of sub-devices of the product
#            over its one connection (topology add, batch login), a window of IOT_SUB_DEVICES x
#            IOT_SUB_WINDOW posts in flight, so both modes may have as many posts outstanding.
# Each run offers IOT_SUB_RATE posts/s (open loop) for IOT_SUB_SECONDS with 5 properties per post; the
# figure is the achieved (answered) rate. Prints one JSON line per run and a summary line: the median
# achieved rate of each mode, their ratio and the load average. On a shared machine only the same-run
# ratio means anything.
#
#   bench/subdevices.sh
#   IOT_SUB_RATE=3000 IOT_SUB_SECONDS=20 IOT_SUB_ROUNDS=3 bench/subdevices.sh
#
# Settings: IOT_BUILD_DIR (./build-release), IOT_SUB_DEVICES (100), IOT_SUB_RATE (4000), IOT_SUB_SECONDS
# (15), IOT_SUB_ROUNDS (2), IOT_SUB_WINDOW (32), IOT_MQTT_DEVICE_DOWNLINK_BYTES (the broker's per-device
# downlink budget, which a gateway's connection spends on all its sub-devices' replies: default 1048576;
# 0 = no limit); IOT_KEEP_TMP=1 keeps logs.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}
DEVICES=${IOT_SUB_DEVICES:-100}
RATE=${IOT_SUB_RATE:-4000}
SECONDS_RUN=${IOT_SUB_SECONDS:-15}
ROUNDS=${IOT_SUB_ROUNDS:-2}
WINDOW=${IOT_SUB_WINDOW:-32}
PK=benchSub01
GW_PK=benchGw01

iot_configure_bench "$BUILD_DIR"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target iot-devsim iot-migrate iot_auth_plugin iot-gateway iot-api \
  >"$BUILD_DIR/subdevices-build.log" 2>&1 || { tail -20 "$BUILD_DIR/subdevices-build.log" >&2; iot_die "build failed"; }
DEVSIM=$BUILD_DIR/services/devsim/iot-devsim
[[ $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt") == Release ]] ||
  iot_say "warning: $BUILD_DIR is not a Release build"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-sub.XXXXXX")
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
iot_pg_setup_platform "$TMP/pg" "$PG_PORT" iot
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

# No per-device message rate in iot-gateway: the platform's throughput is what is measured.
IOT_PG_DSN=$GW_DSN IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-gateway \
  IOT_MQTT_PASSWORD=$GW_SECRET IOT_GATEWAY_METRICS_PORT=$METRICS_PORT IOT_LOG_LEVEL=warn IOT_GATEWAY_DEVICE_RATE=0 \
  "$BUILD_DIR/services/gateway/iot-gateway" >"$TMP/gateway.log" 2>&1 &
PIDS+=($!)
IOT_PG_DSN=$API_DSN IOT_HTTP_PORT=$API_PORT IOT_HTTP_BIND=127.0.0.1 IOT_ADMIN_TOKEN=$TOKEN IOT_LOG_LEVEL=warn \
  IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-api IOT_MQTT_PASSWORD=$API_SECRET \
  IOT_REGISTRATION_RATE=0 "$BUILD_DIR/services/api/iot-api" >"$TMP/api.log" 2>&1 &
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

api POST /products "{\"productKey\":\"$PK\",\"name\":\"sub-device benchmark\"}" >/dev/null
api POST /products "{\"productKey\":\"$GW_PK\",\"name\":\"gateways\",\"nodeType\":\"gateway\"}" >/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["profile"]["productKey"]=sys.argv[2]; print(json.dumps(d))' \
  "$IOT_ROOT/tests/fixtures/tsl/valid/reference_example.json" "$PK" >"$TMP/tsl.json"
api PUT "/products/$PK/thing-model" "@$TMP/tsl.json" >/dev/null
api POST "/products/$PK/thing-model/publish" '{}' >/dev/null

devsim() {  # devsim MODE ROUND: one run; its JSON summary on stdout
  local mode=$1 round=$2 args
  if [[ $mode == gateway ]]; then
    args=(--gateway-product "$GW_PK" --prefix sub- --window $((DEVICES * WINDOW > 10000 ? 10000 : DEVICES * WINDOW)))
  else
    args=(--prefix dir- --window "$WINDOW")
  fi
  IOT_ADMIN_TOKEN=$TOKEN "$DEVSIM" --api "$BASE" --mqtt "tcp://127.0.0.1:$MQTT_PORT" --product "$PK" \
    --devices "$DEVICES" --credentials "$TMP/$mode.json" --rate "$RATE" --duration "$SECONDS_RUN" --events 0 \
    --properties 5 --workers 2 --json --no-progress "${args[@]}" 2>"$TMP/devsim-$mode-$round.log" |
    python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["mode"]=sys.argv[1]; d["load"]=sys.argv[2]; print(json.dumps(d))' \
      "$mode" "$(cut -d' ' -f1 /proc/loadavg)"
}

iot_say "$DEVICES devices, $RATE posts/s offered for ${SECONDS_RUN}s per run, $ROUNDS rounds of direct then gateway"
: >"$TMP/runs.jsonl"
for ((round = 1; round <= ROUNDS; round++)); do
  for mode in direct gateway; do
    devsim "$mode" "$round" | tee -a "$TMP/runs.jsonl"
  done
done
python3 - "$TMP/runs.jsonl" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {m: statistics.median(r["achievedRate"] for r in runs if r["mode"] == m) for m in ("direct", "gateway")}
p99 = {m: statistics.median(r["latencyMs"]["p99"] for r in runs if r["mode"] == m) for m in ("direct", "gateway")}
print(json.dumps({"directPostsPerS": med["direct"], "gatewayPostsPerS": med["gateway"],
                  "gatewayOverDirect": round(med["gateway"] / med["direct"], 3) if med["direct"] else None,
                  "p99Ms": p99, "timeouts": sum(r["timeouts"] for r in runs),
                  "loadAfter": sys.argv[2]}))
EOF
