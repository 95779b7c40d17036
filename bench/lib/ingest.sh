# shellcheck shell=bash
# Ingest beside another benchmark (issue 24: reads measured while the gateway ingests): Mosquitto with the
# project's plugin, one iot-gateway and iot-loadgen posting 5-property Alink messages at a fixed rate, on
# the benchmark's own PostgreSQL (roles from iot_pg_setup_platform) and iot-api (REST registration).
# Sourced after deploy/lib/platform.sh; state in INGEST_* variables.
#
#   ingest_setup DIR PG_DIR PG_PORT API_BASE TOKEN BUILD_DIR DEVICES   # servers up, devices registered
#   ingest_start NAME RATE SECONDS                                      # loadgen in the background
#   ingest_wait                                                         # its RESULT line (e2e_report.py)
#   ingest_teardown                                                     # from the caller's EXIT trap

INGEST_PK=bench24ingest
INGEST_GW_PID='' INGEST_LOADGEN_PID='' INGEST_JSON='' INGEST_NEXT_ID=1

ingest_setup() {
  local dir=$1 pg_dir=$2 pg_port=$3 base=$4 token=$5 build=$6 devices=$7 i first n
  INGEST_DIR=$dir INGEST_LOADGEN=$build/bench/loadgen/iot-loadgen INGEST_DEVICES=$devices
  mkdir -p "$dir"
  cmake --build "$build" --target iot-loadgen iot_auth_plugin iot-gateway >"$dir/build.log" 2>&1 ||
    { tail -20 "$dir/build.log" >&2; iot_die "building the ingest side failed"; }
  local gw_secret api_secret
  gw_secret=$(openssl rand -hex 24)
  api_secret=$(openssl rand -hex 24)
  # The product with loadgen's thing model, its devices through REST (pk,dn,secret lines for loadgen).
  iot_rest "$base" "$token" POST /products \
    "{\"productKey\":\"$INGEST_PK\",\"name\":\"ingest beside the reads\",\"validation\":\"weak\"}" >/dev/null
  "$INGEST_LOADGEN" tsl --product-key "$INGEST_PK" >"$dir/tsl.json"
  iot_rest "$base" "$token" PUT "/products/$INGEST_PK/thing-model" "@$dir/tsl.json" >/dev/null
  iot_rest "$base" "$token" POST "/products/$INGEST_PK/thing-model/publish" '{}' >/dev/null
  echo "pk,dn,secret" >"$dir/devices.csv"
  for ((first = 1; first <= devices; first += 1000)); do
    n=$((devices - first + 1 < 1000 ? devices - first + 1 : 1000))
    python3 -c 'import json,sys; f,n=int(sys.argv[1]),int(sys.argv[2]); print(json.dumps({"deviceNames": ["in%06d" % i for i in range(f, f + n)]}))' \
      "$first" "$n" >"$dir/batch.json"
    iot_rest "$base" "$token" POST "/products/$INGEST_PK/devices:batch" "@$dir/batch.json" |
      python3 -c 'import json,sys; [print("%s,%s,%s" % (d["productKey"], d["deviceName"], d["deviceSecret"])) for d in json.load(sys.stdin)["items"]]' \
        >>"$dir/devices.csv"
  done
  (($(wc -l <"$dir/devices.csv") == devices + 1)) || iot_die "ingest devices were not all created"
  # Mosquitto with the plugin (memory_limit 0: see bench/e2e.sh), then the gateway.
  INGEST_MQTT_PORT=$(iot_free_port)
  IOT_MQTT_MEMORY_LIMIT=0 iot_mosquitto_conf "$dir/mqtt" 127.0.0.1 "$INGEST_MQTT_PORT"
  iot_mosquitto_plugin_conf "$dir/mqtt" "$build/services/broker-plugin/iot_auth_plugin.so" \
    "$(iot_pg_dsn "$pg_dir" "$pg_port" iot_broker iot)" "$gw_secret" "$api_secret" false
  iot_mosquitto_start "$dir/mqtt" "$INGEST_MQTT_PORT" "$dir/mosquitto.log"
  INGEST_BROKER_PID=$(cat "$dir/mqtt/mosquitto.run.pid")
  local metrics_port
  metrics_port=$(iot_free_port)
  IOT_PG_DSN=$(iot_pg_dsn "$pg_dir" "$pg_port" iot_gateway iot) IOT_MQTT_HOST=127.0.0.1 \
    IOT_MQTT_PORT=$INGEST_MQTT_PORT IOT_MQTT_USERNAME=iot-gateway IOT_MQTT_PASSWORD=$gw_secret \
    IOT_GATEWAY_METRICS_PORT=$metrics_port IOT_GATEWAY_CLIENT_ID=iot-gateway-reads IOT_LOG_LEVEL=warn \
    "$build/services/gateway/iot-gateway" >>"$dir/gateway.log" 2>&1 &
  INGEST_GW_PID=$!
  for ((i = 0; i < 300; i++)); do
    curl -sf "http://127.0.0.1:$metrics_port/healthz" >/dev/null 2>&1 && break
    kill -0 "$INGEST_GW_PID" 2>/dev/null || { tail -20 "$dir/gateway.log" >&2; iot_die "iot-gateway exited"; }
    sleep 0.1
  done
  ((i < 300)) || iot_die "iot-gateway is not connected after 30 s (log: $dir/gateway.log)"
  INGEST_PG_PID=$(head -1 "$pg_dir/postmaster.pid")
}

ingest_start() {  # ingest_start NAME RATE SECONDS
  local name=$1 rate=$2 seconds=$3
  INGEST_NAME=ingest-$name INGEST_JSON=$INGEST_DIR/$name.json
  "$INGEST_LOADGEN" publish --port "$INGEST_MQTT_PORT" --devices-csv "$INGEST_DIR/devices.csv" --rate "$rate" \
    --duration "$seconds" --drain 10 --first-id "$INGEST_NEXT_ID" --sample "broker=$INGEST_BROKER_PID" \
    --sample "gateway=$INGEST_GW_PID" --sample "postgres=+$INGEST_PG_PID" --json "$INGEST_JSON" \
    >"$INGEST_DIR/$name.txt" 2>&1 &
  INGEST_LOADGEN_PID=$!
  # Next run's ids above every id this one can use (the dedupe answers reused ids as duplicates).
  INGEST_NEXT_ID=$((INGEST_NEXT_ID + rate * (seconds + 10) / INGEST_DEVICES * 2 + 1000))
}

ingest_wait() {  # prints the run's RESULT line (SUSTAINED or why not)
  local rc=0
  wait "$INGEST_LOADGEN_PID" || rc=$?
  INGEST_LOADGEN_PID=
  [[ -s $INGEST_JSON ]] || { cat "${INGEST_JSON%.json}.txt" >&2; iot_die "iot-loadgen failed (exit $rc)"; }
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j["name"]=sys.argv[2]; json.dump(j, open(sys.argv[1], "w"))' \
    "$INGEST_JSON" "$INGEST_NAME"
  python3 "$IOT_ROOT/bench/e2e_report.py" line "$INGEST_JSON" "$(getconf CLK_TCK)" || true
}

ingest_teardown() {
  local pid
  for pid in $INGEST_LOADGEN_PID $INGEST_GW_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $INGEST_LOADGEN_PID $INGEST_GW_PID; do
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [[ -n ${INGEST_DIR:-} && -d $INGEST_DIR/mqtt ]] && iot_mosquitto_stop "$INGEST_DIR/mqtt" || true
}
