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
ops_publish "$TMP/before.json" "$TMP/devices.csv" 200 4 1 || fail "posts before the backup were not all answered"
acked_before=$(ops_json "$TMP/before.json" 'j["answered_200"]')
((acked_before > 0)) || fail "nothing answered before the backup"

ops_publish "$TMP/during.json" "$TMP/devices.csv" 200 6 100000 &
during_pid=$!
ops_cleanup_list+=("$during_pid")
sleep 1
"$IOT_ROOT/deploy/backup.sh" --data-dir "$A" "$TMP/backup.tar" >"$TMP/backup.log" 2>&1 || { cat "$TMP/backup.log"; fail "deploy/backup.sh"; }
posts_after_backup=$(ops_psql "$A" -c "SELECT count(*) FROM message_dedupe")
wait "$during_pid" || fail "posts during the backup were not all answered"
acked_during=$(ops_json "$TMP/during.json" 'j["answered_200"]')
say "backup taken while posting: $acked_before answered before, $acked_during during ($posts_after_backup stored right after the dump)"
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

ops_acked_ranges "$TMP/before.json" >"$TMP/before.csv"
read -r acked stored <<<"$(ops_check_stored "$B" "$PK" "$TMP/before.csv")"
[[ $acked == "$acked_before" ]] || fail "range bookkeeping: $acked != $acked_before"
[[ $stored == "$acked" ]] || fail "$((acked - stored)) of $acked posts answered before the backup are missing after the restore"
# The snapshot is transactionally whole: each stored message has its 5 property values (the posts carry 5).
bad=$(ops_psql "$B" -c "SELECT count(*) FROM devices d WHERE d.product_key = '$PK' AND
  (SELECT count(*) FROM property_history h WHERE h.device_id = d.id) <> 5 * (SELECT count(*) FROM message_dedupe m WHERE m.device_id = d.id)")
[[ $bad == 0 ]] || fail "$bad devices have history rows without their message (or the reverse)"
restored_during=$(ops_psql "$B" -c "SELECT count(*) FROM message_dedupe WHERE message_id::bigint >= 100000")
# Old secrets: every device connects and its posts are answered by the restored platform.
ops_publish "$TMP/after.json" "$TMP/devices.csv" 100 2 200000 || fail "devices did not reconnect with their old secrets"
[[ $(ops_json "$TMP/after.json" 'j["connect"]["connected"]') == "$DEVICES" ]] || fail "not every device connected"
[[ $(ops_json "$TMP/after.json" 'j["answered_200"]') == $(ops_json "$TMP/after.json" 'j["posts_sent"]') ]] ||
  fail "posts after the restore were not all answered 200"
iot_rest "http://127.0.0.1:$HTTP_PORT" "$(cat "$A/admin-token")" GET "/products/$PK/devices" >/dev/null
say "ok: $stored/$acked posts answered before the backup restored; $restored_during of the $acked_during answered during it are in the snapshot; $DEVICES devices reconnected with their old secrets"
