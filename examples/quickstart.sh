#!/usr/bin/env bash
# From nothing to a first device: creates a product, uploads and publishes the lamp's thing model
# (examples/lamp/model.json), registers a device and runs the lamp against the platform. Run it next to a
# running platform (deploy/local/run.sh in another terminal):
#
#   examples/quickstart.sh
#
# Settings (environment): IOT_API (http://127.0.0.1:8080), IOT_ADMIN_TOKEN (default: .local/admin-token),
# IOT_PRODUCT_KEY (lamp0001), IOT_DEVICE_NAME (lamp-1), IOT_MQTT_URI (tcp://127.0.0.1:1883),
# IOT_LAMP (cpp: examples/lamp/iot-example-lamp of IOT_BUILD_DIR, build-release (deploy/local/run.sh's) or build,
# the first that has it; else python: examples/python/lamp.py), IOT_RUN_SECONDS (run the lamp this long; default
# until Ctrl-C), IOT_PYTHON (default /usr/bin/python3, Debian's, which has python3-paho-mqtt, else python3).
# Existing product/device are reused.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
API=${IOT_API:-http://127.0.0.1:8080}
TOKEN=${IOT_ADMIN_TOKEN:-$(cat "$ROOT/.local/admin-token" 2>/dev/null || true)}
PK=${IOT_PRODUCT_KEY:-lamp0001}
DN=${IOT_DEVICE_NAME:-lamp-1}
MQTT=${IOT_MQTT_URI:-tcp://127.0.0.1:1883}
[[ -n $TOKEN ]] || { echo "quickstart: set IOT_ADMIN_TOKEN (deploy/local/run.sh prints it)" >&2; exit 2; }

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
# call METHOD PATH [BODY]: prints the body; fails on HTTP >= 400 (showing the problem).
call() {
  local method=$1 path=$2 body=${3:-} out status
  out=$(mktemp)
  status=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$API/api/v1$path")
  if [[ $status -ge 400 ]]; then
    echo "quickstart: $method $path -> $status: $(cat "$out")" >&2
    rm -f "$out"
    return 1
  fi
  cat "$out"
  rm -f "$out"
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

say "product $PK"
if ! call GET "/products/$PK" >/dev/null 2>&1; then
  call POST /products "{\"name\":\"Quickstart lamp\",\"productKey\":\"$PK\"}" >/dev/null
fi

say "thing model: upload examples/lamp/model.json and publish it"
call PUT "/products/$PK/thing-model" "$(cat "$ROOT/examples/lamp/model.json")" >/dev/null
version=$(call POST "/products/$PK/thing-model/publish" | field version)
echo "published version $version" >&2

say "device $DN"
if ! device=$(call GET "/products/$PK/devices/$DN" 2>/dev/null); then
  device=$(call POST "/products/$PK/devices" "{\"deviceName\":\"$DN\"}")
fi
SECRET=$(printf '%s' "$device" | field deviceSecret)

cat >&2 <<EOT

  In another terminal, as an operator:
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
         -d '{"params":{"LightSwitch":1}}' $API/api/v1/products/$PK/devices/$DN/properties
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
         -d '{"params":{"Times":3}}' $API/api/v1/products/$PK/devices/$DN/services/Blink
    curl -s -H "Authorization: Bearer $TOKEN" $API/api/v1/products/$PK/devices/$DN/properties

EOT

LAMP=${IOT_LAMP:-}
CPP_LAMP=
for dir in ${IOT_BUILD_DIR:+"$IOT_BUILD_DIR"} "$ROOT/build-release" "$ROOT/build"; do
  if [[ -x $dir/examples/lamp/iot-example-lamp ]]; then
    CPP_LAMP=$dir/examples/lamp/iot-example-lamp
    break
  fi
done
[[ -n $LAMP ]] || { [[ -n $CPP_LAMP ]] && LAMP=cpp || LAMP=python; }
[[ $LAMP != cpp || -n $CPP_LAMP ]] || { echo "quickstart: the C++ lamp is not built (set IOT_BUILD_DIR)" >&2; exit 2; }
PYTHON=${IOT_PYTHON:-python3}
[[ -n ${IOT_PYTHON:-} || ! -x /usr/bin/python3 ]] || PYTHON=/usr/bin/python3
say "running the lamp ($LAMP) against $MQTT; Ctrl-C stops it"
if [[ $LAMP == cpp ]]; then
  if [[ -n ${IOT_RUN_SECONDS:-} ]]; then
    exec timeout --signal=INT "$IOT_RUN_SECONDS" "$CPP_LAMP" "$MQTT" "$PK" "$DN" "$SECRET"
  else
    exec "$CPP_LAMP" "$MQTT" "$PK" "$DN" "$SECRET"
  fi
else
  broker=${MQTT#*://}
  IOT_BROKER=$broker IOT_PRODUCT_KEY=$PK IOT_DEVICE_NAME=$DN IOT_DEVICE_SECRET=$SECRET \
    exec "$PYTHON" "$ROOT/examples/python/lamp.py"
fi
