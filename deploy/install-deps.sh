#!/usr/bin/env bash
# Installs the platform's dependencies from Debian 12 packages (and, for the web console, npm packages
# pinned by the committed lockfile). Idempotent and quiet when everything is already there.
#
#   deploy/install-deps.sh                what building and running needs (deploy/local/run.sh)
#   deploy/install-deps.sh --test         plus test, fuzzing, benchmark and browser tooling (tests/run.sh, bench/)
#   deploy/install-deps.sh --docker       plus docker.io, docker-compose and debootstrap (tests/compose.sh)
#   deploy/install-deps.sh --image-build  only what compiling needs, no servers, no npm (the Dockerfile's builder)
#
# Installing Debian's mosquitto and postgresql packages would normally start their system services on
# 1883/5432; the platform runs its own private instances, so service start is blocked during the install
# (policy-rc.d) and PostgreSQL's default cluster is not created.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config ccache git ca-certificates openssl python3 ninja-build
  libboost1.81-dev libboost-program-options1.81-dev nlohmann-json3-dev libpqxx-dev libpq-dev libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev duktape-dev libzstd-dev
  mosquitto-dev libmosquitto-dev librabbitmq-dev
)
RUN_PACKAGES=(procps iproute2 acl mosquitto postgresql-15 postgresql-client-15)
TEST_PACKAGES=(catch2 mosquitto-clients clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14 wrk libbenchmark-dev chromium fonts-dejavu-core
  python3-paho-mqtt curl prometheus systemd rabbitmq-server)  # python3-paho-mqtt, curl: examples/python, examples/quickstart.sh and
# their tests; prometheus: promtool checks deploy/monitoring/ (and a local Prometheus for the docs' screenshot);
# systemd: systemd-analyze verify of the units (ops.install); clang-format-14, clang-tidy-14: tools/format.sh;
# rabbitmq-server: the AMQP destination's tests start a private RabbitMQ (tests/support/.../rabbitmq_process.hpp)
DOCKER_PACKAGES=(docker.io docker-compose debootstrap)

PACKAGES=("${BUILD_PACKAGES[@]}")
with_web=1 with_run=1
for arg in "$@"; do
  case $arg in
    --test) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    --docker) PACKAGES+=("${DOCKER_PACKAGES[@]}") ;;
    --image-build) with_web=0 with_run=0; PACKAGES+=(nodejs npm) ;;  # a fresh Debian: no other Node.js
    *) echo "install-deps: unknown option $arg (--test, --docker, --image-build)" >&2; exit 2 ;;
  esac
done
((with_run)) && PACKAGES+=("${RUN_PACKAGES[@]}")

# with_progress <log> <command...>: runs the command with its output appended to <log>, printing a line
# every 15 s (the log's last line) so nobody wonders whether it hangs.
with_progress() {
  local log=$1; shift
  "$@" >>"$log" 2>&1 &
  local pid=$! rc=0
  while kill -0 "$pid" 2>/dev/null; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do kill -0 "$pid" 2>/dev/null && sleep 1; done
    kill -0 "$pid" 2>/dev/null && echo "install-deps:   ... $(tail -1 "$log" 2>/dev/null | cut -c1-100)" >&2
  done
  wait "$pid" || rc=$?
  return "$rc"
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]} (log: /tmp/iot-install-deps.log)" >&2
  # Keep package scripts from starting system services (mosquitto on 1883, postgresql on 5432, rabbitmq
  # on 5672).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    created_policy=1
  fi
  cleanup_policy() { if ((created_policy)); then $SUDO rm -f "$policy"; fi; }
  trap cleanup_policy EXIT
  # No default PostgreSQL cluster: the platform creates its own under its data directory.
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/iot-no-main.conf >/dev/null
  export DEBIAN_FRONTEND=noninteractive
  : >/tmp/iot-install-deps.log
  if ! with_progress /tmp/iot-install-deps.log $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
    echo "install-deps: apt-get update" >&2
    $SUDO apt-get update -qq >>/tmp/iot-install-deps.log 2>&1
    with_progress /tmp/iot-install-deps.log $SUDO apt-get install -y --no-install-recommends "${missing[@]}" || {
      echo "install-deps: apt-get failed; see /tmp/iot-install-deps.log" >&2; tail -20 /tmp/iot-install-deps.log >&2; exit 1; }
  fi
  # On machines with systemd the units may still be enabled for the next boot: disable them.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now mosquitto.service >/dev/null 2>&1 || true
    $SUDO systemctl disable --now postgresql.service >/dev/null 2>&1 || true
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    $SUDO systemctl disable --now rabbitmq-server.service epmd.socket >/dev/null 2>&1 || true
  fi
fi

((with_web)) || exit 0

# Web console: Node.js and npm from Debian when absent (a NodeSource nodejs already brings npm and
# conflicts with Debian's npm package), then `npm ci` from the committed lockfile whenever node_modules is
# missing or the lockfile changed (stamp kept inside node_modules).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  echo "install-deps: installing nodejs npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >>/tmp/iot-install-deps.log 2>&1 ||
    { $SUDO apt-get update -qq >>/tmp/iot-install-deps.log 2>&1 &&
      $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >>/tmp/iot-install-deps.log 2>&1; } ||
    { echo "install-deps: apt-get failed for nodejs npm; see /tmp/iot-install-deps.log" >&2; exit 1; }
fi
# npm_ci_locked <dir>: `npm ci` in <dir> unless its node_modules matches the lockfile already.
npm_ci_locked() {
  local dir=$1 lock_hash stamp
  lock_hash=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  stamp=$dir/node_modules/.iot-lock-stamp
  [[ -f $stamp && $(cat "$stamp") == "$lock_hash" ]] && return 0
  # Two scripts started at once (tests and a local run) must not run npm ci into one node_modules together.
  exec 9>"/tmp/iot-npm-ci-$(printf '%s' "$dir" | sha256sum | cut -c1-12).lock"
  flock 9
  if [[ ! -f $stamp || $(cat "$stamp") != "$lock_hash" ]]; then
    echo "install-deps: npm ci in $dir" >&2
    local npm_log
    npm_log=$(mktemp /tmp/iot-npm-ci.XXXXXX.log)
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1) ||
      { echo "install-deps: npm ci failed in $dir; see $npm_log" >&2; tail -20 "$npm_log" >&2; exit 1; }
    rm -f "$npm_log"
    echo "$lock_hash" >"$stamp"
  fi
  exec 9>&-
}
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
npm_ci_locked "$ROOT_DIR/web"
# examples/node (Alibaba's official Node SDK, pinned by its lockfile): only for the tests that run it
# (IOT_INSTALL_EXAMPLES=1 from tests/run.sh); a local run does not need it.
if [[ ${IOT_INSTALL_EXAMPLES:-0} == 1 ]]; then
  npm_ci_locked "$ROOT_DIR/examples/node"
fi
