#!/usr/bin/env bash
# The platform as containers, end to end: deploy/docker/Dockerfile's images and docker-compose.yml. Run by
# tests/run.sh when CI=true or IOT_TEST_COMPOSE=1; alone (after a build): IOT_BUILD_DIR=build tests/compose.sh
#
#   1. docker.io, docker-compose and debootstrap (deploy/install-deps.sh --docker) when missing; dockerd
#      started when none answers and we are root (and stopped again at the end).
#   2. the base image: iot-debian:12 from the Debian archive (deploy/docker/make-base-image.sh, cached), or
#      IOT_BASE_IMAGE when it names an image that exists (e.g. debian:12 where a registry is reachable).
#   3. the images, from this build's binaries (IOT_BINARIES=prebuilt, deploy/docker/stage.sh): the
#      Dockerfile's builder-stage compile is what users run; here it would double CI's build time.
#   4. up with two iot-api replicas behind the proxy: every service healthy, the one-shots exited 0.
#   5. a product (thing model with a sync service) over REST through the proxy; signed devices (iot-devsim,
#      the SDK) post over TCP, TLS (CA read from the secrets volume), WebSocket and secure WebSocket
#      (ws://host:port/mqtt, wss://); read back over REST.
#      The live stream (WebSocket) through the proxy shows a device's post.
#   6. --scale gateway=2, one gateway killed (SIGKILL of its init; the restart policy brings it back with its
#      session) during a stream of posts: every post answered 200 is stored, every post is answered.
#   7. scale down to one gateway during a stream (SIGTERM: unsubscribe, drain, Session Expiry 0): 0 lost.
#   8. sync service calls (RRPC) through the proxy, answered by a simulated device, served by both replicas.
#   9. down, then up with the volumes kept: data, secrets (admin token) and device credentials survive.
#  10. backup and restore: deploy/backup.sh --compose while devices post (online: every post of that stream
#      answered, the snapshot holds some of them but not all), down -v, deploy/restore.sh --compose into fresh volumes (it refuses volumes
#      that hold data), up: every post answered before the backup started is there, the admin token and
#      the CA are the old ones, the devices reconnect with their old secrets (TCP and TLS) and post.
#  11. down -v: no volume left.
#   (IOT_TEST_COMPOSE_MONITORING=1, off by default for CI's time: the profile `monitoring` - Prometheus
#   built from Debian's package scrapes every gateway replica and every API replica through Docker's DNS,
#   every target up, its rules load, and the broker's figures the gateways re-export are queryable.)
#  12. (IOT_TEST_COMPOSE_SOURCE=1, off by default: about an hour on 2 cores) the images as users build them:
#      the Dockerfile's builder stage compiles everything from a clean copy of the checkout (tracked and new
#      files; no build dirs, no node_modules, so `npm ci` runs in the image, trusting the CA certificates of
#      deploy/docker/ca-certificates.d/, here the host's /usr/local/share/ca-certificates/*.crt or
#      IOT_TEST_CA_CERTS); up from those images; a device posts over TCP and its values are read back over
#      REST; down -v. The build's time is printed.
# Ports are free ones on 127.0.0.1. Settings: IOT_BUILD_DIR (./build), IOT_BASE_IMAGE, IOT_KEEP_TMP=1.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build}
DEVSIM=$BUILD_DIR/services/devsim/iot-devsim
started=$(date +%s)
current_step="start"
step() { current_step=$*; iot_say "compose: $* [$(($(date +%s) - started)) s]"; }
# IOT_COMPOSE_FAILURE (set by tests/run.sh): a file that gets the one line saying what failed.
failure=""
fail() { failure=$*; iot_say "compose: FAILED: $*"; exit 1; }

