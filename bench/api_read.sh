#!/usr/bin/env bash
# REST read benchmark of iot-api (issue 3). A benchmark, never a test.
#
# Starts a private PostgreSQL (durability settings on) and iot-api on free ports, creates a product with
# a published thing model and devices through the REST API with the admin token, loads >= 1,000,000
# property values with SQL (one sample a minute per device and property over several days, into daily
# partitions of property_posts, one row per device and minute holding both values) plus each device's
# latest values, then runs wrk at fixed request rates:
#   1. latest properties   GET /api/v1/products/{pk}/devices/{dn}/properties        (1,000 req/s)
#   2. history page        GET .../properties/{id}/history?limit=1000&from=..&to=..   (100 req/s)
#   3. fleet-wide latest   GET /api/v1/products/{pk}/properties/{id}/latest?limit=10000 over a second
#      product of IOT_READ_FLEET_DEVICES devices, each with its latest values (10 req/s)
#   4. aggregates          GET .../properties/{id}/aggregate: hourly over 30 days and daily over a year,
#      over a third product of IOT_READ_AGG_DEVICES devices with a year of one sample every 5 minutes
#      (20 req/s each): first from raw rows (iot-api starts with its rollups off), then iot-api is
#      restarted with them on, the script waits until the year is rolled up (and reports how long that
#      took) and runs the two again
#   5. with IOT_READ_COMPACT=1: the closed days compacted (iot-compact-bench), the history page again on
#      compacted, spanning and hot windows
# Each phase: a short warm-up, then the measured run. Prints requests/s and p50/p90/p99 latency (wrk's
# --latency report and one RESULT line per phase); tears everything down on exit.
#
#   bench/api_read.sh
#   IOT_READ_DEVICES=50 IOT_READ_DURATION_S=10 bench/api_read.sh
#   IOT_READ_DEVICES=1000 IOT_READ_DAYS=50 bench/api_read.sh   # 144 million values (~14 GB, ~15 min to load)
#   IOT_READ_INGEST_RATE=2000 ...   # every phase measured while the gateway ingests 2,000 posts/s (issue 24):
#                                   # Mosquitto with the plugin, iot-gateway and iot-loadgen (bench/lib/ingest.sh)
#
# Settings (environment): IOT_BUILD_DIR (./build-release), IOT_READ_DEVICES (100), IOT_READ_DAYS (4: days
# of history, one sample a minute for each of 2 properties: 100 devices x 2 x 5,760 = 1,152,000 values),
# IOT_READ_LATEST_RPS (1000), IOT_READ_HISTORY_RPS (100), IOT_READ_DURATION_S (30), IOT_READ_WARMUP_S (5),
# IOT_WRK_THREADS (2), IOT_READ_LATEST_CONNS (50), IOT_READ_HISTORY_CONNS (20), IOT_READ_FLEET_DEVICES
# (10000; 0 skips phase 3), IOT_READ_FLEET_RPS (10), IOT_READ_AGG_DEVICES (20; 0 skips phase 4),
# IOT_READ_AGG_DAYS (366), IOT_READ_AGG_STEP_S (300), IOT_READ_AGG_RPS (20); iot-api's own settings
# (IOT_HTTP_THREADS, IOT_PG_POOL_THREADS, ...) pass through. IOT_KEEP_TMP=1 keeps the data directory and logs.
# IOT_READ_INGEST_RATE (0: none; posts/s of 5 values during each phase, warm-up included),
# IOT_READ_INGEST_DEVICES (1000), IOT_READ_COMPACT (0; 1: after phase 4, compacts the closed days and measures
# the history page on compacted days, across the last one and today's rows, and on today's rows; needs phase 4).
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"
# shellcheck source=lib/ingest.sh
source "$IOT_ROOT/bench/lib/ingest.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}
DEVICES=${IOT_READ_DEVICES:-100}
DAYS=${IOT_READ_DAYS:-4}
LATEST_RPS=${IOT_READ_LATEST_RPS:-1000}
HISTORY_RPS=${IOT_READ_HISTORY_RPS:-100}
DURATION_S=${IOT_READ_DURATION_S:-30}
WARMUP_S=${IOT_READ_WARMUP_S:-5}
WRK_THREADS=${IOT_WRK_THREADS:-2}
LATEST_CONNS=${IOT_READ_LATEST_CONNS:-50}
HISTORY_CONNS=${IOT_READ_HISTORY_CONNS:-20}
FLEET_DEVICES=${IOT_READ_FLEET_DEVICES:-10000}
FLEET_RPS=${IOT_READ_FLEET_RPS:-10}
AGG_DEVICES=${IOT_READ_AGG_DEVICES:-20}
AGG_DAYS=${IOT_READ_AGG_DAYS:-366}
AGG_STEP_MS=$((${IOT_READ_AGG_STEP_S:-300} * 1000))
AGG_RPS=${IOT_READ_AGG_RPS:-20}
INGEST_RATE=${IOT_READ_INGEST_RATE:-0}
INGEST_DEVICES=${IOT_READ_INGEST_DEVICES:-1000}
COMPACT=${IOT_READ_COMPACT:-0}
FLEET_PK=bench3fleet
AGG_PK=bench3agg
PK=bench3read
PREFIX=rd-
IDS=temperature,humidity
STEP_MS=60000

