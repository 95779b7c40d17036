#!/usr/bin/env bash
# Backs up a running platform, online, while devices post (README "Backup and restore"):
#
#   deploy/backup.sh [--data-dir DIR] FILE.tar     the deploy/local/run.sh deployment (default $IOT_DATA_DIR
#                                                  or ./.local)
#   deploy/backup.sh --compose FILE.tar            the docker-compose.yml deployment (its volumes; run from the
#                                                  checkout, COMPOSE_PROJECT_NAME / IOT_COMPOSE as for compose)
#   deploy/backup.sh --host [--root DIR] [--pg-dsn DSN] FILE.tar
#                                                  a host install (README "Install on a host", root): the files
#                                                  the systemd units read, /etc/iot-cloud/ (EnvironmentFiles,
#                                                  pg.secrets/, broker secrets, admin token, tls/, per-replica
#                                                  gateway-N.env) and Mosquitto's /etc/mosquitto/conf.d/iot-cloud.conf
#                                                  and certs/iot-cloud-*; the database named by migrate.env's
#                                                  IOT_PG_DSN, dumped by the local superuser over the socket
#                                                  (runuser -u postgres) or through --pg-dsn, a connection
#                                                  string of a role that reads every table (a superuser, or
#                                                  pg_read_all_data) when PostgreSQL is elsewhere. --root: the
#                                                  host's file system under DIR (a staged layout; default /)
#
# FILE.tar (mode 600: it holds every secret) contains
#   iot.dump    pg_dump of the `iot` database in custom format: one REPEATABLE READ snapshot, so the dump is
#               consistent (every post the gateway answered before the snapshot, none half) while writers go
#               on; devices, their secrets, product secrets, thing models, history, API tokens, audit log
#   files/      the secrets kept outside PostgreSQL: the PostgreSQL role passwords, the broker's service-account
#               secrets, the admin token, the TLS CA and server certificate with their keys (--host: the
#               files under their paths, etc/iot-cloud/... and etc/mosquitto/...)
#   MANIFEST    what, when, from where, and the sha256 of each member
# Not included: the broker's persistence (messages queued for sessions at that moment: a device resends
# what it was not answered) and logs. Restore with deploy/restore.sh.
set -euo pipefail
IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

mode=local DATA=${IOT_DATA_DIR:-$PWD/.local} OUT= ROOT=/ PG_DSN=
while (($#)); do
  case $1 in
    --data-dir) DATA=${2:?--data-dir DIR}; shift 2 ;;
    --compose) mode=compose; shift ;;
    --host) mode=host; shift ;;
    --root) ROOT=${2:?--root DIR}; shift 2 ;;
    --pg-dsn) PG_DSN=${2:?--pg-dsn DSN}; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/{/^set -e/!p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) iot_die "unknown option $1 (see --help)" ;;
    *) OUT=$1; shift ;;
  esac
done
[[ -n $OUT ]] || iot_die "usage: deploy/backup.sh [--data-dir DIR | --compose | --host [--root DIR] [--pg-dsn DSN]] FILE.tar"
[[ $mode == host || ($ROOT == / && -z $PG_DSN) ]] || iot_die "--root and --pg-dsn go with --host"
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
elif [[ $mode == host ]]; then
  ETC=${ROOT%/}/etc/iot-cloud
  [[ -f $ETC/migrate.env ]] || iot_die "no host install in $ETC (no migrate.env; README \"Install on a host\")"
  dsn=$(iot_env_value "$ETC/migrate.env" IOT_PG_DSN)
  [[ -n $dsn ]] || iot_die "$ETC/migrate.env has no IOT_PG_DSN"
  mapfile -t pg < <(iot_dsn "$dsn" host port dbname)
  db=${pg[2]:-iot}
  # The snapshot as in the other modes (one REPEATABLE READ transaction, online), by a role that reads every
  # table: iot-api creates the daily partitions, so the schema's owner alone cannot.
  if [[ -n $PG_DSN ]]; then
    pg_dump --dbname="$(iot_dsn "$PG_DSN" --db "$db")" --format=custom --file="$WORK/iot.dump" ||
      iot_die "pg_dump through --pg-dsn failed"
  else
    [[ ${pg[0]} == "" || ${pg[0]} == 127.0.0.1 || ${pg[0]} == localhost || ${pg[0]} == ::1 || ${pg[0]} == /* ]] ||
      iot_die "the database is on ${pg[0]}: give --pg-dsn (a role that reads every table there)"
    [[ $(id -u) -eq 0 ]] || iot_die "run as root (pg_dump as the local superuser postgres), or give --pg-dsn"
    runuser -u postgres -- pg_dump -p "${pg[1]}" -d "$db" --format=custom >"$WORK/iot.dump" ||
      iot_die "pg_dump as postgres failed (a Debian cluster on port ${pg[1]}?)"
  fi
  mkdir -p "$WORK/files/etc"
  cp -a "$ETC" "$WORK/files/etc/iot-cloud"
  if [[ -f $ROOT/etc/mosquitto/conf.d/iot-cloud.conf ]]; then
    mkdir -p "$WORK/files/etc/mosquitto/conf.d"
    cp -a "$ROOT/etc/mosquitto/conf.d/iot-cloud.conf" "$WORK/files/etc/mosquitto/conf.d/"
  fi
  for f in "$ROOT"/etc/mosquitto/certs/iot-cloud-*; do
    [[ -f $f ]] || continue
    mkdir -p "$WORK/files/etc/mosquitto/certs"
    cp -a "$f" "$WORK/files/etc/mosquitto/certs/"
  done
  source_desc="host install ${ROOT%/}/etc/iot-cloud, database $db"
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
  source_desc="${compose[*]} (project ${COMPOSE_PROJECT_NAME:-$(basename "$PWD")} unless -p names another)"
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
