#!/usr/bin/env bash
# ops.gateway_upgrade: the gateway binary of a running platform is replaced under load with 0 acknowledged
# posts lost (README "Upgrade"). Two gateways share the device traffic (shared subscription) with
# IOT_GATEWAY_END_SESSION_ON_STOP=1; while 20 devices post at 200/s (QoS 1, each answered after its commit):
#   old gateway 1 gets SIGTERM (unsubscribes, drains, answers what it holds, ends its session) and exits 0,
#   the new binary (a copy at another path) starts in its place and becomes ready; then the same for
#   gateway 2. Afterwards every post answered 200 is stored exactly once, every post is answered, and both new
#   gateways committed posts.
# Usage: gateway_upgrade.sh <build dir>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PK=opsupgrade1 DEVICES=20 RATE=200 SECONDS_LOAD=16

# The platform from deploy/lib/platform.sh's parts (no supervisor: this test decides when gateways stop).
P=$TMP/p
mkdir -p "$P"
PG_PORT=$(iot_free_port) MQTT_PORT=$(iot_free_port) HTTP_PORT=$(iot_free_port)
iot_pg_init "$P/pg" 0
iot_pg_start "$P/pg" "$PG_PORT" "$TMP/postgresql.log"
iot_pg_setup_platform "$P/pg" "$PG_PORT" iot
"$BUILD/services/migrate/iot-migrate" "$(iot_pg_dsn "$P/pg" "$PG_PORT" iot_migrator iot)" 2>"$TMP/migrate.log"
GW_SECRET=$(openssl rand -hex 24) API_SECRET=$(openssl rand -hex 24) TOKEN=$(openssl rand -hex 24)
iot_mosquitto_conf "$P/mqtt" 127.0.0.1 "$MQTT_PORT"
iot_mosquitto_plugin_conf "$P/mqtt" "$BUILD/services/broker-plugin/iot_auth_plugin.so" \
  "$(iot_pg_dsn "$P/pg" "$PG_PORT" iot_broker iot)" "$GW_SECRET" "$API_SECRET" false
iot_mosquitto_start "$P/mqtt" "$MQTT_PORT" "$TMP/mosquitto.log"
declare -a pids=()
ops_before_cleanup() {  # called by lib.sh's EXIT trap
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  iot_mosquitto_stop "$P/mqtt" || true
  iot_pg_stop "$P/pg" || true
}

IOT_PG_DSN=$(iot_pg_dsn "$P/pg" "$PG_PORT" iot_api iot) IOT_HTTP_PORT=$HTTP_PORT IOT_HTTP_BIND=127.0.0.1 \
  IOT_HTTPS_PORT=$(iot_free_port) IOT_OPS_PORT=$(iot_free_port) IOT_ADMIN_TOKEN=$TOKEN IOT_LOG_LEVEL=warn \
  IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT IOT_MQTT_USERNAME=iot-api IOT_MQTT_PASSWORD=$API_SECRET \
  "$BUILD/services/api/iot-api" >>"$TMP/api.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 300; i++)); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
((i < 300)) || fail "iot-api did not start"
ops_register "$PK" "$DEVICES" "$TMP/devices.csv"