command -v wrk >/dev/null || iot_die "wrk is not installed (Debian package wrk)"

# --- build only what the benchmark runs (Release), when missing ------------------------------------
API=$BUILD_DIR/services/api/iot-api
MIGRATE=$BUILD_DIR/services/migrate/iot-migrate
if [[ ! -x $API || ! -x $MIGRATE ]]; then
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    mkdir -p "$BUILD_DIR"
    cmake -S "$IOT_ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >"$BUILD_DIR/configure.log" 2>&1 ||
      { cat "$BUILD_DIR/configure.log" >&2; iot_die "cmake configure failed"; }
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target iot-api iot-migrate >/dev/null || iot_die "build failed"
fi
if [[ ${IOT_READ_COMPACT:-0} == 1 && ! -x $BUILD_DIR/bench/compact/iot-compact-bench ]]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target iot-compact-bench >/dev/null || iot_die "build failed"
fi
[[ $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt") == Release ]] ||
  iot_say "warning: $BUILD_DIR is not a Release build"

# --- private servers, torn down on exit --------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-read.XXXXXX")
chmod 755 "$TMP"
API_PID=
cleanup() {
  local rc=$?
  ingest_teardown
  if [[ -n $API_PID ]] && kill -0 "$API_PID" 2>/dev/null; then
    kill -TERM "$API_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$API_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$API_PID" 2>/dev/null || true
  fi
  iot_pg_stop "$TMP/pg" || true
  if [[ ${IOT_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then
    iot_say "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_PORT=$(iot_free_port)
iot_pg_init "$TMP/pg" 1
iot_pg_start "$TMP/pg" "$PG_PORT" "$TMP/pg.log"
iot_pg_setup_platform "$TMP/pg" "$PG_PORT" iot  # the platform's roles (README "Security")
DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_migrator iot)
API_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_api iot)
export PGOPTIONS="-c client_min_messages=warning"
PSQL=(iot_pg_psql "$TMP/pg" "$PG_PORT" iot)

TOKEN=$(openssl rand -hex 24)
API_PORT=$(iot_free_port)
BASE=http://127.0.0.1:$API_PORT
start_api() {  # start_api ROLLUP_INTERVAL_S: iot-api on API_PORT, waits for /healthz
  IOT_PG_DSN=$API_DSN IOT_HTTP_PORT=$API_PORT IOT_HTTP_BIND=127.0.0.1 IOT_ADMIN_TOKEN=$TOKEN IOT_LOG_LEVEL=warn \
    IOT_ROLLUP_INTERVAL_S=$1 IOT_COMPACTION_INTERVAL_S=0 IOT_OPENAPI_PATH=$IOT_ROOT/schemas/api/openapi.json "$API" >>"$TMP/api.log" 2>&1 &
  API_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    curl -sf "$BASE/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$API_PID" 2>/dev/null || { cat "$TMP/api.log" >&2; iot_die "iot-api exited"; }
    sleep 0.1
  done
  iot_die "iot-api does not answer /healthz (log: $TMP/api.log)"
}
start_api 0  # rollups off until phase 4 has measured the reads from raw rows

api() { iot_rest "$BASE" "$TOKEN" "$@"; }  # api METHOD PATH [JSON]: prints the body, dies on a non-2xx answer

# --- product, thing model, devices through the REST API ----------------------------------------------
api POST /products "{\"productKey\":\"$PK\",\"name\":\"REST read benchmark\",\"validation\":\"weak\",\"retentionDays\":400}" >/dev/null
api PUT "/products/$PK/thing-model" '{"schema":"https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json",
  "profile":{"version":"1.0"},
  "properties":[
    {"identifier":"temperature","name":"Temperature","accessMode":"r","required":false,
     "dataType":{"type":"float","specs":{"min":"-40","max":"125","step":"0.01","unit":"°C","unitName":"degree Celsius"}}},
    {"identifier":"humidity","name":"Humidity","accessMode":"r","required":false,
     "dataType":{"type":"int","specs":{"min":"0","max":"100","step":"1","unit":"%","unitName":"percent"}}}],
  "events":[],"services":[]}' >/dev/null
api POST "/products/$PK/thing-model/publish" >/dev/null
names=$(python3 -c 'import json,sys; print(json.dumps({"deviceNames": ["%s%05d" % (sys.argv[1], i) for i in range(1, int(sys.argv[2]) + 1)]}))' "$PREFIX" "$DEVICES")
api POST "/products/$PK/devices:batch" "$names" >/dev/null
[[ $("${PSQL[@]}" -c "SELECT count(*) FROM devices WHERE product_key = '$PK'") == "$DEVICES" ]] ||
  iot_die "devices were not all created"

# The fleet product: its devices through the REST API (batches of 1,000), each with latest values of both
# properties (as the gateway merges them into device_latest).
if ((FLEET_DEVICES > 0)); then
  api POST /products "{\"productKey\":\"$FLEET_PK\",\"name\":\"Fleet read benchmark\",\"validation\":\"weak\"}" >/dev/null
  for ((first = 1; first <= FLEET_DEVICES; first += 1000)); do
    names=$(python3 -c 'import json,sys; a,b=int(sys.argv[1]),int(sys.argv[2]); print(json.dumps({"deviceNames": ["fl-%05d" % i for i in range(a, min(a + 1000, b + 1))]}))' "$first" "$FLEET_DEVICES")
    api POST "/products/$FLEET_PK/devices:batch" "$names" >/dev/null
  done
  "${PSQL[@]}" -c "
INSERT INTO device_latest (device_id, props)
SELECT id, jsonb_build_object('temperature', jsonb_build_array(round((21 + 4 * sin(id))::numeric, 2), now_ms, now_ms),
                              'humidity', jsonb_build_array((50 + 30 * sin(id / 7.0))::int, now_ms, now_ms))
FROM devices, (SELECT (extract(epoch FROM now()) * 1000)::bigint AS now_ms) n WHERE product_key = '$FLEET_PK'"
  [[ $("${PSQL[@]}" -c "SELECT count(*) FROM devices d JOIN device_latest l ON l.device_id = d.id WHERE product_key = '$FLEET_PK'") == "$FLEET_DEVICES" ]] ||
    iot_die "fleet devices were not all created"
fi

# --- history rows with SQL ----------------------------------------------------------------------------
# iot-api's maintenance creates the daily partitions from yesterday to a week ahead when it starts; wait
# for today's, then create the older days of the span the same way (property_posts_pYYYYMMDD, UTC days).
for ((i = 0; i < 300; i++)); do
  [[ $("${PSQL[@]}" -c "SELECT to_regclass('property_posts_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')) IS NOT NULL") == t ]] && break
  sleep 0.1
done
((i < 300)) || iot_die "iot-api's maintenance did not create today's partitions (log: $TMP/api.log)"
day_partitions() {  # day_partitions N: property_posts_pYYYYMMDD and property_blocks_pYYYYMMDD for the last N + 1 UTC days (the SQL of it)
  printf '%s' "
DO \$\$
DECLARE d date; t text;
BEGIN
  FOR d IN SELECT generate_series((now() AT TIME ZONE 'UTC')::date - ($1 + 1), (now() AT TIME ZONE 'UTC')::date, '1 day')::date LOOP
    FOR t IN SELECT unnest(ARRAY['property_posts', 'property_blocks']) LOOP
      CONTINUE WHEN to_regclass(t || '_p' || to_char(d, 'YYYYMMDD')) IS NOT NULL;
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                     t || '_p' || to_char(d, 'YYYYMMDD'), t, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
      EXECUTE format('ALTER TABLE %I OWNER TO iot_api', t || '_p' || to_char(d, 'YYYYMMDD'));  -- as iot-api makes them
    END LOOP;
  END LOOP;
END \$\$;"
}
"${PSQL[@]}" -c "$(day_partitions "$DAYS")"

# One sample a minute per device and property, from FIRST_MS to LAST_MS, inserted in time order (as a
# fleet would deliver them: one series' points are spread over the heap, not clustered).
POINTS=$((DAYS * 1440))
LAST_MS=$(( ($(date +%s) / 60 - 1) * 60000 ))
FIRST_MS=$(( LAST_MS - (POINTS - 1) * STEP_MS ))
t0=$(date +%s.%N)
# A day of samples per statement (a bounded sort, and a bounded transition table for the rollups' trigger).
for ((chunk = 0; chunk < POINTS; chunk += 1440)); do
  "${PSQL[@]}" -c "
INSERT INTO property_posts (device_id, ts, received_at, props)
SELECT d.id, iot_ts($FIRST_MS + i::bigint * $STEP_MS), iot_ts($FIRST_MS + i::bigint * $STEP_MS + 150),
       jsonb_build_object('temperature', round((21 + 4 * sin(i / 90.0 + d.id))::numeric, 2),
                          'humidity', (50 + 30 * sin(i / 240.0 + d.id))::int)
FROM generate_series($chunk, least($chunk + 1439, $POINTS - 1)) AS i
CROSS JOIN (SELECT id FROM devices WHERE product_key = '$PK') AS d
ORDER BY i, d.id"
done
"${PSQL[@]}" -c "
INSERT INTO device_latest (device_id, props)
SELECT h.device_id, (SELECT jsonb_object_agg(v.key, jsonb_build_array(v.value, iot_ms(h.ts), iot_ms(h.received_at)))
                     FROM jsonb_each(h.props) AS v(key, value))
FROM property_posts h WHERE h.ts = iot_ts($LAST_MS);"
t1=$(date +%s.%N)
"${PSQL[@]}" -c "VACUUM (ANALYZE) property_posts" -c "VACUUM (ANALYZE) device_latest" -c "CHECKPOINT"
t2=$(date +%s.%N)
ROWS=$(( $("${PSQL[@]}" -c "SELECT count(*) FROM property_posts") * 2 ))  # two values a row
PARTS=$("${PSQL[@]}" -c "SELECT string_agg(c.relname || '=' || c.reltuples::bigint, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'property_posts'::regclass AND c.reltuples > 0")
LATEST=$("${PSQL[@]}" -c "SELECT count(*) FROM latest_values")
SIZE=$("${PSQL[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'property_posts'::regclass")
iot_say "loaded $ROWS history values ($SIZE with indexes) and $LATEST latest values: insert $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t0" "$t1") s, vacuum+checkpoint $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t1" "$t2") s"
iot_say "partitions with rows: $PARTS"
((ROWS >= 1000000)) || iot_say "warning: fewer than 1,000,000 history values"

# A year of one property for the aggregate product's devices, one sample every AGG_STEP_MS, into daily
# partitions (the product keeps its history 400 days, so iot-api's retention keeps them).
if ((AGG_DEVICES > 0)); then
  api POST /products "{\"productKey\":\"$AGG_PK\",\"name\":\"Aggregate benchmark\",\"validation\":\"weak\",\"retentionDays\":400}" >/dev/null
  names=$(python3 -c 'import json,sys; print(json.dumps({"deviceNames": ["ag-%05d" % i for i in range(1, int(sys.argv[1]) + 1)]}))' "$AGG_DEVICES")
  api POST "/products/$AGG_PK/devices:batch" "$names" >/dev/null
  AGG_POINTS=$((AGG_DAYS * 86400000 / AGG_STEP_MS))
  AGG_FIRST_MS=$(( LAST_MS - (AGG_POINTS - 1) * AGG_STEP_MS ))
  t0=$(date +%s.%N)
  "${PSQL[@]}" -c "$(day_partitions "$AGG_DAYS")" -c "
INSERT INTO property_posts (device_id, ts, received_at, props)
SELECT d.id, iot_ts($AGG_FIRST_MS + i::bigint * $AGG_STEP_MS), iot_ts($AGG_FIRST_MS + i::bigint * $AGG_STEP_MS + 150),
       jsonb_build_object('temperature', round((21 + 4 * sin(i / 90.0 + d.id) + 8 * sin(i / 50000.0))::numeric, 2))
FROM generate_series(0, $AGG_POINTS - 1) AS i
CROSS JOIN (SELECT id FROM devices WHERE product_key = '$AGG_PK') AS d
ORDER BY i, d.id" -c "VACUUM (ANALYZE) property_posts"
  t1=$(date +%s.%N)
  iot_say "aggregate product: $AGG_DEVICES devices x $AGG_POINTS samples ($AGG_DAYS days) loaded in $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t0" "$t1") s"
fi

# --- sanity: one request of each kind answers what the benchmark claims -------------------------------
n=$(api GET "/products/$PK/devices/${PREFIX}00001/properties" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
[[ $n == 2 ]] || iot_die "latest properties: $n items, expected 2"
FROM_MS=$((FIRST_MS + 1440 * STEP_MS))
n=$(api GET "/products/$PK/devices/${PREFIX}00001/properties/temperature/history?limit=1000&from=$FROM_MS&to=$((FROM_MS + 1000 * STEP_MS))" |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
[[ $n == 1000 ]] || iot_die "history page: $n items, expected 1000"
BYTES=$(curl -sS -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $TOKEN" \
  "$BASE/api/v1/products/$PK/devices/${PREFIX}00001/properties/temperature/history?limit=1000&from=$FROM_MS&to=$((FROM_MS + 1000 * STEP_MS))")
iot_say "a 1,000-point history page is $BYTES bytes"
if ((FLEET_DEVICES > 0)); then
  n=$(api GET "/products/$FLEET_PK/properties/temperature/latest?limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  ((n == (FLEET_DEVICES < 10000 ? FLEET_DEVICES : 10000))) || iot_die "fleet-wide latest: $n items, expected $FLEET_DEVICES"
  BYTES=$(curl -sS -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/products/$FLEET_PK/properties/temperature/latest?limit=10000")
  iot_say "a fleet-wide latest answer ($n devices) is $BYTES bytes"
fi

# --- wrk ----------------------------------------------------------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() {  # all PostgreSQL processes of the private cluster
  local pm s=0 p
  pm=$(head -1 "$TMP/pg/postmaster.pid")
  for p in $pm $(pgrep -P "$pm"); do s=$((s + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done
  echo "$s"
}
CLK_TCK=$(getconf CLK_TCK)

iot_say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
iot_say "iot-api: IOT_HTTP_THREADS=${IOT_HTTP_THREADS:-default} IOT_PG_POOL_THREADS=${IOT_PG_POOL_THREADS:-default}; wrk $WRK_THREADS threads"

if ((INGEST_RATE > 0)); then
  ingest_setup "$TMP/ingest" "$TMP/pg" "$PG_PORT" "$BASE" "$TOKEN" "$BUILD_DIR" "$INGEST_DEVICES"
  iot_say "ingest beside the reads: $INGEST_RATE posts/s from $INGEST_DEVICES devices during every phase"
fi

run_wrk() {  # run_wrk NAME SCRIPT RATE CONNS ARGS...
  local name=$1 script=$2 rate=$3 conns=$4; shift 4
  if ((INGEST_RATE > 0)); then ingest_start "$name" "$INGEST_RATE" $((WARMUP_S + DURATION_S + 2)); fi
  IOT_WRK_NAME=$name IOT_WRK_TARGET_RPS=$rate wrk -t"$WRK_THREADS" -c"$conns" -d"${WARMUP_S}s" -H "Authorization: Bearer $TOKEN" \
    -s "$IOT_ROOT/bench/wrk/$script" "$BASE" -- "$rate" "$WRK_THREADS" "$@" >"$TMP/$name.warmup.txt" 2>&1 ||
    { cat "$TMP/$name.warmup.txt" >&2; iot_die "wrk warm-up failed"; }
  local a0 p0 a1 p1
  a0=$(cpu_ticks "$API_PID"); p0=$(pg_ticks)
  IOT_WRK_NAME=$name IOT_WRK_TARGET_RPS=$rate wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION_S}s" --latency --timeout 5s \
    -H "Authorization: Bearer $TOKEN" -s "$IOT_ROOT/bench/wrk/$script" "$BASE" -- "$rate" "$WRK_THREADS" "$@" \
    >"$TMP/$name.txt" 2>&1 || { cat "$TMP/$name.txt" >&2; iot_die "wrk failed"; }
  a1=$(cpu_ticks "$API_PID"); p1=$(pg_ticks)
  echo "--- $name: target $rate req/s, $conns connections, ${DURATION_S}s"
  cat "$TMP/$name.txt"
  echo "CPU $name: iot-api $(python3 -c "import sys; print(round((int(sys.argv[1]) / int(sys.argv[3])) / float(sys.argv[2]) * 100))" "$((a1 - a0))" "$DURATION_S" "$CLK_TCK")% of one core, PostgreSQL $(python3 -c "import sys; print(round((int(sys.argv[1]) / int(sys.argv[3])) / float(sys.argv[2]) * 100))" "$((p1 - p0))" "$DURATION_S" "$CLK_TCK")% of one core"
  if ((INGEST_RATE > 0)); then ingest_wait; fi
}

run_wrk latest latest_properties.lua "$LATEST_RPS" "$LATEST_CONNS" "$PK" "$PREFIX" "$DEVICES"
run_wrk history history_page.lua "$HISTORY_RPS" "$HISTORY_CONNS" "$PK" "$PREFIX" "$DEVICES" "$IDS" \
  "$FIRST_MS" "$LAST_MS" "$STEP_MS"
if ((FLEET_DEVICES > 0)); then
  run_wrk fleet fleet_latest.lua "$FLEET_RPS" 4 "$FLEET_PK" temperature 10000
fi
if ((AGG_DEVICES > 0)); then
  NOW_MS=$(( $(date +%s) * 1000 ))
  agg_phases() {  # agg_phases LABEL
    run_wrk "aggregate_1h_30d_$1" aggregate.lua "$AGG_RPS" 4 "$AGG_PK" ag- "$AGG_DEVICES" \
      temperature 1h $((30 * 86400000)) "$NOW_MS"
    run_wrk "aggregate_1d_year_$1" aggregate.lua "$AGG_RPS" 4 "$AGG_PK" ag- "$AGG_DEVICES" \
      temperature 1d $((365 * 86400000)) "$NOW_MS"
  }
  q="/products/$AGG_PK/devices/ag-00001/properties/temperature/aggregate?interval=1d&from=$((NOW_MS - 365 * 86400000))&to=$NOW_MS"
  RAW_ANSWER=$(api GET "$q")
  agg_phases raw
  # Rollups on: iot-api rolls the stored year (backfill) and keeps up from then on.
  kill -TERM "$API_PID"; wait "$API_PID" 2>/dev/null || true
  t0=$(date +%s.%N)
  start_api 1
  # The backfill rolls ~140,000 values a second on the 2-core machine: 146 million take ~18 minutes.
  for ((i = 0; i < 7200; i++)); do
    [[ $("${PSQL[@]}" -c "SELECT rolled_until = closed_until AND closed_until >= now() - interval '62 minutes' FROM rollup_state") == t ]] && break
    sleep 0.5
  done
  ((i < 7200)) || iot_die "the rollups did not catch up in an hour (log: $TMP/api.log)"
  t1=$(date +%s.%N)
  iot_say "rollups: the stored history rolled up in $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t0" "$t1") s ($("${PSQL[@]}" -c "SELECT count(*) FROM property_rollups") hourly and $("${PSQL[@]}" -c "SELECT count(*) FROM property_rollups_daily") daily rows, $("${PSQL[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent IN ('property_rollups'::regclass, 'property_rollups_daily'::regclass)") with indexes)"
  # Same answer from the rollups (avg within float rounding).
  python3 - "$RAW_ANSWER" "$(api GET "$q")" <<'PY' || iot_die "the aggregate answered differently from the rollups"
import json, sys
a, b = (json.loads(x)["items"] for x in sys.argv[1:3])
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
for x, y in zip(a, b):
    for k in ("time", "count", "min", "max", "first", "last"):
        assert x[k] == y[k], (k, x, y)
    assert abs(x["avg"] - y["avg"]) <= 1e-9 * max(1.0, abs(x["avg"])), (x, y)
print("aggregate check: %d daily buckets, the same from raw rows and from rollups" % len(a))
PY
  agg_phases rollups
fi

# --- compacted history (issue 24, step 4) -------------------------------------------------------------
# With the rollups current, iot-compact-bench compacts every closed day as iot-api's compaction would (all
# days but today's; `--days 0`: the real clock); then the 1,000-point history page again, on windows wholly
# in compacted days, windows spanning the last compacted day and today's rows, and windows in today's rows
# (when today already holds 1,000 samples of a series).
if ((COMPACT)); then
  t0=$(date +%s.%N)
  "$BUILD_DIR/bench/compact/iot-compact-bench" --dsn "$API_DSN" --days 0 >"$TMP/compact.json" ||
    iot_die "iot-compact-bench failed"
  t1=$(date +%s.%N)
  "${PSQL[@]}" -c "VACUUM (ANALYZE) property_posts" -c "VACUUM (ANALYZE) property_blocks" -c "CHECKPOINT"
  iot_say "compaction: $(cat "$TMP/compact.json") in $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t0" "$t1") s"
  iot_say "history now: $("${PSQL[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'property_posts'::regclass") of rows, $("${PSQL[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'property_blocks'::regclass") of blocks ($("${PSQL[@]}" -c "SELECT count(*) FROM property_blocks") blocks)"
  TODAY_MS=$(( $(date -u +%s) / 86400 * 86400000 ))
  SPAN_MS=$((1000 * STEP_MS))
  run_wrk history_compacted history_page.lua "$HISTORY_RPS" "$HISTORY_CONNS" "$PK" "$PREFIX" "$DEVICES" "$IDS" \
    "$FIRST_MS" $((TODAY_MS - 2 * STEP_MS)) "$STEP_MS"
  if ((LAST_MS - TODAY_MS >= SPAN_MS)); then
    run_wrk history_spanning history_page.lua "$HISTORY_RPS" "$HISTORY_CONNS" "$PK" "$PREFIX" "$DEVICES" "$IDS" \
      $((TODAY_MS - SPAN_MS + STEP_MS)) $((TODAY_MS + SPAN_MS - STEP_MS)) "$STEP_MS"
    run_wrk history_hot history_page.lua "$HISTORY_RPS" "$HISTORY_CONNS" "$PK" "$PREFIX" "$DEVICES" "$IDS" \
      "$TODAY_MS" "$LAST_MS" "$STEP_MS"
  else
    iot_say "today holds fewer than 1,000 samples a series: no spanning or hot-only history phase"
  fi
fi
iot_say "rows: $ROWS history rows over $DAYS days, $DEVICES devices x 2 properties; load average $(cut -d' ' -f1-3 /proc/loadavg)"
