#!/usr/bin/env bash
# Restores a backup made by deploy/backup.sh into a fresh deployment (README "Backup and restore"):
#
#   deploy/restore.sh [--data-dir DIR] FILE.tar    a new deploy/local/run.sh data directory (DIR must not hold
#                                                  a cluster yet); then start it: IOT_DATA_DIR=DIR deploy/local/run.sh
#   deploy/restore.sh --compose FILE.tar           fresh volumes of the compose project (after `down -v`, or a
#                                                  new host); then `docker compose up -d`
#   deploy/restore.sh --host [--root DIR] [--pg-dsn DSN] FILE.tar
#                                                  a host install (root; after README "Install on a host" step
#                                                  1, with PostgreSQL running and no /etc/iot-cloud yet): the
#                                                  files back in /etc/iot-cloud and /etc/mosquitto, the roles
#                                                  with the passwords the EnvironmentFiles and the Mosquitto
#                                                  configuration name, the database; then `systemctl enable
#                                                  --now iot-migrate mosquitto iot-api iot-gateway`. PostgreSQL
#                                                  as the local superuser over the socket (runuser -u postgres),
#                                                  or --pg-dsn (a superuser's connection string, any database).
#                                                  --root: the host's file system under DIR (default /)
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

mode=local DATA=${IOT_DATA_DIR:-$PWD/.local} IN= ROOT=/ PG_DSN=
while (($#)); do
  case $1 in
    --data-dir) DATA=${2:?--data-dir DIR}; shift 2 ;;
    --compose) mode=compose; shift ;;
    --host) mode=host; shift ;;
    --root) ROOT=${2:?--root DIR}; shift 2 ;;
    --pg-dsn) PG_DSN=${2:?--pg-dsn DSN}; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/{/^set -e/!p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) iot_die "unknown option $1 (see --help)" ;;
    *) IN=$1; shift ;;
  esac