# The "old" and the "new" release: the same build, copied to two paths (what matters is that the running
# processes are replaced, from another file, while the platform carries on).
mkdir -p "$TMP/old" "$TMP/new"
cp "$BUILD/services/gateway/iot-gateway" "$TMP/old/iot-gateway"
cp "$BUILD/services/gateway/iot-gateway" "$TMP/new/iot-gateway"
declare -A gw_pid=() gw_port=()
start_gateway() {  # start_gateway <name> <binary>: waits until /readyz
  local name=$1 bin=$2 port
  port=$(iot_free_port)
  IOT_PG_DSN=$(iot_pg_dsn "$P/pg" "$PG_PORT" iot_gateway iot) IOT_MQTT_HOST=127.0.0.1 IOT_MQTT_PORT=$MQTT_PORT \
    IOT_MQTT_USERNAME=iot-gateway IOT_MQTT_PASSWORD=$GW_SECRET IOT_GATEWAY_CLIENT_ID=ops-$name \
    IOT_GATEWAY_METRICS_PORT=$port IOT_GATEWAY_END_SESSION_ON_STOP=1 IOT_LOG_LEVEL=info \
    "$bin" >>"$TMP/gateway-$name.log" 2>&1 &
  gw_pid[$name]=$! gw_port[$name]=$port
  pids+=($!)
  for ((i = 0; i < 300; i++)); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "${gw_pid[$name]}" 2>/dev/null || fail "gateway $name exited"
    sleep 0.1
  done
  fail "gateway $name is not ready after 30 s"
}
stop_gateway() {  # stop_gateway <name>: SIGTERM, it must drain and exit 0
  local name=$1 rc=0
  kill -TERM "${gw_pid[$name]}"
  wait "${gw_pid[$name]}" || rc=$?
  ((rc == 0)) || fail "gateway $name exited with $rc after SIGTERM"
}
committed() { curl -sf "http://127.0.0.1:${gw_port[$1]}/metrics" | awk '$1 == "iot_gateway_committed_messages_total" {print $2}'; }

start_gateway old1 "$TMP/old/iot-gateway"
start_gateway old2 "$TMP/old/iot-gateway"
say "two old gateways on the shared subscription"

ops_publish "$TMP/load.json" "$TMP/devices.csv" "$RATE" "$SECONDS_LOAD" 1 &
load_pid=$!
ops_cleanup_list+=("$load_pid")
sleep 3
stop_gateway old1
start_gateway new1 "$TMP/new/iot-gateway"
say "gateway 1 replaced by the new binary"
sleep 3
stop_gateway old2
start_gateway new2 "$TMP/new/iot-gateway"
say "gateway 2 replaced by the new binary"
load_rc=0
wait "$load_pid" || load_rc=$?

sent=$(ops_json "$TMP/load.json" 'j["posts_sent"]')
acked=$(ops_json "$TMP/load.json" 'j["answered_200"]')
unanswered=$(ops_json "$TMP/load.json" 'j["unanswered"]')
c1=$(committed new1) c2=$(committed new2)
stop_gateway new1
stop_gateway new2
ops_acked_ranges "$TMP/load.json" >"$TMP/acked.csv"
read -r acked_ranges stored_acked <<<"$(ops_check_stored "$P" "$PK" "$TMP/acked.csv")"
stored_all=$(ops_psql "$P" -c "SELECT count(*) FROM message_dedupe m JOIN devices d ON d.id = m.device_id WHERE d.product_key = '$PK'")
history=$(ops_psql "$P" -c "SELECT count(*) FROM property_history h JOIN devices d ON d.id = h.device_id WHERE d.product_key = '$PK'")
say "sent $sent, answered 200: $acked, unanswered $unanswered; stored: $stored_acked of the answered, $stored_all in all, $history history rows; new gateways committed $c1 and $c2"
[[ $acked_ranges == "$acked" ]] || fail "range bookkeeping: $acked_ranges != $acked"
[[ $stored_acked == "$acked" ]] || fail "$((acked - stored_acked)) acknowledged posts lost"
[[ $history == $((5 * stored_all)) ]] || fail "history rows $history != 5 x $stored_all stored messages"
((acked > RATE * SECONDS_LOAD * 9 / 10)) || fail "too few posts answered ($acked of $sent)"
((unanswered == 0 && load_rc == 0)) || fail "$unanswered posts were never answered during the upgrade"
((stored_all == acked)) || fail "$((stored_all - acked)) posts stored but not answered"
((${c1%.*} > 0 && ${c2%.*} > 0)) || fail "a new gateway committed nothing ($c1, $c2)"
say "ok: 0 of $acked acknowledged posts lost across the gateway upgrade"
