#!/usr/bin/env bash
# Connect-storm benchmark of the broker with the project's plugin (issue 5). A benchmark, never a test.
#
# Starts a private PostgreSQL (durability settings on) and a private Mosquitto with the plugin (device
# auth from PostgreSQL, lifecycle messages), registers the devices through libs/store, then lets
# iot-loadgen connect them all as fast as a bounded window allows, with the gateway service account
# counting the plugin's online/offline messages. Prints connects/s, CONNACK latency, and the broker's
# CPU per connect; tears everything down on exit.
#
#   bench/connect_storm.sh                      # 10,000 devices, window 100, 3 runs
#   IOT_STORM_DEVICES=2000 IOT_STORM_RUNS=1 bench/connect_storm.sh
#
# Settings (environment): IOT_BUILD_DIR (./build-release), IOT_STORM_DEVICES (10000), IOT_STORM_WINDOW
# (100 connects in flight; above 100 Mosquitto's accept backlog overflows, see docs/BENCHMARKS.md),
# IOT_STORM_HOLD_S (5: seconds connected before the clean disconnect), IOT_STORM_RUNS (3),
# IOT_STORM_THREADS (1: generator threads), IOT_STORM_BASELINE (1: afterwards one run against a plain
# Mosquitto without the plugin, anonymous, same configuration otherwise, for the plugin's share),
# IOT_KEEP_TMP=1 keeps the data directory and logs.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build-release}
DEVICES=${IOT_STORM_DEVICES:-10000}
WINDOW=${IOT_STORM_WINDOW:-100}
HOLD_S=${IOT_STORM_HOLD_S:-5}
RUNS=${IOT_STORM_RUNS:-3}
THREADS=${IOT_STORM_THREADS:-1}
BASELINE=${IOT_STORM_BASELINE:-1}
PK=bench5storm

# --- build only what the benchmark runs -------------------------------------------------------------
iot_configure_bench "$BUILD_DIR"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target iot-loadgen iot-migrate iot_auth_plugin >/dev/null ||
  iot_die "build failed"
LOADGEN=$BUILD_DIR/bench/loadgen/iot-loadgen
MIGRATE=$BUILD_DIR/services/migrate/iot-migrate
PLUGIN=$BUILD_DIR/services/broker-plugin/iot_auth_plugin.so

# --- file descriptors: 10,000 connections on each side of loopback ---------------------------------
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > DEVICES + 100 )) ||
  iot_die "file descriptor limit $(ulimit -n) is below $DEVICES devices; raise the hard limit (ulimit -Hn)"

# --- private servers, torn down on exit --------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-storm.XXXXXX")
chmod 755 "$TMP"
cleanup() {
  local rc=$?
  iot_mosquitto_stop "$TMP/mqtt" || true
  iot_mosquitto_stop "$TMP/plain" || true
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
BROKER_DSN=$(iot_pg_dsn "$TMP/pg" "$PG_PORT" iot_broker iot)
"$MIGRATE" "$DSN" 2>"$TMP/migrate.log" || { cat "$TMP/migrate.log" >&2; iot_die "iot-migrate failed"; }

t=$(date +%s.%N)
"$LOADGEN" register --dsn "$DSN" --product-key "$PK" --count "$DEVICES" --prefix storm --csv "$TMP/devices.csv" \
  2>"$TMP/register.log" || { cat "$TMP/register.log" >&2; iot_die "registering devices failed"; }
iot_say "registered $DEVICES devices in $(python3 -c "import sys; print(round(float(sys.argv[2])-float(sys.argv[1]),1))" "$t" "$(date +%s.%N)") s"

GW_SECRET=$(openssl rand -hex 24)
API_SECRET=$(openssl rand -hex 24)
MQTT_PORT=$(iot_free_port)
iot_mosquitto_conf "$TMP/mqtt" 127.0.0.1 "$MQTT_PORT"
echo "max_connections -1" >>"$TMP/mqtt/mosquitto.conf"
iot_mosquitto_plugin_conf "$TMP/mqtt" "$PLUGIN" "$BROKER_DSN" "$GW_SECRET" "$API_SECRET" false
iot_mosquitto_start "$TMP/mqtt" "$MQTT_PORT" "$TMP/mosquitto.log"
BROKER_PID=$(cat "$TMP/mqtt/mosquitto.run.pid")
[[ $(awk '/Max open files/ {print $4}' "/proc/$BROKER_PID/limits") -gt $DEVICES ]] ||
  iot_die "Mosquitto's open-file limit is below $DEVICES"

# The plugin loads the devices when it starts; wait until the last registered one is accepted.
tail -1 "$TMP/devices.csv" >"$TMP/probe.csv"
for ((i = 0; i < 100; i++)); do
  "$LOADGEN" connect-storm --port "$MQTT_PORT" --devices-csv "$TMP/probe.csv" --connect-timeout 2 >/dev/null 2>&1 && break
  sleep 0.1
done
((i < 100)) || iot_die "the plugin does not accept the registered devices (log: $TMP/mosquitto.log)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

iot_say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r)"
iot_say "storm: $DEVICES devices, window $WINDOW, $THREADS generator thread(s), hold ${HOLD_S}s, $RUNS run(s)"
for ((run = 1; run <= RUNS; run++)); do
  before=$(cpu_ticks "$BROKER_PID")
  rc=0
  "$LOADGEN" connect-storm --port "$MQTT_PORT" --devices-csv "$TMP/devices.csv" --window "$WINDOW" \
    --threads "$THREADS" --hold "$HOLD_S" --watch-user iot-gateway --watch-secret "$GW_SECRET" \
    --sample "broker=$BROKER_PID" --json "$TMP/run$run.json" >"$TMP/run$run.txt" 2>&1 || rc=$?
  after=$(cpu_ticks "$BROKER_PID")
  echo "--- run $run (exit $rc)"
  cat "$TMP/run$run.txt"
  python3 - "$TMP/run$run.json" "$((after - before))" "$CLK_TCK" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