done
[[ -n $IN && -f $IN ]] || iot_die "usage: deploy/restore.sh [--data-dir DIR | --compose | --host [--root DIR] [--pg-dsn DSN]] FILE.tar"
[[ $mode == host || ($ROOT == / && -z $PG_DSN) ]] || iot_die "--root and --pg-dsn go with --host"

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
  [[ $made == host ]] && iot_die "$IN is a backup of a host install: restore it with --host"
  iot_die "$IN is a backup of a deploy/local/run.sh data directory: restore it without --compose or --host"
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
elif [[ $mode == host ]]; then
  ETC=${ROOT%/}/etc/iot-cloud
  B=$WORK/files/etc
  [[ -f $B/iot-cloud/migrate.env ]] || iot_die "$IN holds no etc/iot-cloud/migrate.env"
  # A fresh host only: a restore over a running install would mix two histories.
  if [[ -d $ETC && -n $(ls -A "$ETC") ]]; then
    iot_die "$ETC is not empty: restore onto a fresh host (move it away first)"
  fi
  # The roles and their passwords as the services will log in: the EnvironmentFiles' and the broker
  # plugin's connection strings. The migrator's role owns the database; iot-api's role is its member.
  dsn=$(iot_env_value "$B/iot-cloud/migrate.env" IOT_PG_DSN)
  mapfile -t pg < <(iot_dsn "$dsn" user password host port dbname)
  owner=${pg[0]} db=${pg[4]:-iot}
  [[ -n $owner ]] || iot_die "migrate.env's IOT_PG_DSN names no user"
  roles=() passwords=() api_role=
  add_role() {  # add_role <dsn>
    local parts i
    mapfile -t parts < <(iot_dsn "$1" user password)
    [[ -n ${parts[0]} ]] || return 0
    for i in "${!roles[@]}"; do [[ ${roles[i]} == "${parts[0]}" ]] && return 0; done
    roles+=("${parts[0]}") passwords+=("${parts[1]}")
  }
  add_role "$dsn"
  for f in api gateway; do
    if [[ -f $B/iot-cloud/$f.env ]]; then
      d=$(iot_env_value "$B/iot-cloud/$f.env" IOT_PG_DSN)
      add_role "$d"
      [[ $f == api ]] && api_role=$(iot_dsn "$d" user)
    fi
  done
  if [[ -f $B/mosquitto/conf.d/iot-cloud.conf ]]; then
    add_role "$(sed -n 's/^plugin_opt_pg_dsn[[:space:]]\{1,\}//p' "$B/mosquitto/conf.d/iot-cloud.conf" | tail -1)"
  fi
  # psql_su <database> [psql args]: the superuser, through --pg-dsn or as postgres over the local socket.
  psql_su() {
    local target=$1; shift
    if [[ -n $PG_DSN ]]; then
      PGOPTIONS="-c client_min_messages=warning" psql "$(iot_dsn "$PG_DSN" --db "$target")" -X -v ON_ERROR_STOP=1 -qAt "$@"
    else
      PGOPTIONS="-c client_min_messages=warning" runuser -u postgres -- psql -p "${pg[3]}" -d "$target" -X -v ON_ERROR_STOP=1 -qAt "$@"
    fi
  }
  if [[ -z $PG_DSN ]]; then
    [[ $(id -u) -eq 0 ]] || iot_die "run as root (psql as the local superuser postgres), or give --pg-dsn"
    [[ ${pg[2]} == "" || ${pg[2]} == 127.0.0.1 || ${pg[2]} == localhost || ${pg[2]} == ::1 || ${pg[2]} == /* ]] ||
      iot_die "the database is on ${pg[2]}: give --pg-dsn (a superuser there)"
  fi
  psql_su postgres -c 'SELECT 1' >/dev/null || iot_die "cannot reach PostgreSQL as a superuser"
  [[ -z $(psql_su postgres -v db="$db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'") ]] ||
    iot_die "the database $db exists already: restore into a fresh cluster (or drop it first)"
  # Roles the dump names that no connection string does (the broker's, when Mosquitto runs elsewhere):
  # created without login so that their grants restore; give them a password when something logs in as them.
  while read -r r; do
    for x in "${roles[@]}"; do [[ $x == "$r" ]] && continue 2; done
    roles+=("$r") passwords+=("")
    iot_say "the dump names the role $r, no connection string does: created NOLOGIN"
  done < <(pg_restore --schema-only -f - "$WORK/iot.dump" |
    sed -nE 's/.* OWNER TO ([^;]+);$/\1/p; s/^(GRANT|REVOKE) .* (TO|FROM) ([^;]+);$/\3/p' | tr ',' '\n' |
    tr -d ' "' | grep -vxE 'PUBLIC|postgres|' | sort -u)
  for i in "${!roles[@]}"; do
    login="LOGIN PASSWORD %L"
    [[ -n ${passwords[i]} ]] || login="NOLOGIN"
    psql_su postgres -v role="${roles[i]}" -v pw="${passwords[i]}" >/dev/null <<SQL || iot_die "could not create the role ${roles[i]}"
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE $login', :'role', :'pw') \\gexec
SQL
  done
  if [[ -n $api_role && $api_role != "$owner" ]]; then
    psql_su postgres -v owner="$owner" -v api="$api_role" >/dev/null <<<"SELECT format('GRANT %I TO %I', :'owner', :'api') \gexec"
  fi
  psql_su postgres -v db="$db" -v owner="$owner" >/dev/null <<'SQL' || iot_die "could not create the database $db"
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
  for i in "${!roles[@]}"; do
    [[ ${roles[i]} == "$owner" ]] && continue
    psql_su postgres -v db="$db" -v role="${roles[i]}" >/dev/null <<<"SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'db', :'role') \gexec"
  done
  psql_su "$db" -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC' >/dev/null
  # As the superuser, in one transaction: objects keep their owners and grants.
  if [[ -n $PG_DSN ]]; then
    pg_restore --dbname="$(iot_dsn "$PG_DSN" --db "$db")" --single-transaction --exit-on-error \
      "$WORK/iot.dump" 2>"$WORK/restore.log"
  else
    runuser -u postgres -- pg_restore -p "${pg[3]}" -d "$db" --single-transaction --exit-on-error \
      <"$WORK/iot.dump" 2>"$WORK/restore.log"
  fi || { cat "$WORK/restore.log" >&2; iot_die "pg_restore failed"; }
  devices=$(psql_su "$db" -c "SELECT count(*) FROM devices")
  # The files, with their owners and modes (root, 600/700; Mosquitto's part readable by its group).
  mkdir -p "$ETC"
  cp -a "$B/iot-cloud/." "$ETC/"
  chmod 700 "$ETC"
  if [[ -d $B/mosquitto ]]; then
    mkdir -p "${ROOT%/}/etc/mosquitto"
    cp -a "$B/mosquitto/." "${ROOT%/}/etc/mosquitto/"
    if getent group mosquitto >/dev/null && [[ $(id -u) -eq 0 ]]; then
      chgrp mosquitto "${ROOT%/}/etc/mosquitto/conf.d/iot-cloud.conf" "${ROOT%/}"/etc/mosquitto/certs/iot-cloud-server.key 2>/dev/null || true
    fi
  fi
  iot_say "restored $ETC and database $db ($devices devices, roles: ${roles[*]}); start it with:"
  iot_say "  systemctl daemon-reload && systemctl enable --now iot-migrate mosquitto iot-api iot-gateway"
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
