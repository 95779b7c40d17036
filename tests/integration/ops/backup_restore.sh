#!/usr/bin/env bash
# ops.backup_restore: deploy/backup.sh takes an online, consistent backup of a running platform
# (deploy/local/run.sh) while devices post, and deploy/restore.sh brings it back in a fresh data directory:
#   1. 20 devices post (iot-loadgen, QoS 1, every post answered after its commit) for 4 s: all answered.
#   2. a second stream of posts starts; 1 s later the backup is taken while it runs.
#   3. the platform is stopped; the backup is restored into a new data directory and started there (new ports).
#   4. every post answered before the backup started is stored, once; each device's stored history is whole
#      (5 values per stored message: no transaction is half in the snapshot); every device connects with its
#      old secret and posts (answered: the gateway and iot-api have their old broker and database
#      passwords); the old admin token works.
# Usage: backup_restore.sh <build dir>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PK=opsbackup1 DEVICES=20

A=$TMP/a
ops_start_platform "$A"
say "platform A up"
ops_register "$PK" "$DEVICES" "$TMP/devices.csv"
ops_backup_while_posting "$TMP/devices.csv" "$IOT_ROOT/deploy/backup.sh" --data-dir "$A" "$TMP/backup.tar"
[[ $(stat -c %a "$TMP/backup.tar") == 600 ]] || fail "the backup is not mode 600"
tar -tf "$TMP/backup.tar" >"$TMP/backup.list"
grep -qx 'files/pg.secrets/iot_gateway' "$TMP/backup.list" || fail "the backup lacks the role passwords"
grep -qx 'files/tls/ca.key' "$TMP/backup.list" || fail "the backup lacks the TLS material"
ops_stop_platform "$A"

B=$TMP/b
"$IOT_ROOT/deploy/restore.sh" --data-dir "$B" "$TMP/backup.tar" >"$TMP/restore.log" 2>&1 || { cat "$TMP/restore.log"; fail "deploy/restore.sh"; }
if "$IOT_ROOT/deploy/restore.sh" --data-dir "$B" "$TMP/backup.tar" >/dev/null 2>&1; then
  fail "restore.sh wrote over an existing cluster"
fi
cmp -s "$A/admin-token" "$B/admin-token" && cmp -s "$A/tls/ca.key" "$B/tls/ca.key" &&
  cmp -s "$A/gateway-mqtt-secret" "$B/gateway-mqtt-secret" || fail "secrets were not restored"
ops_start_platform "$B"
say "platform B up from the backup"

# The snapshot is transactionally whole: each stored message has its 5 property values (the posts carry 5).
bad=$(ops_psql "$B" -c "SELECT count(*) FROM devices d WHERE d.product_key = '$PK' AND
  (SELECT count(*) FROM property_history h WHERE h.device_id = d.id) <> 5 * (SELECT count(*) FROM message_dedupe m WHERE m.device_id = d.id)")
[[ $bad == 0 ]] || fail "$bad devices have history rows without their message (or the reverse)"
ops_check_restored "$B" "$PK" "$TMP/devices.csv" "$DEVICES" "$(cat "$A/admin-token")"
