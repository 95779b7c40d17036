#!/usr/bin/env bash
# Bytes per stored property value of a sensor-like fleet, through the whole platform (issue 24). A benchmark,
# never a test.
#
# Runs deploy/local/run.sh (private PostgreSQL, Mosquitto with the plugin, iot-gateway, iot-api) in a temporary
# data directory on free ports; creates a product with a sensor thing model (8 properties: temperature float
# step 0.01, humidity float step 0.1, pressure double step 0.1, battery and co2 int, mode enum of 4, alarm bool,
# site text) and runs `iot-devsim --workload sensor`: IOT_SENSOR_DEVICES devices, each posting its own 5 of
# those properties on its own period, log-uniform from 1 to 60 s (a mean of ~14 s), values walking little from
# post to post (services/devsim/src/values.hpp, SensorValues), for IOT_SENSOR_DURATION_S seconds. Then VACUUM,
# CHECKPOINT, and bytes on disk per stored value (heap, TOAST, indexes; every partition) for:
#   history  property_posts          latest  device_latest          dedupe  message_dedupe
#   rollups  property_rollups + property_rollups_daily + rollup_pending (hours that closed during the run)
# and the total. The dedupe keys live 10 minutes (README "Exactly once"): a run as long as that holds all of
# them, a day's data holds them for its last 10 minutes only, and the latest values are one row a device
# however long the run: the script also prints the total for a day at the run's rate (a_day_B/v).
#
#   bench/sensor_bytes.sh
#   IOT_SENSOR_DEVICES=500 IOT_SENSOR_DURATION_S=120 bench/sensor_bytes.sh
#
# Then the same data compacted as a day later (iot-compact-bench; see below) and its bytes per value.
#
# Settings (environment): IOT_SENSOR_DEVICES (2000), IOT_SENSOR_DURATION_S (600), IOT_SENSOR_PERIOD (1:60),
# IOT_SENSOR_COMPACT_DAYS (2),
# IOT_BUILD_DIR (./build-release; built by deploy/local/run.sh when missing), IOT_KEEP_TMP=1 keeps the data
# directory.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

DEVICES=${IOT_SENSOR_DEVICES:-2000}
DURATION_S=${IOT_SENSOR_DURATION_S:-600}
PERIOD=${IOT_SENSOR_PERIOD:-1:60}
export IOT_BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}
PK=sensorbytes

TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-sensor.XXXXXX")
chmod 755 "$TMP"
RUN_PID=
cleanup() {
  local rc=$?
  if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -TERM "$RUN_PID" 2>/dev/null || true  # run.sh stops everything it started on TERM
    for ((i = 0; i < 300; i++)); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RUN_PID" 2>/dev/null || true
  fi
  if [[ ${IOT_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then
    iot_say "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export IOT_DATA_DIR=$TMP/data
export IOT_HTTP_PORT=$(iot_free_port) IOT_HTTPS_PORT=$(iot_free_port) IOT_OPS_PORT=$(iot_free_port)
export IOT_MQTT_PORT=$(iot_free_port) IOT_MQTTS_PORT=$(iot_free_port) IOT_MQTT_WS_PORT=$(iot_free_port)
export IOT_MQTT_WSS_PORT=$(iot_free_port) IOT_PG_PORT=$(iot_free_port)
export IOT_ADMIN_TOKEN=$(openssl rand -hex 24)
export IOT_LOG_LEVEL=warn
"$IOT_ROOT/deploy/local/run.sh" >"$TMP/run.log" 2>&1 &
RUN_PID=$!
BASE=http://127.0.0.1:$IOT_HTTP_PORT
for ((i = 0; i < 3000; i++)); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$RUN_PID" 2>/dev/null || { tail -30 "$TMP/run.log" >&2; iot_die "deploy/local/run.sh exited"; }
  sleep 0.2
done
((i < 3000)) || iot_die "the platform is not ready after 10 minutes (log: $TMP/run.log)"
PSQL=(iot_pg_psql "$IOT_DATA_DIR/pg" "$IOT_PG_PORT" iot)

api() { iot_rest "$BASE" "$IOT_ADMIN_TOKEN" "$@"; }  # api METHOD PATH [JSON]: prints the body, dies on a non-2xx answer
num() {  # num ID NAME TYPE MIN MAX STEP
  printf '{"identifier":"%s","name":"%s","accessMode":"r","required":false,"dataType":{"type":"%s","specs":{"min":"%s","max":"%s","step":"%s"}}}' "$@"
}
api POST /products "{\"productKey\":\"$PK\",\"name\":\"Sensor bytes benchmark\",\"validation\":\"weak\"}" >/dev/null
api PUT "/products/$PK/thing-model" "{\"schema\":\"https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json\",
  \"profile\":{\"version\":\"1.0\"},\"events\":[],\"services\":[],\"properties\":[
  $(num temperature Temperature float -40 125 0.01), $(num humidity Humidity float 0 100 0.1),
  $(num pressure Pressure double 300 1100 0.1), $(num battery Battery int 0 100 1), $(num co2 CO2 int 400 5000 1),
  {\"identifier\":\"mode\",\"name\":\"Mode\",\"accessMode\":\"r\",\"required\":false,
   \"dataType\":{\"type\":\"enum\",\"specs\":{\"0\":\"idle\",\"1\":\"heat\",\"2\":\"cool\",\"3\":\"fan\"}}},
  {\"identifier\":\"alarm\",\"name\":\"Alarm\",\"accessMode\":\"r\",\"required\":false,
   \"dataType\":{\"type\":\"bool\",\"specs\":{\"0\":\"off\",\"1\":\"on\"}}},
  {\"identifier\":\"site\",\"name\":\"Site\",\"accessMode\":\"r\",\"required\":false,
   \"dataType\":{\"type\":\"text\",\"specs\":{\"length\":\"32\"}}}]}" >/dev/null
api POST "/products/$PK/thing-model/publish" >/dev/null

iot_say "iot-devsim: $DEVICES devices, 5 properties each, periods $PERIOD s, ${DURATION_S}s (load $(cut -d' ' -f1-3 /proc/loadavg))"
"$IOT_BUILD_DIR/services/devsim/iot-devsim" --product "$PK" --devices "$DEVICES" --workload sensor \
  --period "$PERIOD" --properties 5 --events 0 --duration "$DURATION_S" --api "$BASE" \
  --mqtt "tcp://127.0.0.1:$IOT_MQTT_PORT" --credentials "$TMP/credentials.json" --no-progress --json \
  >"$TMP/devsim.json" 2>"$TMP/devsim.log" || { tail -20 "$TMP/devsim.log" >&2; iot_die "iot-devsim failed"; }
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("[iot] devsim: sent %s, answered %s, achieved %s posts/s" % (s.get("sent"), s.get("answered"), s.get("achievedRate")))' "$TMP/devsim.json" >&2

# --- bytes -------------------------------------------------------------------------------------------------
"${PSQL[@]}" -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
size_of() {  # size_of TABLE...: bytes of the tables (their partitions, TOAST and indexes)
  local t list=""
  for t in "$@"; do list+="${list:+,}'$t'"; done
  "${PSQL[@]}" -c "
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
WHERE c.relname IN ($list) AND c.relkind = 'r'
   OR c.oid IN (SELECT i.inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ($list))"
}
VALUES=$("${PSQL[@]}" -c "SELECT coalesce(sum((SELECT count(*) FROM jsonb_object_keys(props))), 0) FROM property_posts")
ROWS=$("${PSQL[@]}" -c "SELECT count(*) FROM property_posts")
MSGS=$("${PSQL[@]}" -c "SELECT count(*) FROM message_dedupe")
((VALUES > 0)) || iot_die "nothing was stored (logs: $TMP)"
HISTORY=$(size_of property_posts)
LATEST=$(size_of device_latest)
DEDUPE=$(size_of message_dedupe)
ROLLUPS=$(size_of property_rollups property_rollups_daily rollup_pending)
RROWS=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM property_rollups) + (SELECT count(*) FROM property_rollups_daily)")
python3 - "$VALUES" "$ROWS" "$MSGS" "$HISTORY" "$LATEST" "$DEDUPE" "$ROLLUPS" "$DURATION_S" <<'PY' | tee "$TMP/hot.txt"
import sys
values, rows, msgs, history, latest, dedupe, rollups, duration = map(float, sys.argv[1:9])
per = lambda b: b / values
print("[iot] stored: %d values in %d history rows (%.2f values a row), %d dedupe keys"
      % (values, rows, values / rows, msgs))
# A day at the run's rate: history and rollups grow with the values; the latest values stay one row per
# device; the dedupe table holds at most 20 minutes of keys (the 10-minute window, cleaned by iot-api's
# maintenance every IOT_MAINTENANCE_INTERVAL_S, 600 s).
day = per(history) + per(rollups) + per(latest) * duration / 86400 + per(dedupe) * 1200 / 86400
print("label       history_B/v  latest_B/v  dedupe_B/v  rollups_B/v  total_B/v  a_day_B/v")
print("sensor      %11.1f %11.1f %11.1f %12.1f %10.1f %10.1f"
      % (per(history), per(latest), per(dedupe), per(rollups), per(history + latest + dedupe + rollups), day))
PY

# --- the same data compacted, as it is once its day is closed ----------------------------------------------
# iot-compact-bench rolls up and compacts with the clock IOT_SENSOR_COMPACT_DAYS (2) ahead: every stored day
# is then closed, and compacted exactly as iot-api's compaction does it a day later (store::CompactHistory).
# Rollups are counted for whole hours: the run fills one or two hours partly, so the bytes of a rollup row
# are measured and charged 25 rows (24 hourly, 1 daily) per numeric series and day of values at the run's rate.
iot_say "compacting as of ${IOT_SENSOR_COMPACT_DAYS:-2} days later"
"$IOT_BUILD_DIR/bench/compact/iot-compact-bench" --days "${IOT_SENSOR_COMPACT_DAYS:-2}" \
  --dsn "$(iot_pg_dsn "$IOT_DATA_DIR/pg" "$IOT_PG_PORT" iot_api iot)" | tee "$TMP/compact.json"
"${PSQL[@]}" -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
BLOCK_ROWS=$("${PSQL[@]}" -c "SELECT coalesce(sum(rows), 0) + (SELECT count(*) FROM property_posts) FROM property_blocks")
((BLOCK_ROWS == ROWS)) || iot_die "compaction lost rows: $ROWS before, $BLOCK_ROWS after"
COMPACTED=$(size_of property_posts property_blocks)
ROLLUPS=$(size_of property_rollups property_rollups_daily rollup_pending)
RROWS=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM property_rollups) + (SELECT count(*) FROM property_rollups_daily)")
SERIES=$("${PSQL[@]}" -c "SELECT count(*) FROM (SELECT DISTINCT device_id, identifier FROM property_rollups) s")
python3 - "$VALUES" "$COMPACTED" "$LATEST" "$DEDUPE" "$ROLLUPS" "$RROWS" "$SERIES" "$DURATION_S" "$TMP/compact.json" <<'PY'
import json, sys
values, history, latest, dedupe, rollups, rrows, series, duration = map(float, sys.argv[1:9])
c = json.load(open(sys.argv[9]))
per = lambda b: b / values
values_a_day = values * 86400 / duration
rollups_a_day = rollups / max(rrows, 1) * 25 * series / values_a_day
day = per(history) + rollups_a_day + per(latest) * duration / 86400 + per(dedupe) * 1200 / 86400
print("[iot] compaction: %d rows, %d values into %d blocks (%.2f B/value of block data), %.1f s (%.0f values/s), "
      "%.1f s CPU in the client" % (c["rows"], c["values"], c["blocks"], c["blockBytes"] / max(c["values"], 1),
      c["compactionSeconds"], c["values"] / max(c["compactionSeconds"], 1e-9), c["compactionCpuSeconds"]))
print("label       history_B/v  latest_B/v  dedupe_B/v  rollups_B/v  a_day_B/v   (rollup row %.0f B, %d series)"
      % (rollups / max(rrows, 1), series))
print("compacted   %11.2f %11.3f %11.2f %12.2f %10.2f"
      % (per(history), per(latest) * duration / 86400, per(dedupe) * 1200 / 86400, rollups_a_day, day))
PY
iot_say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
