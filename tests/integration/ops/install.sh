#!/usr/bin/env bash
# ops.install: `cmake --install` into a prefix gives a relocatable tree, and the systemd units it installs
# pass `systemd-analyze verify`.
#   1. install into <tmp>/a, move it to <tmp>/b, start <tmp>/b/bin/iot-api against the test PostgreSQL: it
#      serves the installed console (/, an asset, a client-side route) and the OpenAPI document, byte for
#      byte the repository's; an unreadable IOT_OPENAPI_PATH stops it with a clear error. Every installed
#      binary and the plugin resolve their shared libraries.
#      iot-migrate honours IOT_LOG_FORMAT=json (and refuses an unknown format).
#   2. DESTDIR=<stage> cmake --install --prefix /usr/local, then systemd-analyze verify --root=<stage>
#      --man=no on every unit, the iot-gateway@ template and two of its instances included (systemd need not
#      be PID 1), and the hardening settings are in each service.
# Usage: install.sh <build dir>   (needs IOT_TEST_PG_DSN, as tests/run.sh sets)
set -euo pipefail
IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"
BUILD=${1:?build dir}
: "${IOT_TEST_PG_DSN:?run through tests/run.sh (IOT_TEST_PG_DSN)}"
fail() { echo "ops.install: FAILED: $*" >&2; exit 1; }

TMP=$(mktemp -d "${IOT_TEST_TMP:-/tmp}/ops-install.XXXXXX")
API_PID='' DB=ops_install_$$_$RANDOM
cleanup() {
  iot_mosquitto_stop "$TMP/mq" 2>/dev/null || true
  [[ -n $API_PID ]] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
  psql "$IOT_TEST_PG_DSN" -qAt -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- 1. a relocatable tree ----------------------------------------------------------------------------
cmake --install "$BUILD" --strip --prefix "$TMP/a" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "cmake --install"; }
mv "$TMP/a" "$TMP/b"
P=$TMP/b
for f in bin/iot-api bin/iot-gateway bin/iot-migrate bin/iot-devsim share/iot-cloud/openapi.json \
         share/iot-cloud/web/index.html share/iot-cloud/mosquitto/iot-cloud.conf \
         share/iot-cloud/deploy/backup.sh share/iot-cloud/deploy/restore.sh share/iot-cloud/deploy/lib/platform.sh; do
  [[ -s $P/$f ]] || fail "$f not installed"
done
plugin=$(find "$P" -name iot_auth_plugin.so)
[[ -n $plugin ]] || fail "the broker plugin is not installed"
for bin in "$P"/bin/* "$plugin"; do
  if ldd "$bin" | grep 'not found' >/dev/null; then ldd "$bin"; fail "$bin: unresolved shared libraries"; fi
done
grep -q "^plugin $TMP/a/.*/iot_auth_plugin.so$" "$P/share/iot-cloud/mosquitto/iot-cloud.conf" ||
  fail "the Mosquitto configuration does not name the installed plugin"
