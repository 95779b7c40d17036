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

# ---------------------------------------------------------------------------------------------------------
# PostgreSQL

# iot_pg_init <datadir> <durable:0|1>: creates a cluster owned by the service user (postgres when root).
iot_pg_init() {
  local data=$1 durable=$2 owner=postgres
  [[ $(id -u) -eq 0 ]] || owner=$(id -un)
  [[ -f $data/PG_VERSION ]] && return 0
  mkdir -p "$data"
  chmod 700 "$data"
  [[ $(id -u) -eq 0 ]] && chown "$owner": "$data"
  local sync=()
  [[ $durable == 1 ]] || sync=(--no-sync)
  iot_as "$owner" "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 "${sync[@]}" \
    >"$data.initdb.log" 2>&1 || { cat "$data.initdb.log" >&2; iot_die "initdb failed"; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$data'"
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

# iot_pg_start <datadir> <port> <logfile>
iot_pg_start() {
  local data=$1 port=$2 log=$3 owner=postgres
  [[ $(id -u) -eq 0 ]] || owner=$(id -un)
  touch "$log"
  [[ $(id -u) -eq 0 ]] && chown "$owner" "$log"
  iot_as "$owner" "$PG_BIN/pg_ctl" -D "$data" -o "-p $port" -l "$log" -w -t 60 start >/dev/null ||
    { tail -20 "$log" >&2; iot_die "PostgreSQL did not start (log: $log)"; }
}

iot_pg_stop() {
  local data=$1 owner=postgres
  [[ $(id -u) -eq 0 ]] || owner=$(id -un)
  [[ -f $data/postmaster.pid ]] || return 0
  iot_as "$owner" "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# iot_pg_ensure_db <port> <dbname>
iot_pg_ensure_db() {
  local port=$1 db=$2
  if ! psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE \"$db\"" >/dev/null
  fi
}

# ---------------------------------------------------------------------------------------------------------
# TLS: iot_make_tls <dir> <hostname> makes a local CA (ca.crt, ca.key) and a server certificate signed by
# it (server.crt, server.key) for localhost, 127.0.0.1 and <hostname>. For real certificates, see README.
iot_make_tls() {
  local dir=$1 host=$2
  mkdir -p "$dir"
  (
    cd "$dir"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=IoT local CA" \
      -keyout ca.key -out ca.crt >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout server.key -out server.csr >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1\n' "$host" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile server.ext -out server.crt >/dev/null 2>&1
    rm -f server.csr server.ext
    chmod 644 ca.crt server.crt
  ) || iot_die "could not create TLS certificates in $dir"
}

# ---------------------------------------------------------------------------------------------------------
# Mosquitto

# iot_mosquitto_conf <dir> <bind> <port> [tls_port cafile certfile keyfile] — writes <dir>/mosquitto.conf.
# The plugin (device auth, ACL, lifecycle) is added by iot_mosquitto_plugin_conf when it exists.
iot_mosquitto_conf() {
  local dir=$1 bind=$2 port=$3 tls_port=${4:-} cafile=${5:-} certfile=${6:-} keyfile=${7:-}
  mkdir -p "$dir"
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
    # Commands and replies are small messages: without TCP_NODELAY, Nagle plus delayed ACKs hold them
    # back for up to 40 ms per hop (a sync service call crosses four).
    echo "set_tcp_nodelay true"
    echo "allow_zero_length_clientid false"
    echo "listener $port $bind"
    if [[ -n $tls_port ]]; then
      echo "listener $tls_port $bind"
      echo "cafile $cafile"
      echo "certfile $certfile"
      echo "keyfile $keyfile"
      echo "tls_version tlsv1.2"
    fi
  } >"$dir/mosquitto.conf"
}

# iot_mosquitto_ws_conf <dir> <bind> <ws_port> [wss_port cafile certfile keyfile] — appends MQTT over
# WebSocket listeners (Alibaba's convention for browsers and mini-programs: ws on 8083, wss on 8084, path
# /mqtt) to <dir>/mosquitto.conf. Same plugin, auth, ACL and lifecycle as TCP (per_listener_settings false).
# Mosquitto 2.0's websockets listener upgrades whatever path the client asks for (it has no path setting),
# so /mqtt works as does any other path.
iot_mosquitto_ws_conf() {
  local dir=$1 bind=$2 ws_port=$3 wss_port=${4:-} cafile=${5:-} certfile=${6:-} keyfile=${7:-}
  {
    echo "listener $ws_port $bind"
    echo "protocol websockets"
    if [[ -n $wss_port ]]; then
      echo "listener $wss_port $bind"
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
