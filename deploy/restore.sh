#!/usr/bin/env bash
# Restores a backup made by deploy/backup.sh into a fresh deployment (README "Backup and restore"):
#
#   deploy/restore.sh [--data-dir DIR] FILE.tar    a new deploy/local/run.sh data directory (DIR must not hold
#                                                  a cluster yet); then start it: IOT_DATA_DIR=DIR deploy/local/run.sh
#   deploy/restore.sh --compose FILE.tar           fresh volumes of the compose project (after `down -v`, or a
#                                                  new host); then `docker compose up -d`
#
# Order: the secrets first (the PostgreSQL role passwords, broker accounts, admin token, TLS), then a new
# cluster whose roles get those passwords, then pg_restore of the dump in one transaction (all or nothing),
# then PostgreSQL is stopped again. Devices reconnect with their old secrets (they are in the dump); the
# services start with their old passwords and the broker with its old accounts; the schema is migrated
# forward at start when the backup came from an older version.
set -euo pipefail
IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

mode=local DATA=${IOT_DATA_DIR:-$PWD/.local} IN=
while (($#)); do
  case $1 in
    --data-dir) DATA=${2:?--data-dir DIR}; shift 2 ;;
    --compose) mode=compose; shift ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) iot_die "unknown option $1 (see --help)" ;;
    *) IN=$1; shift ;;
  esac
done
[[ -n $IN && -f $IN ]] || iot_die "usage: deploy/restore.sh [--data-dir DIR | --compose] FILE.tar"

WORK=$(umask 077; mktemp -d "${TMPDIR:-/tmp}/iot-restore.XXXXXX")
PG_STARTED=
cleanup() {
  [[ -n $PG_STARTED ]] && iot_pg_stop "$DATA/pg"
  rm -rf "$WORK"
}
trap cleanup EXIT
tar -C "$WORK" -xf "$IN" || iot_die "cannot read $IN"
[[ -f $WORK/MANIFEST && -s $WORK/iot.dump ]] || iot_die "$IN is not a backup made by deploy/backup.sh"
(cd "$WORK" && sed -n '/^[0-9a-f]\{64\}  /p' MANIFEST | sha256sum --quiet -c -) || iot_die "$IN is damaged (checksums differ)"
made=$(sed -n 's/^mode: //p' "$WORK/MANIFEST")
if [[ $made != "$mode" ]]; then
  [[ $made == compose ]] && iot_die "$IN is a backup of a compose deployment: restore it with --compose"
  iot_die "$IN is a backup of a deploy/local/run.sh data directory: restore it without --compose"
fi

if [[ $mode == local ]]; then
  [[ -e $DATA/pg/PG_VERSION ]] && iot_die "$DATA already holds a PostgreSQL cluster: restore into a new data directory"
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  DATA=$(cd "$DATA" && pwd)
  # Secrets first: iot_pg_init and iot_pg_setup_platform take the passwords they find there.
  rm -rf "$(iot_pg_secrets_dir "$DATA/pg")"
  cp -a "$WORK/files/pg.secrets" "$(iot_pg_secrets_dir "$DATA/pg")"
  for f in gateway-mqtt-secret api-mqtt-secret admin-token; do
    [[ -f $WORK/files/$f ]] && cp -a "$WORK/files/$f" "$DATA/"
  done
  if [[ -d $WORK/files/tls ]]; then rm -rf "$DATA/tls"; cp -a "$WORK/files/tls" "$DATA/tls"; fi
  mkdir -p "$DATA/logs"
  chmod 700 "$DATA/logs"
  [[ $(id -u) -eq 0 ]] && iot_grant_traverse postgres "$DATA/logs"
  iot_pg_init "$DATA/pg" 1
  port=$(iot_free_port)
  iot_pg_start "$DATA/pg" "$port" "$DATA/logs/postgresql.log"
  PG_STARTED=1
  iot_pg_setup_platform "$DATA/pg" "$port" iot
  # As the superuser, in one transaction: objects keep their owners (iot_migrator) and grants.
  PGPASSWORD=$(iot_pg_password "$DATA/pg" postgres) pg_restore -h 127.0.0.1 -p "$port" -U postgres -d iot \
    --single-transaction --exit-on-error "$WORK/iot.dump" 2>"$WORK/restore.log" ||
    { cat "$WORK/restore.log" >&2; iot_die "pg_restore failed"; }
  devices=$(iot_pg_psql "$DATA/pg" "$port" iot -c "SELECT count(*) FROM devices")
  iot_pg_stop "$DATA/pg"
  PG_STARTED=
  iot_say "restored into $DATA ($devices devices); start it with: IOT_DATA_DIR=$DATA deploy/local/run.sh"
else
  compose=()
  iot_compose_cmd compose
  # Fresh volumes only: a restore over live data would mix two histories.
  if "${compose[@]}" run --rm --no-deps -T --entrypoint test secrets -s /secrets/master/pg-postgres 2>/dev/null; then
    iot_die "the compose project's secrets volume is not empty: restore into fresh volumes (docker compose down -v first)"
  fi
  tar -C "$WORK/files" -cf - master tls |
    "${compose[@]}" run --rm --no-deps -T --entrypoint tar secrets -C /secrets -xf - ||
    iot_die "could not write the secrets volume"
  # PostgreSQL's entrypoint creates the cluster, the roles with the restored passwords and the empty database.
  "${compose[@]}" up -d postgres
  for ((i = 0; i < 120; i++)); do
    "${compose[@]}" exec -T postgres pg_isready -q -h 127.0.0.1 -U postgres && break
    sleep 1
  done
  ((i < 120)) || iot_die "PostgreSQL did not become ready"
  "${compose[@]}" exec -T postgres sh -c \
    'PGPASSWORD=$(cat /secrets/postgres/postgres) exec pg_restore -h 127.0.0.1 -U postgres -d iot --single-transaction --exit-on-error' \
    <"$WORK/iot.dump" || iot_die "pg_restore failed"
  iot_say "restored; start the rest with: docker compose up -d"
fi
