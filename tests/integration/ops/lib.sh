# Shared by the ops.* tests (sourced): a platform run by deploy/local/run.sh on free ports, devices
# registered over REST, posts from iot-loadgen (acknowledged = answered 200, ids per device in its JSON) and
# the check that every acknowledged post is stored.
# shellcheck shell=bash
IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"
BUILD=${1:?usage: $0 <build dir>}
BUILD=$(cd "$BUILD" && pwd)
LOADGEN=$BUILD/bench/loadgen/iot-loadgen
[[ -x $LOADGEN ]] || iot_die "$LOADGEN is not built (IOT_BUILD_BENCH)"
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${IOT_TEST_TMP:-/tmp}/ops-$TEST_NAME.XXXXXX")
chmod 755 "$TMP"
fail() { echo "ops.$TEST_NAME: FAILED: $*" >&2; exit 1; }
say() { echo "ops.$TEST_NAME: $* [$SECONDS s]" >&2; }

declare -A RUN_PID=()   # data dir -> pid of its deploy/local/run.sh
ops_cleanup_list=()
ops_cleanup() {
  local rc=$? d pid
  if declare -F ops_before_cleanup >/dev/null; then ops_before_cleanup; fi
  for pid in "${ops_cleanup_list[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for d in "${!RUN_PID[@]}"; do ops_stop_platform "$d"; done
  if ((rc != 0)); then
    for log in "$TMP"/*.log "$TMP"/*/logs/*.log; do
      [[ -s $log ]] || continue
      echo "----- $log (last 30 lines)" >&2
      tail -30 "$log" >&2
    done
  fi
  if [[ ${IOT_KEEP_TMP:-0} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap ops_cleanup EXIT
trap 'exit 130' INT TERM

# ops_start_platform <data dir>: deploy/local/run.sh on free ports (HTTP_PORT, MQTT_PORT, METRICS_PORT of
# the gateway are set for the caller), waits until iot-api answers and the gateway is ready.
ops_start_platform() {
  local data=$1
  HTTP_PORT=$(iot_free_port) MQTT_PORT=$(iot_free_port) METRICS_PORT=$(iot_free_port)
  mkdir -p "$data"
  IOT_DATA_DIR=$data IOT_BUILD_DIR=$BUILD IOT_HTTP_PORT=$HTTP_PORT IOT_MQTT_PORT=$MQTT_PORT \
    IOT_MQTTS_PORT=$(iot_free_port) IOT_MQTT_WS_PORT=$(iot_free_port) IOT_MQTT_WSS_PORT=$(iot_free_port) \
    IOT_PG_PORT=$(iot_free_port) IOT_HTTPS_PORT=$(iot_free_port) IOT_OPS_PORT=$(iot_free_port) \
    IOT_GATEWAY_METRICS_PORT=$METRICS_PORT IOT_LOG_LEVEL=warn \
    setsid "$IOT_ROOT/deploy/local/run.sh" >"$data.run.log" 2>&1 &
  RUN_PID[$data]=$!
  local i
  for ((i = 0; i < 1200; i++)); do
    if curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 &&
       curl -sf "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null 2>&1; then
      TOKEN=$(cat "$data/admin-token")
      return 0
    fi
    kill -0 "${RUN_PID[$data]}" 2>/dev/null || { tail -30 "$data.run.log" >&2; fail "deploy/local/run.sh exited"; }
    sleep 0.1
  done
  tail -30 "$data.run.log" >&2
  fail "the platform in $data did not become ready in 120 s"
}

# ops_stop_platform <data dir>: SIGTERM to run.sh, which stops the services, Mosquitto and PostgreSQL.
ops_stop_platform() {
  local data=$1 pid=${RUN_PID[$1]:-} i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  unset "RUN_PID[$data]"
}

# ops_psql <data dir> [psql args]: the superuser on the platform's database (port from postmaster.pid).
ops_psql() {
  local data=$1; shift
  iot_pg_psql "$data/pg" "$(sed -n 4p "$data/pg/postmaster.pid")" iot "$@"
}

# ops_register <pk> <devices> <csv>: a product whose thing model matches iot-loadgen's posts, published,
# and its devices (pk,dn,secret lines in <csv>).
ops_register() {
  local pk=$1 n=$2 csv=$3 base=http://127.0.0.1:$HTTP_PORT
  iot_rest "$base" "$TOKEN" POST /products "{\"productKey\":\"$pk\",\"name\":\"ops test\",\"validation\":\"weak\"}" >/dev/null
  "$LOADGEN" tsl --product-key "$pk" >"$TMP/tsl.json"
  iot_rest "$base" "$TOKEN" PUT "/products/$pk/thing-model" "@$TMP/tsl.json" >/dev/null
  iot_rest "$base" "$TOKEN" POST "/products/$pk/thing-model/publish" '{}' >/dev/null
  python3 -c 'import json,sys; print(json.dumps({"deviceNames": ["ops%04d" % i for i in range(1, int(sys.argv[1]) + 1)]}))' \
    "$n" >"$TMP/batch.json"
  echo "pk,dn,secret" >"$csv"
  iot_rest "$base" "$TOKEN" POST "/products/$pk/devices:batch" "@$TMP/batch.json" |
    python3 -c 'import json,sys; [print("%s,%s,%s" % (d["productKey"], d["deviceName"], d["deviceSecret"])) for d in json.load(sys.stdin)["items"]]' \
      >>"$csv"
  (($(wc -l <"$csv") == n + 1)) || fail "devices were not all registered"
}

# ops_publish <json out> <csv> <rate> <seconds> <first id> [more loadgen options]: QoS 1 posts, every one
# answered or counted; the exit status is loadgen's (0: all connected and all answered).
ops_publish() {
  local out=$1 csv=$2 rate=$3 seconds=$4 first=$5; shift 5
  "$LOADGEN" publish --port "$MQTT_PORT" --devices-csv "$csv" --rate "$rate" --duration "$seconds" --drain 15 \
    --first-id "$first" --json "$out" "$@" >>"$TMP/loadgen.log" 2>&1
}

# ops_acked_ranges <json>...: "dn,first,last" for every range of ids answered 200.
ops_acked_ranges() {
  python3 - "$@" <<'PY'
import json, sys
for f in sys.argv[1:]:
    for d in json.load(open(f))["per_device"]:
        for first, last in d["ids_200"]:
            print("%s,%d,%d" % (d["dn"], first, last))
PY
}

# ops_check_stored <data dir> <pk> <ranges csv>: prints "acked stored_of_acked" for the acknowledged posts
# in the ranges (dedupe rows name each stored message by device and id).
ops_check_stored() {
  local data=$1 pk=$2 ranges=$3
  ops_psql "$data" -F ' ' <<SQL
CREATE TEMP TABLE acked (device_name text, first bigint, last bigint);
\copy acked FROM '$ranges' WITH (FORMAT csv)
SELECT (SELECT coalesce(sum(last - first + 1), 0) FROM acked),
       (SELECT count(*) FROM message_dedupe m JOIN devices d ON d.id = m.device_id AND d.product_key = '$pk'
          JOIN acked a ON a.device_name = d.device_name AND m.message_id ~ '^[0-9]+$'
           AND m.message_id::bigint BETWEEN a.first AND a.last);
SQL
}

# ops_json <file> <python expression on j>: a value from loadgen's summary.
ops_json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ops_backup_while_posting <csv> <backup command...>: posts for 4 s (ids from 1; every one answered), then a
# second stream (ids from 100000) during which the command takes the backup (1 s in). Sets ACKED_BEFORE and
# ACKED_DURING (posts answered 200 by each stream); BEFORE_JSON names the first stream's summary.
ops_backup_while_posting() {
  local csv=$1 pid; shift
  BEFORE_JSON=$TMP/before.json
  ops_publish "$BEFORE_JSON" "$csv" 200 4 1 || fail "posts before the backup were not all answered"
  ACKED_BEFORE=$(ops_json "$BEFORE_JSON" 'j["answered_200"]')
  ((ACKED_BEFORE > 0)) || fail "nothing answered before the backup"
  ops_publish "$TMP/during.json" "$csv" 200 6 100000 &
  pid=$!
  ops_cleanup_list+=("$pid")
  sleep 1
  "$@" >"$TMP/backup.log" 2>&1 || { cat "$TMP/backup.log"; fail "the backup ($1)"; }
  wait "$pid" || fail "posts during the backup were not all answered"
  ACKED_DURING=$(ops_json "$TMP/during.json" 'j["answered_200"]')
  say "backup taken while posting: $ACKED_BEFORE answered before, $ACKED_DURING during"
}

# ops_check_restored <data dir> <pk> <csv> <devices> <old admin token>: on the restored platform (HTTP_PORT,
# MQTT_PORT), every post answered before the backup started is stored once; every device connects with its
# old secret and its posts are answered; the old admin token reads the product's devices.
ops_check_restored() {
  local data=$1 pk=$2 csv=$3 devices=$4 token=$5 acked stored restored_during
  ops_acked_ranges "$BEFORE_JSON" >"$TMP/before.csv"
  read -r acked stored <<<"$(ops_check_stored "$data" "$pk" "$TMP/before.csv")"
  [[ $acked == "$ACKED_BEFORE" ]] || fail "range bookkeeping: $acked != $ACKED_BEFORE"
  [[ $stored == "$acked" ]] || fail "$((acked - stored)) of $acked posts answered before the backup are missing after the restore"
  restored_during=$(ops_psql "$data" -c "SELECT count(*) FROM message_dedupe WHERE message_id::bigint >= 100000")
  ops_publish "$TMP/after.json" "$csv" 100 2 200000 || fail "devices did not reconnect with their old secrets"
  [[ $(ops_json "$TMP/after.json" 'j["connect"]["connected"]') == "$devices" ]] || fail "not every device connected"
  [[ $(ops_json "$TMP/after.json" 'j["answered_200"]') == $(ops_json "$TMP/after.json" 'j["posts_sent"]') ]] ||
    fail "posts after the restore were not all answered 200"
  iot_rest "http://127.0.0.1:$HTTP_PORT" "$token" GET "/products/$pk/devices" >/dev/null
  say "ok: $stored/$acked posts answered before the backup restored; $restored_during of the $ACKED_DURING answered during it are in the snapshot; $devices devices reconnected with their old secrets"
}
