#!/usr/bin/env bash
# ops.host_backup: deploy/backup.sh --host and deploy/restore.sh --host on a host install (README "Install on
# a host"), the installed copies of the scripts, against real PostgreSQL clusters. systemd is not PID 1 here,
# so the host's file system is staged under a directory (--root) and each service is started the way its
# installed unit starts it: its ExecStart with the unit's Environment= and EnvironmentFile= lines (re-rooted
# under the stage, %i and %l expanded).
#   1. host A: `cmake --install`; a PostgreSQL cluster with the platform's roles and database (README step 2);
#      /etc/iot-cloud and Mosquitto's part staged as README steps 3-4 write them; iot-migrate.service, Mosquitto
#      with the staged configuration, iot-api.service and two gateways from the template iot-gateway@.service
#      (instances 1 and 2: their own metrics ports from gateway-<i>.env, one shared subscription).
#   2. 10 devices post (iot-loadgen, QoS 1) for 4 s: all answered; a second stream starts, and while it runs
#      `backup.sh --host --root A --pg-dsn <superuser>` takes the backup.
#   3. host A goes away; host B: a fresh cluster on the same port and an empty stage; `restore.sh --host --root B
#      --pg-dsn <superuser>` (it refuses a stage that holds /etc/iot-cloud); B is started like A, from the restored
#      files only.
#   4. every post answered before the backup started is stored; every device connects with its old secret and
#      its posts are answered; the old admin token works; both gateway replicas are ready.
# Usage: host_backup.sh <build dir>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PK=opshost1 DEVICES=10

INST=$TMP/inst
cmake --install "$BUILD" --prefix "$INST" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "cmake --install"; }
UNITS=$INST/lib/systemd/system
[[ -f $UNITS/iot-gateway@.service ]] || fail "the template iot-gateway@.service is not installed"
BACKUP=$INST/share/iot-cloud/deploy/backup.sh RESTORE=$INST/share/iot-cloud/deploy/restore.sh

PIDS=()  # the services of the running stage
MQ_DIR=
stop_stage() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  [[ -n $MQ_DIR ]] && iot_mosquitto_stop "$MQ_DIR"
  MQ_DIR=
}
ops_before_cleanup() {
  stop_stage
  local d
  for d in "$TMP/a/pg" "$TMP/b/pg"; do [[ -f $d/postmaster.pid ]] && iot_pg_stop "$d"; done
  return 0
}

