#!/usr/bin/env bash
# Backs up a running platform, online, while devices post (README "Backup and restore"):
#
#   deploy/backup.sh [--data-dir DIR] FILE.tar     the deploy/local/run.sh deployment (default $IOT_DATA_DIR
#                                                  or ./.local)
#   deploy/backup.sh --compose FILE.tar            the docker-compose.yml deployment (its volumes; run from the
#                                                  checkout, COMPOSE_PROJECT_NAME / IOT_COMPOSE as for compose)
#
# FILE.tar (mode 600: it holds every secret) contains
#   iot.dump    pg_dump of the `iot` database in custom format: one REPEATABLE READ snapshot, so the dump is
#               consistent (every post the gateway answered before the snapshot, none half) while writers go
#               on; devices, their secrets, product secrets, thing models, history, API tokens, audit log
#   files/      the secrets kept outside PostgreSQL: the PostgreSQL role passwords, the broker's service-account
#               secrets, the admin token, the TLS CA and server certificate with their keys
#   MANIFEST    what, when, from where, and the sha256 of each member
# Not included: the broker's persistence (messages queued for sessions at that moment: a device resends
# what it was not answered) and logs. Restore with deploy/restore.sh.
set -euo pipefail
IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

mode=local DATA=${IOT_DATA_DIR:-$PWD/.local} OUT=
while (($#)); do
  case $1 in
    --data-dir) DATA=${2:?--data-dir DIR}; shift 2 ;;
    --compose) mode=compose; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) iot_die "unknown option $1 (see --help)" ;;
    *) OUT=$1; shift ;;
  esac
done
[[ -n $OUT ]] || iot_die "usage: deploy/backup.sh [--data-dir DIR | --compose] FILE.tar"
[[ -e $OUT ]] && iot_die "$OUT exists; choose a new name"

WORK=$(umask 077; mktemp -d "${TMPDIR:-/tmp}/iot-backup.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/files"

if [[ $mode == local ]]; then
  [[ -f $DATA/pg/PG_VERSION ]] || iot_die "no PostgreSQL cluster in $DATA/pg (--data-dir?)"
  [[ -f $DATA/pg/postmaster.pid ]] || iot_die "PostgreSQL of $DATA is not running (the backup is taken online: start deploy/local/run.sh)"
  port=$(sed -n 4p "$DATA/pg/postmaster.pid")
  # The snapshot: pg_dump runs in one REPEATABLE READ transaction and takes only ACCESS SHARE locks, so the
  # gateway and the API keep writing (a DROP of an old partition waits until the dump ends).
  PGPASSWORD=$(cat "$(iot_pg_secrets_dir "$DATA/pg")/postgres") \
    pg_dump -h 127.0.0.1 -p "$port" -U postgres -d iot --format=custom --file="$WORK/iot.dump" ||
    iot_die "pg_dump failed"
  cp -a "$(iot_pg_secrets_dir "$DATA/pg")" "$WORK/files/pg.secrets"
  for f in gateway-mqtt-secret api-mqtt-secret admin-token; do
    [[ -f $DATA/$f ]] && cp -a "$DATA/$f" "$WORK/files/"
  done
  [[ -d $DATA/tls ]] && cp -a "$DATA/tls" "$WORK/files/tls"
  source_desc="deploy/local/run.sh data directory $(cd "$DATA" && pwd)"
else
  compose=()
  iot_compose_cmd compose
  "${compose[@]}" exec -T postgres sh -c \
    'PGPASSWORD=$(cat /secrets/postgres/postgres) exec pg_dump -h 127.0.0.1 -U postgres -d iot --format=custom' \
    >"$WORK/iot.dump" || iot_die "pg_dump in the postgres container failed (is the platform up?)"
  # The secrets volume: master/ (database passwords, broker accounts, admin token) and tls/; the per-service
  # copies are made again from them on every start.
  "${compose[@]}" run --rm --no-deps -T --entrypoint tar secrets -C /secrets -cf - master tls \
    | tar -C "$WORK/files" -xf - || iot_die "could not read the secrets volume"
  source_desc="docker compose project ${COMPOSE_PROJECT_NAME:-$(basename "$PWD")}"
fi
[[ -s $WORK/iot.dump ]] || iot_die "the dump is empty"

{
  echo "iot-cloud backup"
  echo "mode: $mode"
  echo "source: $source_desc"
  echo "taken: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "pg_dump: $(pg_dump --version 2>/dev/null || echo in-container)"
  (cd "$WORK" && find iot.dump files -type f -print0 | sort -z | xargs -0 sha256sum)
} >"$WORK/MANIFEST"
(umask 077; tar -C "$WORK" -cf "$OUT.partial" MANIFEST iot.dump files)
chmod 600 "$OUT.partial"
mv "$OUT.partial" "$OUT"
iot_say "backup written: $OUT ($(du -h "$OUT" | cut -f1); it holds secrets: keep it like them)"