TMP=$(mktemp -d /tmp/iot-compose.XXXXXX)
PROJECT=iottest$$
DOCKERD_PID=""
cleanup() {
  local rc=$?
  if [[ -n ${COMPOSE_READY:-} ]]; then
    if [[ $rc -ne 0 ]]; then
      dc ps >&2 || true
      dc logs --no-color --tail 40 >&2 || true
    fi
    dc --profile monitoring down -v -t 5 >/dev/null 2>&1 || true
  fi
  if [[ -n $DOCKERD_PID ]]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
  fi
  if [[ ${IOT_KEEP_TMP:-0} == 1 ]]; then iot_say "kept $TMP"; else rm -rf "$TMP"; fi
  ((rc == 0)) && iot_say "compose: passed in $(($(date +%s) - started)) s"
  if ((rc != 0)) && [[ -n ${IOT_COMPOSE_FAILURE:-} ]]; then
    echo "${failure:-exit $rc} (step: $current_step, after $(($(date +%s) - started)) s)" >"$IOT_COMPOSE_FAILURE"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. tools and the daemon --------------------------------------------------------------------------
if ! command -v docker-compose >/dev/null || ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  step "installing docker.io, docker-compose, debootstrap"
  "$IOT_ROOT/deploy/install-deps.sh" --docker
fi
if ! docker info >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || fail "no Docker daemon answers and starting one needs root"
  step "starting dockerd (log: $TMP/dockerd.log)"
  dockerd >"$TMP/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for ((i = 0; i < 60; i++)); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$TMP/dockerd.log" >&2; fail "dockerd did not start"; }
fi

# --- 2. base image ------------------------------------------------------------------------------------
BASE=${IOT_BASE_IMAGE:-iot-debian:12}
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  step "making the base image $BASE"
  "$IOT_ROOT/deploy/docker/make-base-image.sh" "$BASE"
fi