psql "$IOT_TEST_PG_DSN" -qAt -c "CREATE DATABASE $DB" >/dev/null
DSN=${IOT_TEST_PG_DSN%/*}/$DB
PORT=$(iot_free_port)
start_api() {  # start_api [ENV=VALUE...]: the installed iot-api (the moved tree), no source or build path
  (cd / && env -i PATH=/usr/bin:/bin IOT_PG_DSN="$DSN" IOT_HTTP_PORT="$PORT" IOT_HTTP_BIND=127.0.0.1 \
     IOT_LOG_LEVEL=info "$@" "$P/bin/iot-api") >>"$TMP/api.log" 2>&1 &
  API_PID=$!
}
start_api
for ((i = 0; i < 300; i++)); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$API_PID" 2>/dev/null || { cat "$TMP/api.log"; fail "the installed iot-api exited"; }
  sleep 0.1
done
((i < 300)) || { cat "$TMP/api.log"; fail "the installed iot-api does not answer"; }
curl -sf "http://127.0.0.1:$PORT/api/v1/openapi.json" -o "$TMP/openapi.json" || fail "GET /api/v1/openapi.json"
cmp -s "$TMP/openapi.json" "$IOT_ROOT/schemas/api/openapi.json" || fail "the served OpenAPI document differs from schemas/api/openapi.json"
curl -sf "http://127.0.0.1:$PORT/" -o "$TMP/index.html" || fail "GET /"
cmp -s "$TMP/index.html" "$P/share/iot-cloud/web/index.html" || fail "/ is not the installed console's index.html"
curl -sf "http://127.0.0.1:$PORT/devices/somewhere" -o "$TMP/route.html" || fail "GET a client-side route"
cmp -s "$TMP/route.html" "$P/share/iot-cloud/web/index.html" || fail "a client-side route is not index.html"
asset=$(cd "$P/share/iot-cloud/web" && find assets -type f -name '*.js' | head -1)
[[ -n $asset ]] || fail "the installed console has no assets"
curl -sf "http://127.0.0.1:$PORT/$asset" -o "$TMP/asset" || fail "GET /$asset"
cmp -s "$TMP/asset" "$P/share/iot-cloud/web/$asset" || fail "/$asset differs from the installed file"
grep -q "web console.*dir=\"$P/bin/../share/iot-cloud/web\"\|web console.*dir=\"$P/share/iot-cloud/web\"" "$TMP/api.log" ||
  { cat "$TMP/api.log"; fail "iot-api did not log the installed console directory"; }
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=
echo "ops.install: the relocated tree serves the console and the OpenAPI document"

# The installed Mosquitto configuration (what README "An existing Mosquitto" lists) loads in Debian's
# Mosquitto with the installed plugin: ports and certificate paths swapped for the test's, the three values
# filled in as README's install step does; the gateway's service account is accepted, a wrong secret is not.
MQ=$TMP/mq
mkdir -p "$MQ"
iot_make_tls "$MQ" localhost
GW_SECRET=$(openssl rand -hex 24)
ports=() ; for _ in 1 2 3 4; do ports+=("$(iot_free_port)"); done
{
  echo "pid_file $MQ/mosquitto.pid"
  echo "persistence false"
  echo "log_dest stderr"
  sed -e "s|@BROKER_DSN@|$DSN|" -e "s|^plugin $TMP/a/|plugin $P/|" \
      -e "s|@GATEWAY_HASH@|$(printf %s "$GW_SECRET" | sha256sum | cut -d' ' -f1)|" \
      -e "s|@API_HASH@|$(openssl rand -hex 32)|" \
      -e "s|^listener 1883 |listener ${ports[0]} |; s|^listener 8883 0.0.0.0|listener ${ports[1]} 127.0.0.1|" \
      -e "s|^listener 8083 |listener ${ports[2]} |; s|^listener 8084 0.0.0.0|listener ${ports[3]} 127.0.0.1|" \
      -e "s|/etc/mosquitto/certs/iot-cloud-ca.crt|$MQ/ca.crt|; s|/etc/mosquitto/certs/iot-cloud-server|$MQ/server|" \
      "$P/share/iot-cloud/mosquitto/iot-cloud.conf"
} >"$MQ/mosquitto.conf"
grep -q '@[A-Z_]*@' "$MQ/mosquitto.conf" && { grep '@[A-Z_]*@' "$MQ/mosquitto.conf"; fail "unfilled values in the Mosquitto configuration"; }
iot_mosquitto_start "$MQ" "${ports[0]}" "$TMP/mosquitto.log"
for port in "${ports[@]}"; do
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),2).close()' "$port" ||
    fail "Mosquitto does not listen on $port with the installed configuration"
done
mosquitto_pub -h 127.0.0.1 -p "${ports[0]}" -i ops-install-gw -u iot-gateway -P "$GW_SECRET" -t iot/ops/test -m x -q 0 ||
  fail "the installed plugin refused the gateway's service account"
if mosquitto_pub -h 127.0.0.1 -p "${ports[0]}" -i ops-install-bad -u iot-gateway -P wrong -t iot/ops/test -m x 2>/dev/null; then
  fail "the installed plugin accepted a wrong secret"
fi
iot_mosquitto_stop "$MQ"
echo "ops.install: the installed Mosquitto configuration and plugin load; the service account is checked"

# A missing document fails loudly (exit 2, the path named), never an empty body.
set +e
(cd / && env -i PATH=/usr/bin:/bin IOT_PG_DSN="$DSN" IOT_HTTP_PORT="$PORT" IOT_OPENAPI_PATH=/nonexistent/openapi.json \
   "$P/bin/iot-api") >"$TMP/missing.log" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "iot-api started with a missing IOT_OPENAPI_PATH"
grep -q "/nonexistent/openapi.json" "$TMP/missing.log" || { cat "$TMP/missing.log"; fail "the error does not name the missing file"; }
echo "ops.install: a missing IOT_OPENAPI_PATH stops iot-api (exit $rc)"

# iot-migrate logs like the other services: IOT_LOG_FORMAT=json gives one JSON object per line, and a value
# it does not know stops it before it touches the database (exit 2, the variable named).
(cd / && env -i PATH=/usr/bin:/bin IOT_PG_DSN="$DSN" IOT_LOG_FORMAT=json "$P/bin/iot-migrate") >"$TMP/migrate.json" 2>&1 ||
  { cat "$TMP/migrate.json"; fail "iot-migrate with IOT_LOG_FORMAT=json"; }
python3 - "$TMP/migrate.json" <<'PY' || { cat "$TMP/migrate.json"; fail "iot-migrate did not log JSON lines"; }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines, "no output"
assert all(l["component"] == "migrate" and l["level"] and l["ts"] for l in lines), lines
assert any(l["msg"] == "schema migrated" and isinstance(l["to"], int) for l in lines), lines
PY
set +e
(cd / && env -i PATH=/usr/bin:/bin IOT_PG_DSN="$DSN" IOT_LOG_FORMAT=xml "$P/bin/iot-migrate") >"$TMP/migrate.bad" 2>&1
rc=$?
set -e
[[ $rc == 2 ]] && grep -q IOT_LOG_FORMAT "$TMP/migrate.bad" || { cat "$TMP/migrate.bad"; fail "iot-migrate accepted IOT_LOG_FORMAT=xml (exit $rc)"; }
echo "ops.install: iot-migrate logs JSON with IOT_LOG_FORMAT=json and refuses an unknown format"

# --- 2. systemd units ---------------------------------------------------------------------------------
STAGE=$TMP/stage
DESTDIR=$STAGE cmake --install "$BUILD" --strip --prefix /usr/local >"$TMP/stage.log" 2>&1 || { cat "$TMP/stage.log"; fail "staged install"; }
UNITS=$STAGE/usr/local/lib/systemd/system
for unit in iot-migrate.service iot-api.service iot-gateway.service iot-gateway@.service; do
  [[ -f $UNITS/$unit ]] || fail "$unit not installed"
  grep -q "^ExecStart=/usr/local/bin/" "$UNITS/$unit" || fail "$unit: ExecStart is not the installed binary"
  for setting in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes User=iot-cloud \
                 EnvironmentFile=/etc/iot-cloud/; do
    grep -q "^$setting" "$UNITS/$unit" || fail "$unit lacks $setting"
  done
done
for unit in iot-api.service iot-gateway.service iot-gateway@.service; do
  grep -q '^Restart=always' "$UNITS/$unit" || fail "$unit must restart"
done
# The template: the instance is the replica id (its client id, its own environment file), and a replica
# that stops ends its session (the shared subscription's share goes to the others).
for setting in 'Environment=IOT_GATEWAY_CLIENT_ID=iot-gateway-%l-%i' 'Environment=IOT_GATEWAY_END_SESSION_ON_STOP=1' \
               'EnvironmentFile=/etc/iot-cloud/gateway.env' 'EnvironmentFile=/etc/iot-cloud/gateway-%i.env'; do
  grep -qxF "$setting" "$UNITS/iot-gateway@.service" || fail "iot-gateway@.service lacks $setting"
done
grep -q '^Type=oneshot' "$UNITS/iot-migrate.service" || fail "iot-migrate is not a oneshot"
[[ -f $UNITS/mosquitto.service.d/iot-cloud.conf && -f $STAGE/usr/local/lib/sysusers.d/iot-cloud.conf ]] ||
  fail "the mosquitto drop-in or the sysusers entry is missing"
# The stage stands for the host: Debian's own units (targets, postgresql, mosquitto) from this machine.
mkdir -p "$STAGE/lib/systemd/system"
cp -a /lib/systemd/system/. "$STAGE/lib/systemd/system/"
mkdir -p "$STAGE/usr/sbin" "$STAGE/bin"
cp /usr/sbin/mosquitto "$STAGE/usr/sbin/"  # Debian's mosquitto.service with the drop-in is verified too
cp /bin/mkdir /bin/chown /bin/kill "$STAGE/bin/"
# Exit status for errors (a missing binary, a unit it cannot load), and no output at all: unknown keys and
# values it cannot parse are only warnings.
if ! SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$STAGE" --man=no \
     "$UNITS/iot-migrate.service" "$UNITS/iot-api.service" "$UNITS/iot-gateway.service" "$UNITS/iot-gateway@.service" \
     iot-gateway@1.service iot-gateway@2.service mosquitto.service >"$TMP/verify.log" 2>&1 ||
   [[ -s $TMP/verify.log ]]; then
  cat "$TMP/verify.log"
  fail "systemd-analyze verify"
fi
mkdir -p "$STAGE/etc"
systemd-sysusers --root="$STAGE" --dry-run >"$TMP/sysusers.log" 2>&1 || true
grep -q "Creating user 'iot-cloud'" "$TMP/sysusers.log" || { cat "$TMP/sysusers.log"; fail "systemd-sysusers does not create iot-cloud"; }
echo "ops.install: systemd-analyze verify --root passes for iot-migrate, iot-api, iot-gateway, the iot-gateway@ template (instances 1 and 2) and mosquitto with the drop-in"
