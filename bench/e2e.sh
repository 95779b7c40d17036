#!/usr/bin/env bash
# End-to-end ingest benchmark (issue 7). A benchmark, never a test.
#
# Starts the whole platform on free ports: PostgreSQL (durability settings on: fsync, synchronous_commit),
# iot-migrate, iot-api, Mosquitto with the project's plugin, iot-gateway. Registers the devices through the
# REST API (product, thing model matching the generated posts, published; devices:batch), then drives
# signed devices with iot-loadgen (bench/loadgen: a minimal MQTT client on Asio, one thread) posting
# 5-property Alink messages at QoS 1, each answered by the platform after its commit:
#
#   0. broker alone (the ceiling): the same generator against `iot-loadgen echo`, one plain MQTT client
#      with the gateway's account subscribed at QoS 1 to every property post, answering each at QoS 0
#      (what the gateway does, minus decode, validation and storage); rates stepped up as in 3.
#      Runs before the gateway ever connects, so no gateway session queues these posts.
#   1. warm-up: 5 s at 1,000 posts/s (device and thing-model caches, first partitions touched).
#   2. latency: IOT_E2E_RATE posts/s (5,000) for IOT_E2E_DURATION_S (60): post->reply p50/p99.
#   3. step search: IOT_E2E_STEP_START, +IOT_E2E_STEP, ... for IOT_E2E_STEP_S each until a step is not
#      sustained; then the highest sustained rate again for IOT_E2E_DURATION_S (the recorded figure).
#   4. optional: N WebSocket live-stream clients (IOT_E2E_STREAM_CLIENTS; `iot-loadgen stream`) subscribed
#      to the product, IOT_E2E_RATE again with them connected: CPU per post of each process against the
#      latency run (same rate, no client) and the run without iot-api (4b): the stream's cost; then,
#      clients still connected, rates from the highest sustained one down by IOT_E2E_STREAM_STEP until
#      one is sustained: the stream's cost in throughput.
#   4b. IOT_E2E_RATE again with iot-api stopped (IOT_E2E_NO_API_RUN=1): iot-api's stream listener makes
#      the gateway build and NOTIFY stream records for every batch whenever iot-api runs, clients or not.
#   4c. optional (IOT_E2E_DRY_RUN=1): thing-model dry runs of the draft over everything recorded so far,
#      started back to back (one at a time) during a run at IOT_E2E_RATE, bracketed by runs without: CPU
#      per post of each process and the achieved rate against its neighbours; the dry runs' read rate.
#   4d. optional (IOT_E2E_RAW=1): raw products (issue 21). A second product with dataFormat raw, the same
#      thing model and bench/raw_script.js as its parsing script, and as many devices posting the same five
#      values packed in 12 bytes (`iot-loadgen publish --raw`), answered in 7 bytes: Alink, raw, Alink
#      again at IOT_E2E_RAW_RATE for IOT_E2E_DURATION_S each (CPU per post of each process; the script's
#      cost is the raw run's against the mean of its Alink neighbours), then (with the step search) the
#      raw product's own step search, against the Alink one of 3.
#   4e. optional (IOT_E2E_FORWARD=1): forwarding (issue 26). One webhook rule taking every property post of
#      the product, delivered by the gateway's forwarder to bench/forward_sink.py: IOT_E2E_RATE without the
#      rule, with it, and with it disabled again (CPU per post of each process; the rule's cost is its run
#      against the mean of its neighbours), the rule's lag once the posts stop; then, rule enabled, rates
#      from the highest sustained one down by IOT_E2E_FORWARD_STEP until one is sustained (the issue's
#      bound: at most 15% below the highest sustained rate without it); then, rule disabled, rates from
#      there up until one is not sustained (the ceiling without the rule late in the run, on a bigger database).
#   5. 10,000 devices (IOT_E2E_BIG_DEVICES) at 1 post/s each for IOT_E2E_BIG_S, against a freshly started
#      gateway: its peak RSS.
#   6. exactly once: every post answered 200 (ids per device from the generator's JSON) has its dedupe
#      row, and each device's property_history holds 5 rows per stored message, no more.
#
# "Sustained" for a step: every device connected, achieved send rate >= 97% of the target, every post
# answered 200 by the end of a 10 s drain, and no growing queue: the posts outstanding (sent, not yet
# answered; sampled every second) at the end of the step, and their median over its second half, are at
# most max(200, 0.25 s x rate), i.e. the platform kept pace.
#
# CPU per post of each process from /proc/<pid>/stat (utime + stime) over the publish phase (posts sent
# until the last reply): broker, gateway, PostgreSQL (postmaster and every backend, reaped ones included),
# iot-api, and the generator itself (getrusage). Gateway RSS from /proc/<pid>/status (sampled every second).
#
#   bench/e2e.sh                                    # everything, ~12 minutes
#   IOT_E2E_DURATION_S=10 IOT_E2E_STEP_S=5 IOT_E2E_BIG_DEVICES=0 IOT_E2E_BROKER=0 bench/e2e.sh   # a quick try
#
# Settings (environment): IOT_BUILD_DIR (./build-release), IOT_E2E_DEVICES (1000), IOT_E2E_RATE (5000),
# IOT_E2E_DURATION_S (60), IOT_E2E_STEP_START (8000), IOT_E2E_STEP (2000), IOT_E2E_STEP_MAX (40000),
# IOT_E2E_STEP_S (20), IOT_E2E_BROKER (1: measure the broker alone), IOT_E2E_BIG_DEVICES (10000; 0 = skip),
# IOT_E2E_BIG_RATE (1 post/s per device), IOT_E2E_BIG_S (60), IOT_E2E_STREAM_CLIENTS (10; 0 = skip),
# IOT_E2E_STREAM_STEP (500; 0 = no throughput search with the clients), IOT_E2E_NO_API_RUN (1),
# IOT_E2E_THREADS (1 generator thread), IOT_E2E_STEP_SEARCH (1; 0 = no step search), IOT_E2E_DRY_RUN (0),
# IOT_E2E_RAW (0), IOT_E2E_RAW_RATE (IOT_E2E_RATE), IOT_E2E_FORWARD (0), IOT_E2E_FORWARD_STEP (500), IOT_PG_SHARED_BUFFERS (1GB), IOT_E2E_OUT (directory for the JSON of every run and
# summary.json; default: kept in the temporary directory, printed at the end), IOT_KEEP_TMP=1 keeps
# logs and data. The gateway's own settings (IOT_GATEWAY_WORKERS, IOT_GATEWAY_WRITERS, ...) pass through.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}
DEVICES=${IOT_E2E_DEVICES:-1000}
RATE=${IOT_E2E_RATE:-5000}
DURATION_S=${IOT_E2E_DURATION_S:-60}
STEP_START=${IOT_E2E_STEP_START:-8000}
STEP=${IOT_E2E_STEP:-2000}
STEP_MAX=${IOT_E2E_STEP_MAX:-40000}
STEP_S=${IOT_E2E_STEP_S:-20}
BROKER=${IOT_E2E_BROKER:-1}
BIG_DEVICES=${IOT_E2E_BIG_DEVICES:-10000}
BIG_RATE=${IOT_E2E_BIG_RATE:-1}
BIG_S=${IOT_E2E_BIG_S:-60}
STREAM_CLIENTS=${IOT_E2E_STREAM_CLIENTS:-10}
STREAM_STEP=${IOT_E2E_STREAM_STEP:-500}
NO_API_RUN=${IOT_E2E_NO_API_RUN:-1}
THREADS=${IOT_E2E_THREADS:-1}
STEP_SEARCH=${IOT_E2E_STEP_SEARCH:-1}
DRY_RUN=${IOT_E2E_DRY_RUN:-0}
RAW=${IOT_E2E_RAW:-0}
RAW_RATE=${IOT_E2E_RAW_RATE:-$RATE}
FORWARD=${IOT_E2E_FORWARD:-0}
FORWARD_STEP=${IOT_E2E_FORWARD_STEP:-500}
PK=bench7e2e
RAW_PK=bench21raw