# unit_env <stage> <unit file> [instance]: the environment systemd gives the unit, one NAME=VALUE a line.
unit_env() {
  local stage=$1 file=$2 inst=${3:-} line f
  while IFS= read -r line; do
    line=${line//%i/$inst}
    line=${line//%l/$(hostname -s)}
    case $line in
      Environment=*) echo "${line#Environment=}" ;;
      EnvironmentFile=*)
        f=${line#EnvironmentFile=}
        if [[ $f == -* ]]; then [[ -f $stage${f#-} ]] || continue; f=${f#-}; fi
        [[ -f $stage$f ]] || fail "$(basename "$file"): EnvironmentFile $f is missing in the stage"
        grep -E '^[A-Z_][A-Z0-9_]*=' "$stage$f"
        ;;
    esac
  done <"$file"
}
# run_unit <stage> <unit> [instance]: the unit's ExecStart with that environment, in the background (pid in
# PIDS); a oneshot runs to its end and must succeed.
run_unit() {
  local stage=$1 unit=$2 inst=${3:-} file=$UNITS/$2 exec envs=()
  exec=$(sed -n 's/^ExecStart=//p' "$file")
  [[ -x $exec ]] || fail "$unit: ExecStart $exec is not the installed binary"
  mapfile -t envs < <(unit_env "$stage" "$file" "$inst")
  if grep -q '^Type=oneshot' "$file"; then
    (cd / && env -i PATH=/usr/bin:/bin "${envs[@]}" "$exec") >>"$TMP/${unit%.service}$inst.log" 2>&1 ||
      fail "$unit failed"
  else
    (cd / && exec env -i PATH=/usr/bin:/bin "${envs[@]}" "$exec") >>"$TMP/${unit%.service}$inst.log" 2>&1 &
    PIDS+=($!)
  fi
}

# start_stage <stage>: the platform as the host's units start it (iot-migrate, Mosquitto with its conf.d part,
# iot-api, iot-gateway@1 and @2), from the files under <stage>/etc only; waits until all are ready.
start_stage() {
  local stage=$1 etc=$1/etc/iot-cloud i
  run_unit "$stage" iot-migrate.service
  MQ_DIR=$stage/mosquitto-run
  mkdir -p "$MQ_DIR"
  # Debian's mosquitto.conf sets these and includes conf.d/; the certificates' /etc is the stage's.
  { echo "pid_file $MQ_DIR/mosquitto.pid"; echo "persistence false"; echo "log_dest stderr"
    sed "s|/etc/mosquitto/|$stage/etc/mosquitto/|" "$stage/etc/mosquitto/conf.d/iot-cloud.conf"; } >"$MQ_DIR/mosquitto.conf"
  iot_grant_traverse mosquitto "$stage/etc/mosquitto/certs"
  MQTT_PORT=$(iot_env_value "$etc/gateway.env" IOT_MQTT_PORT)
  iot_mosquitto_start "$MQ_DIR" "$MQTT_PORT" "$TMP/mosquitto.log"
  run_unit "$stage" iot-api.service
  run_unit "$stage" iot-gateway@.service 1
  run_unit "$stage" iot-gateway@.service 2
  HTTP_PORT=$(iot_env_value "$etc/api.env" IOT_HTTP_PORT)
  TOKEN=$(iot_env_value "$etc/api.env" IOT_ADMIN_TOKEN)
  for ((i = 0; i < 1200; i++)); do
    if curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 &&
       curl -sf "http://127.0.0.1:$(iot_env_value "$etc/gateway-1.env" IOT_GATEWAY_METRICS_PORT)/readyz" >/dev/null 2>&1 &&
       curl -sf "http://127.0.0.1:$(iot_env_value "$etc/gateway-2.env" IOT_GATEWAY_METRICS_PORT)/readyz" >/dev/null 2>&1; then
      return 0
    fi
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a service of $stage exited"; done
    sleep 0.1
  done
  fail "the platform of $stage did not become ready in 120 s"
}

# --- 1. host A ----------------------------------------------------------------------------------------
A=$TMP/a PG_PORT=$(iot_free_port)
mkdir -p "$A"
iot_pg_init "$A/pg" 1
iot_pg_start "$A/pg" "$PG_PORT" "$TMP/pg-a.log"
iot_pg_setup_platform "$A/pg" "$PG_PORT" iot  # README step 2: the four roles (passwords in pg.secrets), the database
ETC=$A/etc/iot-cloud
install -d -m 700 "$ETC" "$ETC/pg.secrets"
for r in iot_migrator iot_api iot_gateway iot_broker; do install -m 600 "$A/pg.secrets/$r" "$ETC/pg.secrets/$r"; done
# README step 3: broker accounts, admin token, TLS, Mosquitto's copies.
for s in gateway-mqtt-secret api-mqtt-secret admin-token; do (umask 077; openssl rand -hex 24 >"$ETC/$s"); done
iot_make_tls "$ETC/tls" localhost
install -d "$A/etc/mosquitto/certs" "$A/etc/mosquitto/conf.d"
install -m 644 "$ETC/tls/ca.crt" "$A/etc/mosquitto/certs/iot-cloud-ca.crt"
install -m 644 "$ETC/tls/server.crt" "$A/etc/mosquitto/certs/iot-cloud-server.crt"
install -m 640 "$ETC/tls/server.key" "$A/etc/mosquitto/certs/iot-cloud-server.key"
chgrp mosquitto "$A/etc/mosquitto/certs/iot-cloud-server.key" 2>/dev/null || chmod 644 "$A/etc/mosquitto/certs/iot-cloud-server.key"
# README step 4, with free ports instead of the standard ones.
dsn() { echo "postgresql://$1:$(cat "$ETC/pg.secrets/$1")@127.0.0.1:$PG_PORT/iot"; }
sha() { printf %s "$(cat "$ETC/$1")" | sha256sum | cut -d' ' -f1; }
ports=(); for _ in 1 2 3 4; do ports+=("$(iot_free_port)"); done
sed -e "s|@BROKER_DSN@|$(dsn iot_broker)|" -e "s|@GATEWAY_HASH@|$(sha gateway-mqtt-secret)|" \
    -e "s|@API_HASH@|$(sha api-mqtt-secret)|" \
    -e "s|^listener 1883 |listener ${ports[0]} |; s|^listener 8883 0.0.0.0|listener ${ports[1]} 127.0.0.1|" \
    -e "s|^listener 8083 |listener ${ports[2]} |; s|^listener 8084 0.0.0.0|listener ${ports[3]} 127.0.0.1|" \
    "$INST/share/iot-cloud/mosquitto/iot-cloud.conf" >"$A/etc/mosquitto/conf.d/iot-cloud.conf"
chmod 640 "$A/etc/mosquitto/conf.d/iot-cloud.conf"
(umask 077
 echo "IOT_PG_DSN=$(dsn iot_migrator)" >"$ETC/migrate.env"
 printf '%s\n' "IOT_PG_DSN=$(dsn iot_api)" "IOT_HTTP_PORT=$(iot_free_port)" "IOT_OPS_PORT=$(iot_free_port)" \
   IOT_MQTT_HOST=127.0.0.1 "IOT_MQTT_PORT=${ports[0]}" IOT_MQTT_USERNAME=iot-api \
   "IOT_MQTT_PASSWORD=$(cat "$ETC/api-mqtt-secret")" "IOT_ADMIN_TOKEN=$(cat "$ETC/admin-token")" IOT_LOG_LEVEL=warn \
   >"$ETC/api.env"
 printf '%s\n' "IOT_PG_DSN=$(dsn iot_gateway)" IOT_MQTT_HOST=127.0.0.1 "IOT_MQTT_PORT=${ports[0]}" \
   IOT_MQTT_USERNAME=iot-gateway "IOT_MQTT_PASSWORD=$(cat "$ETC/gateway-mqtt-secret")" IOT_LOG_LEVEL=warn \
   >"$ETC/gateway.env"
 # README "Several gateways on one host": each replica's own metrics port.
 for i in 1 2; do echo "IOT_GATEWAY_METRICS_PORT=$(iot_free_port)" >"$ETC/gateway-$i.env"; done)
start_stage "$A"
say "host A up (iot-migrate, Mosquitto, iot-api, iot-gateway@1, iot-gateway@2)"
unit_env "$A" "$UNITS/iot-gateway@.service" 2 >"$TMP/gateway2.env"
grep -qx "IOT_GATEWAY_CLIENT_ID=iot-gateway-$(hostname -s)-2" "$TMP/gateway2.env" ||
  fail "the template does not give replica 2 its own client id"

# --- 2. posts, then a backup while posts go on ----------------------------------------------------------
ops_register "$PK" "$DEVICES" "$TMP/devices.csv"
SU_A=$(iot_pg_dsn "$A/pg" "$PG_PORT" postgres postgres)
ops_backup_while_posting "$TMP/devices.csv" "$BACKUP" --host --root "$A" --pg-dsn "$SU_A" "$TMP/backup.tar"
[[ $(stat -c %a "$TMP/backup.tar") == 600 ]] || fail "the backup is not mode 600"
tar -tf "$TMP/backup.tar" >"$TMP/backup.list"
for member in iot.dump files/etc/iot-cloud/migrate.env files/etc/iot-cloud/gateway-2.env files/etc/iot-cloud/tls/ca.key \
              files/etc/iot-cloud/admin-token files/etc/mosquitto/conf.d/iot-cloud.conf \
              files/etc/mosquitto/certs/iot-cloud-server.key; do
  grep -qx "$member" "$TMP/backup.list" || fail "the backup lacks $member"
done
grep -qx 'mode: host' <(tar -xOf "$TMP/backup.tar" MANIFEST) || fail "the manifest does not say mode: host"
if "$RESTORE" --data-dir "$TMP/x" "$TMP/backup.tar" >/dev/null 2>&1; then fail "a host backup was restored as a local one"; fi

# --- 3. host A gone; host B from the backup -------------------------------------------------------------
stop_stage
iot_pg_stop "$A/pg"
B=$TMP/b
mkdir -p "$B"
iot_pg_init "$B/pg" 1
iot_pg_start "$B/pg" "$PG_PORT" "$TMP/pg-b.log"  # the restored files name this port
SU_B=$(iot_pg_dsn "$B/pg" "$PG_PORT" postgres postgres)
mkdir -p "$TMP/busy/etc/iot-cloud" && touch "$TMP/busy/etc/iot-cloud/api.env"
if "$RESTORE" --host --root "$TMP/busy" --pg-dsn "$SU_B" "$TMP/backup.tar" >"$TMP/refused.log" 2>&1; then
  fail "restore.sh --host wrote over an existing /etc/iot-cloud"
fi
grep -q "iot-cloud is not empty" "$TMP/refused.log" || { cat "$TMP/refused.log"; fail "restore.sh --host refused for another reason"; }
"$RESTORE" --host --root "$B" --pg-dsn "$SU_B" "$TMP/backup.tar" >"$TMP/restore.log" 2>&1 ||
  { cat "$TMP/restore.log"; fail "restore.sh --host"; }
if "$RESTORE" --host --root "$TMP/fresh" --pg-dsn "$SU_B" "$TMP/backup.tar" >>"$TMP/refused.log" 2>&1; then
  fail "restore.sh --host restored into a cluster that holds the database"
fi
grep -q "the database iot exists already" "$TMP/refused.log" || { cat "$TMP/refused.log"; fail "the second restore failed for another reason"; }
for f in etc/iot-cloud/admin-token etc/iot-cloud/api.env etc/iot-cloud/tls/ca.key etc/iot-cloud/gateway-1.env \
         etc/mosquitto/conf.d/iot-cloud.conf etc/mosquitto/certs/iot-cloud-ca.crt; do
  cmp -s "$A/$f" "$B/$f" || fail "$f was not restored"
done
[[ $(stat -c %a "$B/etc/iot-cloud") == 700 && $(stat -c %a "$B/etc/iot-cloud/api.env") == 600 ]] ||
  fail "the restored /etc/iot-cloud is not private"
start_stage "$B"
say "host B up from the backup"

# --- 4. checks -------------------------------------------------------------------------------------------
ops_check_restored "$B" "$PK" "$TMP/devices.csv" "$DEVICES" "$(cat "$A/etc/iot-cloud/admin-token")"