whole_us = ticks * 1e6 / hz
n = max(1, j["connected"])
print(f"RESULT connects/s={j['connects_per_s']} connected={j['connected']}/{j['devices']} "
      f"connack_p50_ms={j['connack_latency_ms'].get('p50')} p99_ms={j['connack_latency_ms'].get('p99')} "
      f"max_ms={j['connack_latency_ms'].get('max')} "
      f"broker_us_per_connect={j['cpu_connect_phase']['broker']['us_per_connect']} "
      f"broker_us_per_connect_incl_disconnect={round(whole_us / n, 1)} "
      f"generator_us_per_connect={j['cpu_connect_phase']['generator']['us_per_connect']} "
      f"online_msgs={j['lifecycle']['online_msgs']} offline_msgs={j['lifecycle']['offline_msgs']} "
      f"connect_to_online_p99_ms={j['lifecycle']['connect_to_online_ms'].get('p99')} "
      f"lifecycle_ok={j['lifecycle']['ok']}")
PY
  ((rc == 0)) || iot_say "run $run: failures or lifecycle mismatch (see above)"
  # Let the offline messages and the broker settle before the next run.
  sleep 2
done

# --- baseline: the same storm against Mosquitto without the plugin ----------------------------------
if [[ $BASELINE == 1 ]]; then
  iot_mosquitto_stop "$TMP/mqtt"
  PLAIN_PORT=$(iot_free_port)
  iot_mosquitto_conf "$TMP/plain" 127.0.0.1 "$PLAIN_PORT"
  printf 'max_connections -1\nallow_anonymous true\n' >>"$TMP/plain/mosquitto.conf"
  iot_mosquitto_start "$TMP/plain" "$PLAIN_PORT" "$TMP/plain.log"
  PLAIN_PID=$(cat "$TMP/plain/mosquitto.run.pid")
  rc=0
  "$LOADGEN" connect-storm --port "$PLAIN_PORT" --devices-csv "$TMP/devices.csv" --window "$WINDOW" \
    --threads "$THREADS" --hold "$HOLD_S" --sample "broker=$PLAIN_PID" --json "$TMP/baseline.json" \
    >"$TMP/baseline.txt" 2>&1 || rc=$?
  echo "--- baseline: Mosquitto without the plugin (exit $rc)"
  cat "$TMP/baseline.txt"
  python3 - "$TMP/baseline.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"BASELINE connects/s={j['connects_per_s']} connected={j['connected']}/{j['devices']} "
      f"connack_p50_ms={j['connack_latency_ms'].get('p50')} p99_ms={j['connack_latency_ms'].get('p99')} "
      f"broker_us_per_connect={j['cpu_connect_phase']['broker']['us_per_connect']} "
      f"generator_us_per_connect={j['cpu_connect_phase']['generator']['us_per_connect']}")
PY
fi