# --- build only what the benchmark runs (Release) ---------------------------------------------------
iot_configure_bench "$BUILD_DIR"
LOADGEN=$BUILD_DIR/bench/loadgen/iot-loadgen
MIGRATE=$BUILD_DIR/services/migrate/iot-migrate
PLUGIN=$BUILD_DIR/services/broker-plugin/iot_auth_plugin.so
GATEWAY=$BUILD_DIR/services/gateway/iot-gateway
API=$BUILD_DIR/services/api/iot-api
if ! cmake --build "$BUILD_DIR" -j"$(nproc)" --target iot-loadgen iot-migrate iot_auth_plugin iot-gateway iot-api \
  >"$BUILD_DIR/e2e-build.log" 2>&1; then
  # A half-edited file elsewhere in a shared tree can break the (re)configure: run what was built.
  for b in "$LOADGEN" "$MIGRATE" "$PLUGIN" "$GATEWAY" "$API"; do
    [[ -f $b ]] || { tail -20 "$BUILD_DIR/e2e-build.log" >&2; iot_die "build failed"; }
  done
  iot_say "warning: the build failed (see $BUILD_DIR/e2e-build.log); running the binaries already built"
fi
[[ $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt") == Release ]] ||
  iot_say "warning: $BUILD_DIR is not a Release build"

# --- file descriptors: up to 10,000 connections on each side of loopback ----------------------------
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > BIG_DEVICES + DEVICES + 200 )) ||
  iot_die "file descriptor limit $(ulimit -n) is too low for $BIG_DEVICES devices; raise the hard limit (ulimit -Hn)"