# --- 3. images from this build ------------------------------------------------------------------------
[[ -x $DEVSIM && -x $BUILD_DIR/services/api/iot-api ]] || fail "build first (tests/run.sh builds $BUILD_DIR)"
# copy_tracked <dest> [path...]: the checkout's files as a clone has them plus uncommitted work (tracked
# and new files, nothing git ignores: no build dirs, no node_modules).
copy_tracked() {
  local dest=$1; shift
  mkdir -p "$dest"
  (cd "$IOT_ROOT" && git ls-files -z --cached --others --exclude-standard -- "$@" |
    while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -C "$dest" -xf -
}
CONTEXT=$TMP/context
mkdir -p "$TMP/tls-in"
# The builder stage copies the sources (it compiles them for IOT_BINARIES=source) before it takes the binaries.
copy_tracked "$CONTEXT" CMakeLists.txt cmake libs services examples schemas web deploy/install.cmake deploy/docker \
  deploy/lib deploy/monitoring deploy/install-deps.sh
"$IOT_ROOT/deploy/docker/stage.sh" "$BUILD_DIR" "$CONTEXT/.docker-prebuilt"

HTTP_PORT=$(iot_free_port)
HTTPS_PORT=$(iot_free_port)
MQTT_PORT=$(iot_free_port)
MQTTS_PORT=$(iot_free_port)
WS_PORT=$(iot_free_port)
WSS_PORT=$(iot_free_port)
export IOT_BASE_IMAGE=$BASE IOT_BINARIES=prebuilt IOT_DOCKER_CONTEXT=$CONTEXT IOT_IMAGE_TAG=test
export IOT_PUBLISH_ADDR=127.0.0.1 IOT_HTTP_PORT=$HTTP_PORT IOT_HTTPS_PORT=$HTTPS_PORT
export IOT_MQTT_PORT=$MQTT_PORT IOT_MQTTS_PORT=$MQTTS_PORT IOT_TLS_DIR=$TMP/tls-in
export IOT_MQTT_WS_PORT=$WS_PORT IOT_MQTT_WSS_PORT=$WSS_PORT
dc() { docker-compose -p "$PROJECT" -f "$IOT_ROOT/docker-compose.yml" --project-directory "$IOT_ROOT" "$@"; }

step "building the images (log: $TMP/build.log)"
build_started=$(date +%s)
dc build >"$TMP/build.log" 2>&1 &
build_pid=$!
while kill -0 "$build_pid" 2>/dev/null; do
  for ((i = 0; i < 20; i++)); do kill -0 "$build_pid" 2>/dev/null && sleep 1; done
  kill -0 "$build_pid" 2>/dev/null && iot_say "compose:   ... $(grep -E '^(Building|Step)' "$TMP/build.log" | tail -1 | cut -c1-100)"
done
wait "$build_pid" || { tail -40 "$TMP/build.log" >&2; fail "docker-compose build"; }
step "images built in $(($(date +%s) - build_started)) s"
COMPOSE_READY=1

# wait_healthy <service>...: every container of each service healthy (3 minutes at most).
wait_healthy() {
  local svc id state deadline=$((SECONDS + 180)) pending
  while true; do
    pending=""
    for svc in "$@"; do
      ids=$(dc ps -q "$svc")
      [[ -n $ids ]] || { pending+=" $svc(none)"; continue; }
      for id in $ids; do
        state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
        [[ $state == healthy ]] || pending+=" $svc($state)"
      done
    done
    [[ -z $pending ]] && return 0
    ((SECONDS < deadline)) || fail "not healthy after 3 minutes:$pending"
    sleep 1
  done
}
one_shots_ok() {
  local svc id code
  for svc in secrets migrate; do
    id=$(dc ps -aq "$svc")
    code=$(docker inspect -f '{{.State.ExitCode}}' "$id")
    [[ $code == 0 ]] || fail "$svc exited with $code"
  done
}
# sql <query>: one value from the platform's database (psql as postgres on the container's socket).
sql() { dc exec -T postgres psql -X -U postgres -d iot -tAc "$1" | tr -d '[:space:]'; }

# --- 4. up --------------------------------------------------------------------------------------------
step "up (2 API replicas)"
up_started=$(date +%s)
dc up -d --scale api=2 >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; fail "up"; }
wait_healthy postgres broker api gateway proxy
one_shots_ok
step "healthy in $(($(date +%s) - up_started)) s"
TOKEN=$(dc exec -T api cat /secrets/api/admin-token | tr -d '[:space:]')
[[ ${#TOKEN} -ge 32 ]] || fail "no admin token in the secrets volume"
dc exec -T broker cat /secrets/public/ca.crt >"$TMP/ca.crt"
# The services log in with passwords: no trust rule anywhere in pg_hba.conf.
if dc exec -T postgres grep -vE '^\s*(#|$)' /var/lib/postgresql/data/pg_hba.conf | grep -qw trust; then
  fail "pg_hba.conf trusts someone"
fi

# --- 5. REST, TCP and TLS devices -------------------------------------------------------------------
BASE_URL=http://127.0.0.1:$HTTP_PORT
api() { iot_rest "$BASE_URL" "$TOKEN" "$@"; }  # api METHOD PATH [JSON|@file]: prints the body
PK=a1ExAmPlEpk  # the fixture thing model names it
api POST /products "{\"productKey\":\"$PK\",\"name\":\"compose test\",\"validation\":\"weak\"}" >/dev/null
api PUT "/products/$PK/thing-model" "@$IOT_ROOT/tests/fixtures/tsl/valid/reference_example.json" >/dev/null
api POST "/products/$PK/thing-model/publish" '{}' >/dev/null
curl -sf "$BASE_URL/" | grep -qi '<html' || fail "the console is not served through the proxy"

# devsim <name> <uri> <devices> <rate> <seconds> [options]: simulated devices posting; summary in $TMP/<name>.json
devsim() {
  local name=$1 uri=$2 devices=$3 rate=$4 seconds=$5; shift 5
  "$DEVSIM" --api "$BASE_URL" --token "$TOKEN" --product "$PK" --devices "$devices" --prefix "$name-" \
    --credentials "$TMP/$name.credentials.json" --mqtt "$uri" --rate "$rate" --duration "$seconds" \
    --events 0 --json --no-progress "$@" >"$TMP/$name.json" 2>"$TMP/$name.log"
}
# stored <prefix>: messages stored (deduplicated) for the devices named <prefix>-*
stored() {
  sql "SELECT count(*) FROM message_dedupe m JOIN devices d ON d.id = m.device_id WHERE d.device_name LIKE '$1-%'"
}
summary() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(*(s[k] for k in sys.argv[2:]))' "$TMP/$1.json" "${@:2}"; }
# check_stream <name>: every post answered 200 (none timed out) and stored exactly once.
check_stream() {
  local sent accepted timeouts n
  read -r sent accepted timeouts < <(summary "$1" sent accepted timeouts)
  n=$(stored "$1")
  step "$1: sent $sent, answered 200 $accepted, timed out $timeouts, stored $n"
  ((sent > 0)) || fail "$1: nothing sent"
  ((accepted == sent && timeouts == 0)) || fail "$1: not every post was answered 200 (log: $TMP/$1.log)"
  ((n == accepted)) || fail "$1: $accepted posts answered 200 but $n stored"
}

step "devices over TCP, TLS, WebSocket and secure WebSocket"
devsim tcp "tcp://127.0.0.1:$MQTT_PORT" 2 10 2 || fail "iot-devsim over TCP ($(tail -3 "$TMP/tcp.log"))"
check_stream tcp
devsim tls "ssl://localhost:$MQTTS_PORT" 2 10 2 --ca "$TMP/ca.crt" || fail "iot-devsim over TLS ($(tail -3 "$TMP/tls.log"))"
check_stream tls
api GET "/products/$PK/devices/tls-0001/properties" | grep -q '"PowerOn"' || fail "the TLS device's properties are not readable over REST"
# MQTT over WebSocket (path /mqtt, as Alibaba's SDKs ask) and over secure WebSocket (the volume's CA).
devsim ws "ws://127.0.0.1:$WS_PORT/mqtt" 2 10 2 || fail "iot-devsim over WebSocket ($(tail -3 "$TMP/ws.log"))"
check_stream ws
devsim wss "wss://localhost:$WSS_PORT/mqtt" 2 10 2 --ca "$TMP/ca.crt" ||
  fail "iot-devsim over secure WebSocket ($(tail -3 "$TMP/wss.log"))"
check_stream wss

# The live stream through the proxy: a WebSocket subscription sees a device's post (minimal client: the
# handshake, one masked text frame out, unmasked frames in).
step "live stream (WebSocket) through the proxy"
python3 - 127.0.0.1 "$HTTP_PORT" "$TOKEN" "$PK" >"$TMP/stream.out" 2>&1 <<'PY' &
import base64, json, os, socket, struct, sys
host, port, token, pk = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), 30)
s.sendall((f"GET /api/v1/stream?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
if b" 101 " not in head.split(b"\r\n")[0]:
    sys.exit(f"no upgrade: {head[:200]!r}")
def need(n):
    global buf
    while len(buf) < n:
        data = s.recv(65536)
        if not data:
            sys.exit("closed")
        buf += data
def recv():
    global buf
    need(2)
    n, off = buf[1] & 0x7F, 2
    if n == 126:
        need(4); n, off = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        need(10); n, off = struct.unpack(">Q", buf[2:10])[0], 10
    need(off + n)
    payload, buf = buf[off:off + n], buf[off + n:]
    return payload
body = json.dumps({"subscribe": {"productKey": pk}}).encode()
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(body)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
while True:
    message = json.loads(recv())
    print(message.get("type"), flush=True)
    if message.get("type") == "property":
        break
PY
listener=$!
for ((i = 0; i < 100; i++)); do grep -q subscribed "$TMP/stream.out" 2>/dev/null && break; sleep 0.2; done
grep -q subscribed "$TMP/stream.out" || fail "no stream subscription through the proxy ($(cat "$TMP/stream.out"))"
sleep 1  # the first subscription is confirmed once the writers have seen it
devsim live "tcp://127.0.0.1:$MQTT_PORT" 1 2 2 || fail "iot-devsim for the live stream"
wait "$listener" || fail "no live property through the proxy ($(cat "$TMP/stream.out"))"

# --- 6. two gateways, one killed during the stream --------------------------------------------------
step "scale to 2 gateways, kill one during a stream"
dc up -d --no-deps --no-recreate --scale gateway=2 gateway >>"$TMP/up.log" 2>&1 || fail "scale gateway=2"
wait_healthy gateway
victim=$(dc ps -q gateway | tail -1)
devsim kill "tcp://127.0.0.1:$MQTT_PORT" 20 200 12 &
stream=$!
sleep 4
kill -9 "$(docker inspect -f '{{.State.Pid}}' "$victim")"
wait "$stream" || fail "iot-devsim during the kill ($(tail -3 "$TMP/kill.log"))"
check_stream kill
wait_healthy gateway
[[ $(docker inspect -f '{{.RestartCount}}' "$victim") -ge 1 ]] || fail "the killed gateway was not restarted"
docker logs "$victim" 2>&1 | grep -q 'session_present=1' || fail "the restarted gateway did not take its session back"

# --- 7. scale down to one gateway during the stream ---------------------------------------------------
step "scale down to 1 gateway during a stream"
devsim down "tcp://127.0.0.1:$MQTT_PORT" 20 200 12 &
stream=$!
sleep 4
dc up -d --no-deps --no-recreate -t 30 --scale gateway=1 gateway >>"$TMP/up.log" 2>&1 || fail "scale gateway=1"
wait "$stream" || fail "iot-devsim during the scale-down ($(tail -3 "$TMP/down.log"))"
check_stream down
[[ $(dc ps -q gateway | wc -l) -eq 1 ]] || fail "more than one gateway left"

# --- 8. sync service calls through the proxy, two API replicas --------------------------------------
step "sync service calls through the proxy (2 API replicas)"
devsim sync "tcp://127.0.0.1:$MQTT_PORT" 1 1 20 &
stream=$!
for ((i = 0; i < 100; i++)); do
  [[ $(sql "SELECT count(*) FROM devices WHERE device_name = 'sync-0001' AND status = 'online'") == 1 ]] && break
  sleep 0.2
done
# The proxy picks a replica at random per request (nginx rotates the resolved addresses): with 20 calls both
# serve some unless one is out of rotation (8 calls left both to one replica once in a while: 2^-7).
for ((i = 1; i <= 20; i++)); do
  out=$(api POST "/products/$PK/devices/sync-0001/services/SelfTest" '{"params":{"Depth":0},"timeoutMs":5000}')
  grep -q '"status":"succeeded"' <<<"$out" || fail "sync call $i: $out"
done
kill "$stream" 2>/dev/null || true
wait "$stream" 2>/dev/null || true
served=0
for id in $(dc ps -q api); do
  n=$(docker exec "$id" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9180; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' |
    awk '/^iot_http_requests_total/ && /services/ && /status="2xx"/ {s += $2} END {print s + 0}')
  ((n > 0)) && served=$((served + 1))
done
((served == 2)) || fail "the sync calls were served by $served of 2 API replicas"

# --- optional: the monitoring profile --------------------------------------------------------------------
if [[ ${IOT_TEST_COMPOSE_MONITORING:-0} == 1 ]]; then
  step "monitoring profile: Prometheus"
  export IOT_PROMETHEUS_PORT=$(iot_free_port)
  dc --profile monitoring build prometheus >>"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log" >&2; fail "build prometheus"; }
  dc --profile monitoring up -d prometheus >>"$TMP/up.log" 2>&1 || fail "up prometheus"
  wait_healthy prometheus
  PROM=http://127.0.0.1:$IOT_PROMETHEUS_PORT
  # promq <query>: the number of series and the first value, from Prometheus' HTTP API.
  promq() {
    curl -sf --get "$PROM/api/v1/query" --data-urlencode "query=$1" |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(len(r), r[0]["value"][1] if r else "none")'
  }
  # targets: "<job> <targets> <up>" for each job, from Prometheus' target list.
  targets() {
    curl -sf "$PROM/api/v1/targets" | python3 -c '
import json, sys
jobs = {}
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    n = jobs.setdefault(t["labels"]["job"], [0, 0])
    n[0] += 1
    n[1] += t["health"] == "up"
for job in ("iot-gateway", "iot-api", "prometheus"):
    print(job, *jobs.get(job, [0, 0]))'
  }
  n_gateways=$(dc ps -q gateway | wc -l)
  n_apis=$(dc ps -q api | wc -l)
  ok=0
  for ((i = 0; i < 90; i++)); do
    # Every target up: each gateway replica, each API replica (ops listener) and Prometheus itself.
    if targets >"$TMP/targets.txt" 2>/dev/null &&
       grep -qx "iot-gateway $n_gateways $n_gateways" "$TMP/targets.txt" &&
       grep -qx "iot-api $n_apis $n_apis" "$TMP/targets.txt" && grep -qx "prometheus 1 1" "$TMP/targets.txt"; then
      read -r n_clients clients < <(promq 'max(iot_broker_clients_connected)') || true
      if ((n_clients == 1)) && [[ $clients != 0 ]]; then ok=1; break; fi
    fi
    sleep 2
  done
  ((ok)) || fail "Prometheus: not every target up with the broker's figures (want $n_gateways gateway(s), $n_apis API(s): $(tr '\n' ';' <"$TMP/targets.txt" 2>/dev/null); $(curl -sf "$PROM/api/v1/targets" | head -c 800))"
  read -r n_rules _ < <(curl -sf "$PROM/api/v1/rules" | python3 -c 'import json,sys; g=json.load(sys.stdin)["data"]["groups"]; print(sum(len(x["rules"]) for x in g), 0)') || true
  ((n_rules >= 10)) || fail "Prometheus loaded $n_rules alert rules"
  read -r n_build _ < <(promq 'iot_build_info{service="api"}') || true
  ((n_build == n_apis)) || fail "Prometheus has iot_build_info of $n_build API replica(s), not $n_apis"
  step "Prometheus: every target up ($n_gateways gateway(s), $n_apis API replica(s)), broker clients $clients, $n_rules rules"
  dc --profile monitoring rm -sf prometheus >>"$TMP/up.log" 2>&1 || fail "remove prometheus"
fi

# --- 9. down, up: volumes kept ------------------------------------------------------------------------
step "down, then up with the volumes kept"
before_tcp=$(stored tcp)
dc down -t 30 >>"$TMP/up.log" 2>&1 || fail "down"
dc up -d --scale api=2 >>"$TMP/up.log" 2>&1 || fail "up again"
wait_healthy postgres broker api gateway proxy
one_shots_ok
[[ $(dc exec -T api cat /secrets/api/admin-token | tr -d '[:space:]') == "$TOKEN" ]] || fail "the admin token changed"
dc exec -T broker cat /secrets/public/ca.crt | cmp -s - "$TMP/ca.crt" || fail "the CA changed"
[[ $(stored tcp) == "$before_tcp" ]] || fail "stored data changed across down/up"
mv "$TMP/tcp.json" "$TMP/tcp-first.json"
devsim tcp "tcp://127.0.0.1:$MQTT_PORT" 2 10 2 || fail "the first devices cannot post after down/up ($(tail -3 "$TMP/tcp.log"))"
read -r sent accepted < <(summary tcp sent accepted)
((accepted == sent && sent > 0)) || fail "after down/up: $accepted of $sent posts answered 200"
[[ $(stored tcp) == $((before_tcp + accepted)) ]] || fail "after down/up: posts not stored"
devsim tls "ssl://localhost:$MQTTS_PORT" 1 5 1 --ca "$TMP/ca.crt" || fail "TLS after down/up ($(tail -3 "$TMP/tls.log"))"

# --- 10. backup while devices post, down -v, restore into fresh volumes --------------------------------
step "backup (deploy/backup.sh --compose) while devices post"
export IOT_COMPOSE="docker-compose -p $PROJECT -f $IOT_ROOT/docker-compose.yml --project-directory $IOT_ROOT"
devsim bk "tcp://127.0.0.1:$MQTT_PORT" 4 40 3 || fail "iot-devsim before the backup ($(tail -3 "$TMP/bk.log"))"
check_stream bk
read -r acked_before < <(summary bk accepted)
devsim bkd "tcp://127.0.0.1:$MQTT_PORT" 4 20 40 &
stream=$!
sleep 3
backup_started=$(date +%s)
"$IOT_ROOT/deploy/backup.sh" --compose "$TMP/backup.tar" >"$TMP/backup.log" 2>&1 || { cat "$TMP/backup.log" >&2; fail "deploy/backup.sh --compose"; }
backup_took=$(($(date +%s) - backup_started))
stored_after_dump=$(stored bkd)
wait "$stream" || fail "iot-devsim during the backup ($(tail -3 "$TMP/bkd.log"))"
read -r sent_during acked_during timeouts_during < <(summary bkd sent accepted timeouts)
((acked_during == sent_during && timeouts_during == 0)) || fail "posts during the backup: $acked_during of $sent_during answered 200"
[[ $(stat -c %a "$TMP/backup.tar") == 600 ]] || fail "the backup is not mode 600"
tar -tf "$TMP/backup.tar" >"$TMP/backup.list"
for member in iot.dump MANIFEST files/master/pg-postgres files/master/mqtt-gateway files/master/admin-token \
              files/tls/ca.key files/tls/server.key; do
  grep -qx "$member" "$TMP/backup.list" || fail "the backup lacks $member"
done
step "down -v, restore into fresh volumes (deploy/restore.sh --compose), up"
dc down -v -t 30 >>"$TMP/up.log" 2>&1 || fail "down -v before the restore"
left=$(docker volume ls -q --filter "name=${PROJECT}_")
[[ -z $left ]] || fail "volumes left after down -v: $left"
"$IOT_ROOT/deploy/restore.sh" --compose "$TMP/backup.tar" >"$TMP/restore.log" 2>&1 || { cat "$TMP/restore.log" >&2; fail "deploy/restore.sh --compose"; }
if "$IOT_ROOT/deploy/restore.sh" --compose "$TMP/backup.tar" >>"$TMP/restore.log" 2>&1; then
  fail "restore.sh --compose wrote over volumes that hold data"
fi
grep -q "secrets volume is not empty" "$TMP/restore.log" || { cat "$TMP/restore.log" >&2; fail "the second restore failed for another reason"; }
dc up -d --scale api=2 >>"$TMP/up.log" 2>&1 || fail "up after the restore"
wait_healthy postgres broker api gateway proxy
one_shots_ok
[[ $(dc exec -T api cat /secrets/api/admin-token | tr -d '[:space:]') == "$TOKEN" ]] || fail "the admin token was not restored"
dc exec -T broker cat /secrets/public/ca.crt | cmp -s - "$TMP/ca.crt" || fail "the CA was not restored"
n=$(stored bk)
((n == acked_before)) || fail "$((acked_before - n)) of $acked_before posts answered before the backup are missing after the restore"
restored_during=$(stored bkd)
# One snapshot taken while the second stream ran: some of its posts and not all (online), and none stored
# after the dump ended.
((restored_during > 0 && restored_during < acked_during)) ||
  fail "the snapshot holds $restored_during of the $acked_during posts of the stream it was taken during"
((restored_during <= stored_after_dump)) || fail "the restore holds $restored_during posts of the second stream, more than the $stored_after_dump stored when the dump ended"
api GET "/products/$PK/devices/bk-0001/properties" | grep -q '"PowerOn"' || fail "the old admin token does not read the restored data"
# The devices reconnect with their old secrets (the credentials file), over TCP and over TLS (the old CA).
mv "$TMP/bk.json" "$TMP/bk-first.json"
devsim bk "tcp://127.0.0.1:$MQTT_PORT" 4 20 2 || fail "devices could not post with their old secrets ($(tail -3 "$TMP/bk.log"))"
read -r sent accepted < <(summary bk sent accepted)
((accepted == sent && sent > 0)) || fail "after the restore: $accepted of $sent posts answered 200"
((accepted + acked_before == $(stored bk))) || fail "after the restore: posts not stored"
devsim tls "ssl://localhost:$MQTTS_PORT" 1 5 1 --ca "$TMP/ca.crt" || fail "TLS after the restore ($(tail -3 "$TMP/tls.log"))"
step "restored: $n/$acked_before posts answered before the backup, $restored_during of the $acked_during answered during it in the snapshot (backup.sh took $backup_took s); devices reconnected with their old secrets"

# --- 11. down -v ---------------------------------------------------------------------------------------
step "down -v"
dc --profile monitoring down -v -t 30 >>"$TMP/up.log" 2>&1 || fail "down -v"
COMPOSE_READY=""
left=$(docker volume ls -q --filter "name=${PROJECT}_")
[[ -z $left ]] || fail "volumes left after down -v: $left"

# --- 12. optional: the builder-stage build from source, as users run it -------------------------------
if [[ ${IOT_TEST_COMPOSE_SOURCE:-0} == 1 ]]; then
  SRC=$TMP/source-context
  copy_tracked "$SRC"  # the whole checkout, as a clone has it
  [[ -f $SRC/CMakeLists.txt && ! -e $SRC/web/node_modules ]] || fail "the source context is not a clean checkout"
  # This machine's own CA certificates (its HTTPS goes through a TLS-intercepting proxy), as README says.
  for crt in ${IOT_TEST_CA_CERTS:-/usr/local/share/ca-certificates/*.crt}; do
    if [[ -f $crt ]]; then cp "$crt" "$SRC/deploy/docker/ca-certificates.d/"; fi
  done
  export IOT_BINARIES=source IOT_DOCKER_CONTEXT=$SRC IOT_IMAGE_TAG=source
  step "builder-stage build from source, $(find "$SRC/deploy/docker/ca-certificates.d" -name '*.crt' | wc -l) extra CA certificate(s) (log: $TMP/source-build.log)"
  build_started=$(date +%s)
  dc build >"$TMP/source-build.log" 2>&1 &
  build_pid=$!
  while kill -0 "$build_pid" 2>/dev/null; do
    for ((i = 0; i < 60; i++)); do kill -0 "$build_pid" 2>/dev/null && sleep 1; done
    kill -0 "$build_pid" 2>/dev/null &&
      iot_say "compose:   ... $(grep -E '^(Building|Step|\[[0-9]+/[0-9]+\]|builder:)' "$TMP/source-build.log" | tail -1 | cut -c1-100)"
  done
  wait "$build_pid" || { tail -60 "$TMP/source-build.log" >&2; fail "docker-compose build from source"; }
  step "images built from source in $(($(date +%s) - build_started)) s"
  grep -q 'builder: npm ci in web/' "$TMP/source-build.log" ||
    grep -q 'Using cache' "$TMP/source-build.log" || fail "the builder did not run npm ci"
  COMPOSE_READY=1
  dc up -d >"$TMP/source-up.log" 2>&1 || { cat "$TMP/source-up.log" >&2; fail "up from the source images"; }
  wait_healthy postgres broker api gateway proxy
  one_shots_ok
  TOKEN=$(dc exec -T api cat /secrets/api/admin-token | tr -d '[:space:]')
  api POST /products "{\"productKey\":\"$PK\",\"name\":\"source images\",\"validation\":\"weak\"}" >/dev/null
  api PUT "/products/$PK/thing-model" "@$IOT_ROOT/tests/fixtures/tsl/valid/reference_example.json" >/dev/null
  api POST "/products/$PK/thing-model/publish" '{}' >/dev/null
  curl -sf "$BASE_URL/" | grep -qi '<html' || fail "the console built in the image is not served"
  devsim src "tcp://127.0.0.1:$MQTT_PORT" 2 10 2 || fail "iot-devsim against the source images ($(tail -3 "$TMP/src.log"))"
  check_stream src
  api GET "/products/$PK/devices/src-0001/properties" | grep -q '"PowerOn"' || fail "the device's properties are not readable"
  dc --profile monitoring down -v -t 30 >>"$TMP/source-up.log" 2>&1 || fail "down -v (source images)"
  COMPOSE_READY=""
fi
