# Shell functions shared by deploy/local/run.sh, tests/run.sh and bench/*.sh: one place that knows how to
# build the project and run a private PostgreSQL and Mosquitto. Source it; it defines functions only.
# shellcheck shell=bash

IOT_ROOT=${IOT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

iot_say() { printf '[iot] %s\n' "$*" >&2; }
iot_die() { printf '[iot] error: %s\n' "$*" >&2; exit 1; }

# A free TCP port on 127.0.0.1, chosen by the kernel (bind to port 0), never a fixed guess.
iot_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Fails with a clear message when something already listens on the port.
iot_require_port_free() {
  local port=$1 name=$2 var=$3
  if python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1])))' "$port" 2>/dev/null; then
    return 0
  fi
  local who
  who=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -E 's/.*users:\(\("([^"]+)".*/\1/' | head -1)
  iot_die "port $port for $name is taken${who:+ by $who}; pick another with $var=<port>"
}

# Runs a command as `user` when we are root, as ourselves otherwise.
iot_as() {
  local user=$1; shift
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# When root, daemons that drop privileges (postgres, mosquitto) must be able to reach files below `dir`
# even when the checkout sits under a 0700 home: grant them search permission on each ancestor with an ACL
# (execute only; nothing becomes listable or readable).
iot_grant_traverse() {
  local user=$1 dir=$2
  [[ $(id -u) -eq 0 ]] || return 0
  local d
  d=$(cd "$dir" && pwd)
  while [[ $d != / ]]; do
    if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
      setfacl -m "u:$user:--x" "$d" || iot_die "cannot grant $user access to $d (install acl or move the data directory)"
    fi
    d=$(dirname "$d")
  done
}

# iot_rest <base url> <token> <METHOD> <path under /api/v1> [JSON|@file]: one REST call; prints the body,
# dies on a non-2xx answer.
iot_rest() {
  local out
  out=$(curl -sS -X "$3" "$1/api/v1$4" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    ${5:+--data-binary "$5"} -w '\n%{http_code}') || iot_die "$3 $4: curl failed"
  [[ ${out##*$'\n'} == 2?? ]] || iot_die "$3 $4: HTTP ${out##*$'\n'}: ${out%$'\n'*}"
  printf '%s' "${out%$'\n'*}"
}

# ---------------------------------------------------------------------------------------------------------
# Build

iot_build() {
  local build_dir=$1 build_type=$2; shift 2
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  mkdir -p "$build_dir"
  if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    cmake -S "$IOT_ROOT" -B "$build_dir" "${gen[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@" >"$build_dir/configure.log" 2>&1 ||
      { cat "$build_dir/configure.log" >&2; iot_die "cmake configure failed"; }
  fi
  cmake --build "$build_dir" -j"$(nproc)" || iot_die "build failed"
}

# iot_configure_bench <build_dir>: a Release configuration with the benchmarks, whatever made the build
# dir (deploy/local/run.sh configures build-release without them): benchmarks build what they need, and
# get the benchmark tooling installed (install-deps.sh --test).
iot_configure_bench() {
  local build_dir=$1 gen=()
  "$IOT_ROOT/deploy/install-deps.sh" --test
  command -v ninja >/dev/null && gen=(-G Ninja)
  mkdir -p "$build_dir"
  if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    cmake -S "$IOT_ROOT" -B "$build_dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >"$build_dir/configure.log" 2>&1 ||
      { cat "$build_dir/configure.log" >&2; iot_die "cmake configure failed"; }
  elif grep -q '^IOT_BUILD_BENCH:BOOL=OFF' "$build_dir/CMakeCache.txt"; then
    iot_say "switching the benchmarks on in $build_dir (-DIOT_BUILD_BENCH=ON)"
    cmake -S "$IOT_ROOT" -B "$build_dir" -DIOT_BUILD_BENCH=ON >>"$build_dir/configure.log" 2>&1 ||
      { tail -20 "$build_dir/configure.log" >&2; iot_die "cmake configure failed"; }
  fi
}

# ---------------------------------------------------------------------------------------------------------
# PostgreSQL

# Passwords of the cluster's roles: generated once, one file per role in <datadir>.secrets/ (mode 700,
# files 600), never a trust line. iot_pg_password <datadir> <role> prints it (creating it first).
iot_pg_secrets_dir() { printf '%s.secrets' "$1"; }
iot_pg_password() {
  local dir
  dir=$(iot_pg_secrets_dir "$1")
  (umask 077; mkdir -p "$dir")
  chmod 700 "$dir"
  if [[ ! -s $dir/$2 ]]; then
    (umask 077; openssl rand -hex 24 >"$dir/$2")
  fi
  cat "$dir/$2"
}

# iot_pg_dsn <datadir> <port> <role> <dbname>: the URI a client uses (password included: hex only).
iot_pg_dsn() {
  printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$3" "$(iot_pg_password "$1" "$3")" "$2" "$4"
}

# iot_pg_init <datadir> <durable:0|1>: creates a cluster owned by the service user (postgres when root),
# scram-sha-256 for every connection (pg_hba.conf has no trust line), the superuser's password in the
# secrets directory.
iot_pg_init() {
  local data=$1 durable=$2 owner=postgres
  [[ $(id -u) -eq 0 ]] || owner=$(id -un)
  if [[ -f $data/PG_VERSION ]]; then
    iot_pg_harden_hba "$data"
    return 0
  fi
  mkdir -p "$data"
  chmod 700 "$data"
  [[ $(id -u) -eq 0 ]] && chown "$owner": "$data"
  local sync=()
  [[ $durable == 1 ]] || sync=(--no-sync)
  # initdb reads the superuser's password from a file only its user can read, removed right after.
  local pwfile
  pwfile=$(umask 077; mktemp)
  iot_pg_password "$data" postgres >"$pwfile"
  [[ $(id -u) -eq 0 ]] && chown "$owner" "$pwfile"
  iot_as "$owner" "$PG_BIN/initdb" -D "$data" -A scram-sha-256 -U postgres --pwfile="$pwfile" \
    -E UTF8 --locale=C.UTF-8 "${sync[@]}" >"$data.initdb.log" 2>&1 ||
    { rm -f "$pwfile"; cat "$data.initdb.log" >&2; iot_die "initdb failed"; }
  rm -f "$pwfile"
  iot_as "$owner" bash -c "$(declare -f iot_pg_write_hba); iot_pg_write_hba '$data'"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$data'"
    echo "unix_socket_permissions = 0700"
    echo "password_encryption = scram-sha-256"
    echo "max_connections = 200"
    # Size it for the hot indexes (history, dedupe keys) on a real deployment: IOT_PG_SHARED_BUFFERS=1GB ...
    echo "shared_buffers = ${IOT_PG_SHARED_BUFFERS:-256MB}"
    echo "log_min_messages = warning"
    echo "logging_collector = off"
    if [[ $durable == 1 ]]; then
      # A device's reply promises a durable commit: keep fsync and synchronous_commit on.
      echo "fsync = on"
      echo "synchronous_commit = on"
    else
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >>"$data/postgresql.conf"
}

# A cluster made before scram (initdb -A trust): give the superuser a password and replace pg_hba.conf.
# Runs while the cluster is stopped; the next start reads the new file (the password is set at start by
# iot_pg_start, over the old trust rules, before they are gone).
iot_pg_harden_hba() {
  local data=$1
  grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$data/pg_hba.conf" 2>/dev/null || return 0
  touch "$data/.iot-hba-pending"
}

iot_pg_write_hba() {
  local data=$1
  local hba
  hba=$(printf '%s\n' \
    "# Generated by deploy/lib/platform.sh: every connection authenticates with scram-sha-256." \
    "local all all scram-sha-256" \
    "host all all 127.0.0.1/32 scram-sha-256" \
    "host all all ::1/128 scram-sha-256")
  printf '%s\n' "$hba" >"$data/pg_hba.conf"
}

# iot_pg_start <datadir> <port> <logfile>
iot_pg_start() {
  local data=$1 port=$2 log=$3 owner=postgres
  [[ $(id -u) -eq 0 ]] || owner=$(id -un)
  touch "$log"
  [[ $(id -u) -eq 0 ]] && chown "$owner" "$log"
  iot_as "$owner" "$PG_BIN/pg_ctl" -D "$data" -o "-p $port" -l "$log" -w -t 60 start >/dev/null ||
    { tail -20 "$log" >&2; iot_die "PostgreSQL did not start (log: $log)"; }
  if [[ -f $data/.iot-hba-pending ]]; then
    # Upgrade from a trust cluster: set the superuser's password (still over trust), then scram only.
    local pw
    pw=$(iot_pg_password "$data" postgres)
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
      -c "ALTER ROLE postgres PASSWORD '$pw'" >/dev/null || iot_die "could not set the PostgreSQL superuser's password"
    iot_as "$owner" bash -c "$(declare -f iot_pg_write_hba); iot_pg_write_hba '$data'"
    iot_as "$owner" "$PG_BIN/pg_ctl" -D "$data" reload >/dev/null
    rm -f "$data/.iot-hba-pending"
    iot_say "PostgreSQL: trust authentication replaced by scram-sha-256 (passwords in $(iot_pg_secrets_dir "$data"))"
  fi
}

# iot_pg_psql <datadir> <port> <dbname> [psql args...]: psql as the superuser (password from the secrets).
iot_pg_psql() {
  local data=$1 port=$2 db=$3; shift 3
  PGOPTIONS="-c client_min_messages=warning" PGPASSWORD=$(iot_pg_password "$data" postgres) psql -h 127.0.0.1 -p "$port" -U postgres -d "$db" \
    -v ON_ERROR_STOP=1 -qAt "$@"
}

iot_pg_stop() {
  local data=$1 owner=postgres
  [[ $(id -u) -eq 0 ]] || owner=$(id -un)
  [[ -f $data/postmaster.pid ]] || return 0
  iot_as "$owner" "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# iot_pg_setup_platform <datadir> <port> <dbname>: the platform's roles, none a superuser, each with its
# own generated password:
#   iot_migrator  owns the database and every object of the schema (iot-migrate applies migrations as it)
#   iot_api       member of iot_migrator: iot-api migrates at start and creates/drops daily partitions
#   iot_gateway   reads and writes rows (grants from the migrations, also for tables created later)
#   iot_broker    the broker plugin: reads devices and products, marks devices offline at start
# Tables of an older cluster owned by the superuser are handed to iot_migrator. Idempotent.
iot_pg_setup_platform() {
  local data=$1 port=$2 db=$3 role
  for role in iot_migrator iot_api iot_gateway iot_broker; do
    local pw
    pw=$(iot_pg_password "$data" "$role")
    iot_pg_psql "$data" "$port" postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
          CREATE ROLE $role LOGIN PASSWORD '$pw';
        ELSE
          ALTER ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$pw';
        END IF;
      END \$\$" >/dev/null || iot_die "could not create the PostgreSQL role $role"
  done
  iot_pg_psql "$data" "$port" postgres -c "GRANT iot_migrator TO iot_api" >/dev/null
  if ! iot_pg_psql "$data" "$port" postgres -c "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    iot_pg_psql "$data" "$port" postgres -c "CREATE DATABASE \"$db\" OWNER iot_migrator" >/dev/null
  fi
  iot_pg_psql "$data" "$port" "$db" >/dev/null <<SQL || iot_die "could not set up the database's owner"
ALTER DATABASE "$db" OWNER TO iot_migrator;
REVOKE ALL ON DATABASE "$db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "$db" TO iot_api, iot_gateway, iot_broker;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = 'postgres'
             AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') LOOP
    EXECUTE format('ALTER %s %s OWNER TO iot_migrator', CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = 'postgres' LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO iot_migrator', r.name);
  END LOOP;
END \$\$;
SQL
}

# iot_pg_test_role <datadir> <port> <role>: a non-superuser that may create databases (tests make one
# per test case and own it). Prints its DSN to the postgres database.
iot_pg_test_role() {
  local data=$1 port=$2 role=$3 pw
  pw=$(iot_pg_password "$data" "$role")
  iot_pg_psql "$data" "$port" postgres -c "CREATE ROLE $role LOGIN CREATEDB PASSWORD '$pw'" >/dev/null ||
    iot_die "could not create the PostgreSQL role $role"
  iot_pg_dsn "$data" "$port" "$role" postgres
}

# ---------------------------------------------------------------------------------------------------------
# TLS: iot_make_tls <dir> <hostname> makes a local CA (ca.crt, ca.key) and a server certificate signed by
# it (server.crt, server.key) for localhost, 127.0.0.1 and <hostname>, plus [extra] subjectAltName entries
# (e.g. DNS:broker,DNS:iot.example.com). For real certificates, see README.
iot_make_tls() {
  local dir=$1 host=$2 extra=${3:-}
  mkdir -p "$dir"
  (
    cd "$dir"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=IoT local CA" \
      -keyout ca.key -out ca.crt >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout server.key -out server.csr >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1%s\n' "$host" "${extra:+,$extra}" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile server.ext -out server.crt >/dev/null 2>&1
    rm -f server.csr server.ext
    chmod 644 ca.crt server.crt
  ) || iot_die "could not create TLS certificates in $dir"
}

# ---------------------------------------------------------------------------------------------------------
# Mosquitto

# iot_mosquitto_conf <dir> <bind> <port> [tls_port cafile certfile keyfile [tls_bind]] — writes
# <dir>/mosquitto.conf: plain MQTT on <bind>:<port>, TLS on <tls_bind> (default <bind>):<tls_port>.
# The plugin (device auth, ACL, lifecycle) is added by iot_mosquitto_plugin_conf when it exists.
iot_mosquitto_conf() {
  local dir=$1 bind=$2 port=$3 tls_port=${4:-} cafile=${5:-} certfile=${6:-} keyfile=${7:-} tls_bind=${8:-$2}
  mkdir -p "$dir"
  chmod 700 "$dir"
  # It holds the plugin's database password and the service accounts' hashes: owner only.
  (umask 077; : >"$dir/mosquitto.conf")
  chmod 600 "$dir/mosquitto.conf"
  {
    echo "# Generated by deploy/lib/platform.sh; edits are overwritten."
    echo "per_listener_settings false"
    echo "pid_file $dir/mosquitto.pid"
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
    echo "log_type notice"
    echo "connection_messages false"
    echo "persistence true"
    echo "persistence_location $dir/"
    echo "autosave_interval 60"
    # The platform's own consumers must never lose queued QoS 1 messages (Mosquitto's defaults drop them
    # silently for a lagging subscriber): no per-client count limit, a byte cap instead, and the memory
    # limit as the last guard. Orphan device sessions (clean=false with a new clientId per start) expire.
    echo "max_queued_messages 0"
    echo "max_queued_bytes 0"
    echo "max_inflight_messages 0"
    echo "max_inflight_bytes 0"
    echo "persistent_client_expiration 1d"
    # No memory_limit by default: Mosquitto 2.0.11's memory counter underflows after many clients
    # connect, post and leave (eclipse-mosquitto/mosquitto#1437), and with any limit set it then accepts
    # and closes every new connection (seen by bench/e2e.sh after 1,000 devices). IOT_MQTT_MEMORY_LIMIT
    # sets one on brokers without that bug.
    echo "memory_limit ${IOT_MQTT_MEMORY_LIMIT:-0}"
    echo "max_packet_size 266240"  # 256 KiB payload (Alibaba's limit) plus topic and header
    echo "max_keepalive 1200"
    # $SYS/broker/... figures (re-exported by the gateways on /metrics) every IOT_MQTT_SYS_INTERVAL s.
    echo "sys_interval ${IOT_MQTT_SYS_INTERVAL:-10}"
    # Commands and replies are small messages: without TCP_NODELAY, Nagle plus delayed ACKs hold them
    # back for up to 40 ms per hop (a sync service call crosses four).
    echo "set_tcp_nodelay true"
    echo "allow_zero_length_clientid false"
    echo "listener $port $bind"
    if [[ -n $tls_port ]]; then
      echo "listener $tls_port $tls_bind"
      echo "cafile $cafile"
      echo "certfile $certfile"
      echo "keyfile $keyfile"
      echo "tls_version tlsv1.2"
    fi
  } >"$dir/mosquitto.conf"
}

# iot_mosquitto_ws_conf <dir> <bind> <ws_port> [wss_port cafile certfile keyfile [wss_bind]] — appends MQTT over
# WebSocket listeners (Alibaba's convention for browsers and mini-programs: ws on 8083, wss on 8084, path
# /mqtt) to <dir>/mosquitto.conf. Same plugin, auth, ACL and lifecycle as TCP (per_listener_settings false).
# Mosquitto 2.0's websockets listener upgrades whatever path the client asks for (it has no path setting),
# so /mqtt works as does any other path.
iot_mosquitto_ws_conf() {
  local dir=$1 bind=$2 ws_port=$3 wss_port=${4:-} cafile=${5:-} certfile=${6:-} keyfile=${7:-} wss_bind=${8:-$2}
  {
    echo "listener $ws_port $bind"
    echo "protocol websockets"
    if [[ -n $wss_port ]]; then
      echo "listener $wss_port $wss_bind"
      echo "protocol websockets"
      echo "cafile $cafile"
      echo "certfile $certfile"
      echo "keyfile $keyfile"
      echo "tls_version tlsv1.2"
    fi
  } >>"$dir/mosquitto.conf"
}

# iot_mosquitto_plugin_conf <dir> <plugin.so> <pg_dsn> <gateway_secret> <api_secret> [allow_anonymous]
# Adds the project's broker plugin (device auth, ACL, lifecycle) to <dir>/mosquitto.conf. Service
# account secrets are stored hashed (SHA-256); the plugin is copied into <dir> so that Mosquitto can
# read it after dropping privileges.
iot_mosquitto_plugin_conf() {
  local dir=$1 plugin=$2 dsn=$3 gw_secret=$4 api_secret=$5 anonymous=${6:-false}
  [[ -f $plugin ]] || iot_die "broker plugin not built: $plugin"
  cp "$plugin" "$dir/iot_auth_plugin.so"
  local gw_hash api_hash
  gw_hash=$(printf '%s' "$gw_secret" | sha256sum | cut -d' ' -f1)
  api_hash=$(printf '%s' "$api_secret" | sha256sum | cut -d' ' -f1)
  {
    # The plugin decides about every client, anonymous ones included.
    echo "allow_anonymous true"
    echo "plugin $dir/iot_auth_plugin.so"
    echo "plugin_opt_pg_dsn $dsn"
    echo "plugin_opt_account_iot-gateway gateway:$gw_hash"
    echo "plugin_opt_account_iot-api api:$api_hash"
    echo "plugin_opt_allow_anonymous $anonymous"
    echo "plugin_opt_stats_interval_s ${IOT_BROKER_STATS_INTERVAL_S:-10}"
    echo "plugin_opt_log_format ${IOT_LOG_FORMAT:-logfmt}"
    # What one device may receive per second (bytes, each message counting 256 more; 0 = no limit).
    echo "plugin_opt_device_downlink_bytes ${IOT_MQTT_DEVICE_DOWNLINK_BYTES:-1048576}"
  } >>"$dir/mosquitto.conf"
}

# iot_mosquitto_prepare <dir>: when root, Mosquitto drops to its own user; let it reach <dir>.
iot_mosquitto_prepare() {
  local dir=$1
  if [[ $(id -u) -eq 0 ]]; then
    iot_grant_traverse mosquitto "$dir"
    chown -R mosquitto: "$dir"
    grep -q '^user ' "$dir/mosquitto.conf" || echo "user mosquitto" >>"$dir/mosquitto.conf"
  fi
}

# iot_mosquitto_start <dir> <port> <logfile>: starts mosquitto -c <dir>/mosquitto.conf and waits for it.
iot_mosquitto_start() {
  local dir=$1 port=$2 log=$3
  iot_mosquitto_prepare "$dir"
  mosquitto -c "$dir/mosquitto.conf" >>"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/mosquitto.run.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$port" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$log" >&2
  iot_die "Mosquitto did not start (log: $log)"
}

iot_mosquitto_stop() {
  local dir=$1 pid
  [[ -f $dir/mosquitto.run.pid ]] || return 0
  pid=$(cat "$dir/mosquitto.run.pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/mosquitto.run.pid"
}

# iot_compose_cmd <array name>: the compose command as an array: $IOT_COMPOSE when set, else `docker compose`
# when the plugin answers, else Debian 12's docker-compose (1.29). Used by deploy/backup.sh and restore.sh.
iot_compose_cmd() {
  local -n _cmd=$1
  if [[ -n ${IOT_COMPOSE:-} ]]; then
    read -r -a _cmd <<<"$IOT_COMPOSE"
  elif docker compose version >/dev/null 2>&1; then
    _cmd=(docker compose)
  else
    _cmd=(docker-compose)
  fi
}

# ---------------------------------------------------------------------------------------------------------
# Host install (README "Install on a host"): what deploy/backup.sh --host and restore.sh --host read.

# iot_env_value <file> <NAME>: the value of NAME in a systemd EnvironmentFile (KEY=VALUE lines, the value
# optionally in double or single quotes); empty when absent.
iot_env_value() {
  python3 - "$1" "$2" <<'PY'
import sys
value = ""
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line or line[0] in "#;" or "=" not in line:
        continue
    key, _, v = line.partition("=")
    if key.strip() == sys.argv[2]:
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        value = v
print(value)
PY
}

# iot_dsn <dsn> <field...>: fields of a libpq connection string (URI or key=value): user password host port
# dbname, one per line (port defaults to 5432, host to the local socket ""). iot_dsn <dsn> --db <name>
# prints the same connection string naming another database.
iot_dsn() {
  python3 - "$@" <<'PY'
import re, sys
from urllib.parse import urlsplit, unquote, urlunsplit, quote
dsn, args = sys.argv[1], sys.argv[2:]
if "://" in dsn:
    u = urlsplit(dsn)
    fields = {"user": unquote(u.username or ""), "password": unquote(u.password or ""),
              "host": unquote(u.hostname or ""), "port": str(u.port or 5432),
              "dbname": unquote(u.path.lstrip("/"))}
    if args[:1] == ["--db"]:
        print(urlunsplit((u.scheme, u.netloc, "/" + quote(args[1]), u.query, u.fragment)))
        sys.exit(0)
else:
    pairs = dict((k, v[1:-1].replace("\\'", "'") if v.startswith("'") else v)
                 for k, v in re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    if args[:1] == ["--db"]:
        pairs["dbname"] = args[1]
        print(" ".join("%s='%s'" % (k, v.replace("\\", "\\\\").replace("'", "\\'")) for k, v in pairs.items()))
        sys.exit(0)
    fields = {"user": pairs.get("user", ""), "password": pairs.get("password", ""), "host": pairs.get("host", ""),
              "port": pairs.get("port", "5432"), "dbname": pairs.get("dbname", "")}
for a in args:
    print(fields[a])
PY
}