# --- private servers, torn down on exit --------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-e2e.XXXXXX")
chmod 755 "$TMP"
OUT=${IOT_E2E_OUT:-$TMP/out}
mkdir -p "$OUT"
API_PID= GW_PID= ECHO_PID= SAMPLER_PID= STREAM_PID= DRY_PID= SINK_PID=
stop_pid() {  # stop_pid PID: SIGTERM, wait up to 15 s, then SIGKILL
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop_pid "$SAMPLER_PID"
  stop_pid "$DRY_PID"
  stop_pid "$STREAM_PID"
  stop_pid "$SINK_PID"
  stop_pid "$ECHO_PID"
  stop_pid "$GW_PID"
  stop_pid "$API_PID"
  iot_mosquitto_stop "$TMP/mqtt" || true
  iot_pg_stop "$TMP/pg" || true
  if [[ ${IOT_KEEP_TMP:-0} == 1 || $rc -ne 0 || -z ${IOT_E2E_OUT:-} ]]; then
    iot_say "logs and results kept in $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r)"
iot_say "machine: $MACHINE; load average $(load)"

PG_PORT=$(iot_free_port)
# 1 GB: the history and dedupe indexes this benchmark writes (~20 million rows) outgrow the 256 MB default,
# and PostgreSQL's cost per post then creeps up during a run (docs/BENCHMARKS.md).
export IOT_PG_SHARED_BUFFERS=${IOT_PG_SHARED_BUFFERS:-1GB}
iot_pg_init "$TMP/pg" 1
iot_pg_start "$TMP/pg" "$PG_PORT" "$TMP/pg.log"
iot_pg_setup_platform "$TMP/pg" "$PG_PORT" iot  # the platform's roles (README "Security")
DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_migrator iot)
API_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_api iot)
GW_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_gateway iot)
BROKER_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_broker iot)
export PGOPTIONS="-c client_min_messages=warning"
PSQL=(iot_pg_psql "$TMP/pg" "$PG_PORT" iot)
PG_PID=$(head -1 "$TMP/pg/postmaster.pid")
[[ $("${PSQL[@]}" -c "SHOW fsync")/$("${PSQL[@]}" -c "SHOW synchronous_commit") == on/on ]] ||
  iot_die "PostgreSQL is not durable (fsync/synchronous_commit)"
"$MIGRATE" "$DSN" 2>"$TMP/migrate.log" || { cat "$TMP/migrate.log" >&2; iot_die "iot-migrate failed"; }

GW_SECRET=$(openssl rand -hex 24)
API_SECRET=$(openssl rand -hex 24)
TOKEN=$(openssl rand -hex 24)
MQTT_PORT=$(iot_free_port)
API_PORT=$(iot_free_port)
METRICS_PORT=$(iot_free_port)

# iot-api: registration through REST; maintenance only at start (partitions), so that no dedupe row is
# pruned before the exactly-once check.
BASE=http://127.0.0.1:$API_PORT
start_api() {
  IOT_PG_DSN=$API_DSN IOT_HTTP_PORT=$API_PORT IOT_HTTP_BIND=127.0.0.1 IOT_ADMIN_TOKEN=$TOKEN IOT_LOG_LEVEL=warn \
    IOT_MAINTENANCE_INTERVAL_S=86400 IOT_OPENAPI_PATH=$IOT_ROOT/schemas/api/openapi.json \
    IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-api IOT_MQTT_PASSWORD=$API_SECRET \
    "$API" >>"$TMP/api.log" 2>&1 &
  API_PID=$!
  for ((i = 0; i < 300; i++)); do
    curl -sf "$BASE/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$API_PID" 2>/dev/null || { cat "$TMP/api.log" >&2; iot_die "iot-api exited"; }
    sleep 0.1
  done
  iot_die "iot-api does not answer /healthz (log: $TMP/api.log)"
}
start_api

api() { iot_rest "$BASE" "$TOKEN" "$@"; }  # api METHOD PATH [JSON|@file]: prints the body

# --- product, thing model, devices through the REST API ----------------------------------------------
TOTAL_DEVICES=$((DEVICES > BIG_DEVICES ? DEVICES : BIG_DEVICES))
t=$(date +%s.%N)
# create_product PK DATA_FORMAT: the product with loadgen's thing model, published.
create_product() {
  api POST /products "{\"productKey\":\"$1\",\"name\":\"end-to-end benchmark\",\"validation\":\"weak\",\"dataFormat\":\"$2\"}" >/dev/null
  "$LOADGEN" tsl --product-key "$1" >"$TMP/tsl.json"
  api PUT "/products/$1/thing-model" "@$TMP/tsl.json" >/dev/null
  api POST "/products/$1/thing-model/publish" '{}' >/dev/null
}
# register_devices PK PREFIX COUNT CSV: PREFIX000001 ... through devices:batch; pk,dn,secret lines in CSV.
register_devices() {
  local pk=$1 prefix=$2 count=$3 csv=$4 first n
  echo "pk,dn,secret" >"$csv"
  for ((first = 1; first <= count; first += 1000)); do
    n=$((count - first + 1 < 1000 ? count - first + 1 : 1000))
    python3 -c 'import json,sys; p,f,n=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]); print(json.dumps({"deviceNames": [p + "%06d" % i for i in range(f, f + n)]}))' \
      "$prefix" "$first" "$n" >"$TMP/batch.json"
    api POST "/products/$pk/devices:batch" "@$TMP/batch.json" |
      python3 -c 'import json,sys; [print("%s,%s,%s" % (d["productKey"], d["deviceName"], d["deviceSecret"])) for d in json.load(sys.stdin)["items"]]' \
        >>"$csv"
  done
  (($(wc -l <"$csv") == count + 1)) || iot_die "devices of $pk were not all created"
}
create_product "$PK" alink
register_devices "$PK" e2e "$TOTAL_DEVICES" "$TMP/all.csv"
if [[ $RAW == 1 ]]; then
  create_product "$RAW_PK" raw
  python3 -c 'import json,sys; print(json.dumps({"script": open(sys.argv[1]).read()}))' "$IOT_ROOT/bench/raw_script.js" \
    >"$TMP/script.json"
  api PUT "/products/$RAW_PK/script" "@$TMP/script.json" >/dev/null
  register_devices "$RAW_PK" raw "$DEVICES" "$TMP/raw.csv"
fi
head -$((DEVICES + 1)) "$TMP/all.csv" >"$TMP/devices.csv"
iot_say "registered $TOTAL_DEVICES devices through the REST API in $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t" "$(date +%s.%N)") s"

# --- Mosquitto with the plugin (it loads the devices when it starts) --------------------------------
# memory_limit 0 (none): with platform.sh's default of 4 GiB, Mosquitto 2.0.11 refused every new connection
# (accept, then close) after the first 1,000 devices had posted and disconnected, with 20 MB resident: its
# memory tracking counter underflows (eclipse-mosquitto/mosquitto#1437), so the limit is always "exceeded".
IOT_MQTT_MEMORY_LIMIT=${IOT_MQTT_MEMORY_LIMIT:-0} iot_mosquitto_conf "$TMP/mqtt" 127.0.0.1 "$MQTT_PORT"
echo "max_connections -1" >>"$TMP/mqtt/mosquitto.conf"
iot_mosquitto_plugin_conf "$TMP/mqtt" "$PLUGIN" "$BROKER_DSN" "$GW_SECRET" "$API_SECRET" false
iot_mosquitto_start "$TMP/mqtt" "$MQTT_PORT" "$TMP/mosquitto.log"
BROKER_PID=$(cat "$TMP/mqtt/mosquitto.run.pid")
[[ $(awk '/Max open files/ {print $4}' "/proc/$BROKER_PID/limits") -gt $TOTAL_DEVICES ]] ||
  iot_die "Mosquitto's open-file limit is below $TOTAL_DEVICES"
tail -1 "$TMP/all.csv" >"$TMP/probe.csv"
for ((i = 0; i < 100; i++)); do
  "$LOADGEN" connect-storm --port "$MQTT_PORT" --devices-csv "$TMP/probe.csv" --connect-timeout 2 >/dev/null 2>&1 && break
  sleep 0.1
done
((i < 100)) || iot_die "the plugin does not accept the registered devices (log: $TMP/mosquitto.log)"

# --- helpers -----------------------------------------------------------------------------------------
NEXT_ID=1  # every run gets its own id range (the dedupe would otherwise answer reused ids as duplicates)
RUN_NO=0
CLK_TCK=$(getconf CLK_TCK)

start_gateway() {
  IOT_PG_DSN=$GW_DSN IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-gateway \
    IOT_MQTT_PASSWORD=$GW_SECRET IOT_GATEWAY_METRICS_PORT=$METRICS_PORT IOT_GATEWAY_CLIENT_ID=iot-gateway-e2e \
    IOT_LOG_LEVEL=${IOT_LOG_LEVEL:-info} "$GATEWAY" >>"$TMP/gateway.log" 2>&1 &
  GW_PID=$!
  for ((i = 0; i < 300; i++)); do
    curl -sf "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$GW_PID" 2>/dev/null || { tail -20 "$TMP/gateway.log" >&2; iot_die "iot-gateway exited"; }
    sleep 0.1
  done
  iot_die "iot-gateway is not connected after 30 s (log: $TMP/gateway.log)"
}

gw_metric() {  # gw_metric NAME: the value of an unlabelled metric
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

wait_gateway_idle() {  # until the gateway holds nothing (all replies out), at most 60 s
  local depth
  for ((i = 0; i < 600; i++)); do
    depth=$(gw_metric iot_gateway_queue_depth || echo "?")
    [[ $depth == 0 ]] && return 0
    sleep 0.1
  done
  iot_say "warning: gateway queue depth still $depth"
}

# Samples every second while a run goes: gateway RSS and queue depth (when the gateway runs).
start_sampler() {
  local file=$1
  python3 - "$file" "${GW_PID:-0}" "$METRICS_PORT" <<'PY' &
import sys, time, urllib.request
out, pid, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w", buffering=1) as f:
    t0 = time.monotonic()
    while True:
        rss = depth = -1
        if pid:
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            except OSError:
                pass
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
                for line in body.splitlines():
                    if line.startswith("iot_gateway_queue_depth "):
                        depth = int(float(line.split()[1]))
            except Exception:
                pass
        f.write(f"{time.monotonic() - t0:.2f} {rss} {depth}\n")
        time.sleep(1)
PY
  SAMPLER_PID=$!
}
stop_sampler() { stop_pid "$SAMPLER_PID"; SAMPLER_PID=; }

# run_publish NAME RATE SECONDS CSV [extra loadgen args]: one generator run; JSON in $OUT/NAME.json,
# gateway samples in $OUT/NAME.samples. Sets RUN_JSON.
run_publish() {
  local name=$1 rate=$2 seconds=$3 csv=$4; shift 4
  local samples=(--sample "broker=$BROKER_PID" --sample "postgres=+$PG_PID")
  [[ -n $API_PID ]] && samples+=(--sample "api=$API_PID")
  [[ -n $GW_PID ]] && samples+=(--sample "gateway=$GW_PID")
  [[ -n $ECHO_PID ]] && samples+=(--sample "echo=$ECHO_PID")
  RUN_NO=$((RUN_NO + 1))
  RUN_JSON=$OUT/$(printf '%02d' "$RUN_NO")-$name.json
  start_sampler "${RUN_JSON%.json}.samples"
  local rc=0 load_before
  load_before=$(load)
  "$LOADGEN" publish --port "$MQTT_PORT" --devices-csv "$csv" --rate "$rate" --duration "$seconds" --drain 10 \
    --threads "$THREADS" --first-id "$NEXT_ID" "${samples[@]}" --json "$RUN_JSON" "$@" \
    >"${RUN_JSON%.json}.txt" 2>&1 || rc=$?
  stop_sampler
  # The gateway's counters after the run (batch sizes, commit latency: cumulative since it started).
  [[ -n $GW_PID ]] && curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"${RUN_JSON%.json}.metrics" 2>/dev/null
  kill -0 "$BROKER_PID" 2>/dev/null || { tail -20 "$TMP/mosquitto.log" >&2; iot_die "Mosquitto exited during run $name"; }
  python3 - "$RUN_JSON" "$load_before" "$(load)" "$name" "$rc" <<'PY'
import json, sys
p, before, after, name, rc = sys.argv[1:6]
try:
    j = json.load(open(p))
except Exception:
    sys.exit(0)
j["name"], j["loadavg_before"], j["loadavg_after"], j["exit"] = name, before, after, int(rc)
json.dump(j, open(p, "w"))
PY
  [[ -s $RUN_JSON ]] || { cat "${RUN_JSON%.json}.txt" >&2; iot_die "run $name produced no summary"; }
  # Next run's ids start above every id this run could have used.
  NEXT_ID=$((NEXT_ID + $(python3 -c 'import sys,math; print(int(math.ceil(float(sys.argv[1])*float(sys.argv[2])/int(sys.argv[3])*1.5))+1000)' "$rate" "$seconds" "$(($(wc -l <"$csv") - 1))")))
  report "$RUN_JSON"
}

# report JSON: one RESULT line; exit status 0 when the run was sustained (see the header).
report() {
  python3 "$IOT_ROOT/bench/e2e_report.py" line "$1" "$CLK_TCK"
}

# step_search PREFIX [CSV [loadgen args]]: steps the rate up from IOT_E2E_STEP_START until a step is not
# sustained, or, when the first step is not, down by IOT_E2E_STEP until one is; sets BEST to the highest
# sustained rate (0: none). CSV: the devices (default the Alink product's).
step_search() {
  local prefix=$1 csv=${2:-$TMP/devices.csv} rate=$STEP_START dir=0 ok
  shift $(($# < 2 ? $# : 2))
  BEST=0
  while ((rate <= STEP_MAX && rate > 0)); do
    ok=0
    run_publish "$prefix-step-$rate" "$rate" "$STEP_S" "$csv" "$@" && ok=1
    [[ -n $GW_PID ]] && wait_gateway_idle
    sleep 2
    if ((dir == 0)); then dir=$((ok ? 1 : -1)); fi
    if ((ok)); then
      BEST=$rate
      ((dir > 0)) || break
    elif ((dir > 0)); then
      break
    fi
    rate=$((rate + dir * STEP))
  done
  iot_say "$prefix: highest sustained step $BEST posts/s"
}

# --- 0. the broker alone -----------------------------------------------------------------------------
BROKER_BEST=0
if [[ $BROKER == 1 ]]; then
  "$LOADGEN" echo --port "$MQTT_PORT" --secret "$GW_SECRET" --sub-qos 1 --reply-qos 0 --json "$OUT/echo.json" \
    >"$TMP/echo.txt" 2>&1 &
  ECHO_PID=$!
  sleep 1
  kill -0 "$ECHO_PID" 2>/dev/null || { cat "$TMP/echo.txt" >&2; iot_die "iot-loadgen echo exited"; }
  iot_say "broker alone: iot-loadgen echo answers every post (load $(load))"
  run_publish broker-warmup 2000 5 "$TMP/devices.csv" || true
  step_search broker
  BROKER_BEST=$BEST
  stop_pid "$ECHO_PID"
  ECHO_PID=
fi

# --- 1-3. the platform -------------------------------------------------------------------------------
start_gateway
iot_say "platform: gateway pid $GW_PID, broker $BROKER_PID, postmaster $PG_PID, api $API_PID (load $(load))"
run_publish warmup 1000 5 "$TMP/devices.csv" || true
wait_gateway_idle
run_publish latency-$RATE "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
wait_gateway_idle
sleep 2
PLATFORM_BEST=0
if [[ $STEP_SEARCH == 1 ]]; then
  step_search platform
  PLATFORM_BEST=$BEST
fi
if ((PLATFORM_BEST > 0)); then
  run_publish "sustained-$PLATFORM_BEST" "$PLATFORM_BEST" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
fi
GW_HWM_MAIN=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")

# --- 4d. raw products: the parsing script's cost (issue 21) ---------------------------------------------
RAW_BEST=-1  # -1: not searched
if [[ $RAW == 1 ]]; then
  run_publish "alinkref-before-$RAW_RATE" "$RAW_RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  run_publish "raw-$RAW_RATE" "$RAW_RATE" "$DURATION_S" "$TMP/raw.csv" --raw || true
  wait_gateway_idle
  run_publish "alinkref-after-$RAW_RATE" "$RAW_RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  if [[ $STEP_SEARCH == 1 ]]; then
    sleep 2
    step_search raw "$TMP/raw.csv" --raw
    RAW_BEST=$BEST
  fi
fi

# --- 4. live-stream clients ---------------------------------------------------------------------------
STREAM_BEST=-1  # -1: not searched
if ((STREAM_CLIENTS > 0)); then
  STREAM_RATE=$RATE
  start_stream_clients() {  # start_stream_clients JSON
    "$LOADGEN" stream --port "$API_PORT" --token "$TOKEN" --product-key "$PK" --clients "$STREAM_CLIENTS" \
      --json "$1" >>"$TMP/stream.txt" 2>&1 &
    STREAM_PID=$!
    sleep 2
    kill -0 "$STREAM_PID" 2>/dev/null || { cat "$TMP/stream.txt" >&2; iot_die "stream clients exited"; }
  }
  # The clients' run is bracketed by runs without a client at the same rate: PostgreSQL's cost per post
  # creeps up over the benchmark (tables and indexes grow), so the stream's cost is measured against
  # the mean of its neighbours, not against the latency run minutes earlier.
  run_publish "noclient-before-$STREAM_RATE" "$STREAM_RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  start_stream_clients "$OUT/stream.json"
  run_publish "stream$STREAM_CLIENTS-$STREAM_RATE" "$STREAM_RATE" "$DURATION_S" "$TMP/devices.csv" \
    --sample "stream=$STREAM_PID" || true
  wait_gateway_idle
  stop_pid "$STREAM_PID"
  STREAM_PID=
  run_publish "noclient-after-$STREAM_RATE" "$STREAM_RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  # Throughput with the clients connected (issue 8: the stream may cost at most 10% of it): from the
  # platform's highest sustained rate down by IOT_E2E_STREAM_STEP until a step is sustained. The
  # clients run on the same 2 cores here (in production they are browsers elsewhere).
  if ((PLATFORM_BEST > 0 && STREAM_STEP > 0)); then
    start_stream_clients "$OUT/stream-steps.json"
    STREAM_BEST=0
    for ((r = PLATFORM_BEST; r > PLATFORM_BEST - 4 * STREAM_STEP && r > 0; r -= STREAM_STEP)); do
      sleep 2
      if run_publish "clientsstep-$r" "$r" "$STEP_S" "$TMP/devices.csv" --sample "stream=$STREAM_PID"; then
        STREAM_BEST=$r
        break
      fi
      wait_gateway_idle
    done
    wait_gateway_idle
    stop_pid "$STREAM_PID"
    STREAM_PID=
    iot_say "with $STREAM_CLIENTS stream clients: highest sustained step $STREAM_BEST posts/s (without: $PLATFORM_BEST)"
  fi
  cat "$TMP/stream.txt"
fi

# --- 4e. a forwarding rule on every post (issue 26) ---------------------------------------------------
FORWARD_BEST=-1  # -1: not searched
if ((FORWARD)); then
  SINK_PORT=$(iot_free_port)
  python3 "$IOT_ROOT/bench/forward_sink.py" "$SINK_PORT" >"$TMP/sink.log" 2>&1 &
  SINK_PID=$!
  for ((i = 0; i < 50; i++)); do curl -sf "http://127.0.0.1:$SINK_PORT/count" >/dev/null 2>&1 && break; sleep 0.1; done
  RULE_ID=$(api POST /rules "{\"name\":\"bench forwarding\",\"enabled\":false,\"source\":{\"productKey\":\"$PK\",\"kinds\":[\"property\"]},\"destinations\":[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:$SINK_PORT/hook\",\"secret\":\"bench\"}]}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  set_rule() { api PATCH "/rules/$RULE_ID" "{\"enabled\":$1}" >/dev/null; sleep 3; }  # the gateway learns within ~1 s
  # forward_lag: waits (at most 120 s) until the rule has delivered everything; prints what it took.
  forward_lag() {
    local t0 status
    t0=$(date +%s.%N)
    for ((i = 0; i < 1200; i++)); do
      status=$(api GET "/rules/$RULE_ID/status")
      [[ $(python3 -c 'import json, sys; print(json.load(sys.stdin)["lagMessages"])' <<<"$status") == 0 ]] && break
      sleep 0.1
    done
    iot_say "forwarding: caught up $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))") s after the run; status $status; sink took $(curl -sf "http://127.0.0.1:$SINK_PORT/count") messages"
  }
  run_publish "noforward-before-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  set_rule true
  run_publish "forward-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" --sample "sink=$SINK_PID" || true
  wait_gateway_idle
  forward_lag
  set_rule false
  run_publish "noforward-after-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  if ((PLATFORM_BEST > 0 && FORWARD_STEP > 0)); then
    set_rule true
    FORWARD_BEST=0
    for ((r = PLATFORM_BEST; r > PLATFORM_BEST / 2 && r > 0; r -= FORWARD_STEP)); do
      sleep 2
      if run_publish "forwardstep-$r" "$r" "$STEP_S" "$TMP/devices.csv" --sample "sink=$SINK_PID"; then
        FORWARD_BEST=$r
        break
      fi
      wait_gateway_idle
      forward_lag
    done
    wait_gateway_idle
    forward_lag
    iot_say "with a webhook rule on every post: highest sustained step $FORWARD_BEST posts/s (without: $PLATFORM_BEST)"
    # The same search without the rule once more, now that the database has taken every step above: how much
    # of the gap is the run's order (a bigger database, more vacuum) rather than the rule.
    set_rule false
    AGAIN_BEST=0
    for ((r = FORWARD_BEST + FORWARD_STEP; FORWARD_BEST > 0 && r <= PLATFORM_BEST + FORWARD_STEP; r += FORWARD_STEP)); do
      sleep 2
      run_publish "noforwardstep-$r" "$r" "$STEP_S" "$TMP/devices.csv" || break
      AGAIN_BEST=$r
      wait_gateway_idle
    done
    wait_gateway_idle
    iot_say "without the rule again, after those steps: highest sustained step $AGAIN_BEST posts/s (searched from $((FORWARD_BEST + FORWARD_STEP)))"
  fi
  api DELETE "/rules/$RULE_ID" >/dev/null
  stop_pid "$SINK_PID"
  SINK_PID=
fi

# --- 4c. thing-model dry runs going (issue 25) ----------------------------------------------------------
# The draft is the published model (publishing keeps the drafts): the runs re-validate every recorded item
# of the last 24 hours whatever the model, so their cost does not depend on what the draft changes.
dry_running() { "${PSQL[@]}" -c "SELECT count(*) FROM thing_model_dry_runs WHERE state = 'running'"; }
if [[ $DRY_RUN == 1 ]]; then
  run_publish "nodryrun-before-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  DRY_FROM=$("${PSQL[@]}" -c "SELECT iot_ms(iot_now_ms())")
  (
    while :; do
      if [[ $(dry_running) == 0 ]]; then
        curl -sS -o /dev/null -X POST "$BASE/api/v1/products/$PK/thing-model:dry-run" \
          -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data '{}' || true
      fi
      sleep 0.2
    done
  ) &
  DRY_PID=$!
  run_publish "dryrun-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
  stop_pid "$DRY_PID"
  DRY_PID=
  for ((i = 0; i < 600; i++)); do [[ $(dry_running) == 0 ]] && break; sleep 0.1; done
  wait_gateway_idle
  "${PSQL[@]}" -F ' ' -c "SELECT count(*), coalesce(sum((result->'examined'->>'accepted')::bigint
      + (result->'examined'->>'refused')::bigint + (result->'examined'->>'skipped')::bigint), 0),
      coalesce(sum(iot_ms(finished_at) - iot_ms(created_at)), 0)
    FROM thing_model_dry_runs WHERE state = 'done' AND created_at >= iot_ts($DRY_FROM)" >"$TMP/dryruns.txt"
  read -r DRY_RUNS DRY_ROWS DRY_MS <"$TMP/dryruns.txt"
  iot_say "dry runs during dryrun-$RATE: $DRY_RUNS finished, $DRY_ROWS items re-validated in $DRY_MS ms" \
    "($((DRY_MS > 0 ? DRY_ROWS * 1000 / DRY_MS : 0)) items/s)"
  run_publish "nodryrun-after-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
fi

# --- 4b. without iot-api: its stream listener holds the presence lock whenever it runs, so every batch
# builds and NOTIFYs stream records even with no WebSocket client; this run shows that base cost.
if [[ $NO_API_RUN == 1 ]]; then
  stop_pid "$API_PID"
  API_PID=
  run_publish "noapi-$RATE" "$RATE" "$DURATION_S" "$TMP/devices.csv" || true
  wait_gateway_idle
  start_api
fi

# --- 5. 10,000 devices at 1 post/s against a fresh gateway ---------------------------------------------
if ((BIG_DEVICES > 0)); then
  stop_pid "$GW_PID"
  GW_PID=
  start_gateway
  run_publish "devices$BIG_DEVICES" "$((BIG_DEVICES * BIG_RATE))" "$BIG_S" "$TMP/all.csv" --window 100 || true
  GW_HWM_BIG=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")
  iot_say "gateway with $BIG_DEVICES devices: peak RSS $((GW_HWM_BIG / 1024)) MB"
  wait_gateway_idle
fi

# --- 6. exactly once ---------------------------------------------------------------------------------
stop_pid "$GW_PID"  # drained: every held message committed and answered
GW_PID=
python3 "$IOT_ROOT/bench/e2e_report.py" ranges "$OUT" >"$TMP/ranges.csv"
"${PSQL[@]}" <<SQL >"$TMP/check.txt"
CREATE TEMP TABLE answered (device_name text, first bigint, last bigint);
\copy answered FROM '$TMP/ranges.csv' WITH (FORMAT csv)
CREATE TEMP TABLE per_device AS
SELECT d.id, d.device_name,
       (SELECT coalesce(sum(a.last - a.first + 1), 0) FROM answered a WHERE a.device_name = d.device_name) AS answered_200,
       (SELECT count(*) FROM message_dedupe m JOIN answered a ON a.device_name = d.device_name
          AND m.message_id::bigint BETWEEN a.first AND a.last WHERE m.device_id = d.id) AS answered_stored,
       (SELECT count(*) FROM message_dedupe m WHERE m.device_id = d.id) AS stored_msgs,
       (SELECT count(*) FROM property_history h WHERE h.device_id = d.id) AS history_rows
FROM devices d WHERE d.product_key = '$PK';
SELECT 'answered_200', sum(answered_200) FROM per_device;
SELECT 'answered_and_stored', sum(answered_stored) FROM per_device;
SELECT 'stored_messages', sum(stored_msgs) FROM per_device;
SELECT 'history_rows', sum(history_rows) FROM per_device;
SELECT 'devices_answered_not_stored', count(*) FROM per_device WHERE answered_stored <> answered_200;
SELECT 'devices_history_not_5x', count(*) FROM per_device WHERE history_rows <> 5 * stored_msgs;
SQL
cat "$TMP/check.txt" | tr '|' ' ' | sed 's/^/[check] /'

# --- summary -----------------------------------------------------------------------------------------
python3 "$IOT_ROOT/bench/e2e_report.py" summary "$OUT" "$TMP/check.txt" "$CLK_TCK" "$MACHINE" "$(load)" \
  "$BROKER_BEST" "${PLATFORM_BEST:-0}" "${GW_HWM_MAIN:-0}" "${GW_HWM_BIG:-0}" "$BIG_DEVICES" "$RATE" \
  "${STREAM_BEST:--1}" "$STREAM_CLIENTS" "$RAW_BEST" \
  | tee "$OUT/summary.txt"
iot_say "results: $OUT"
