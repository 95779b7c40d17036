#!/usr/bin/env bash
# The Dockerfile's builder stage: builder.sh <source|prebuilt> <out dir>. `source` compiles the services
# (Release, no tests, no benchmarks) and the web console, then collects them with stage.sh; `prebuilt`
# takes what stage.sh already collected from a Debian 12 host's build into .docker-prebuilt/ (the Dockerfile
# copies it to /src/prebuilt/).
set -euo pipefail
mode=$1 out=$2
cd /src
case $mode in
  source)
    # The console first (a failing npm ci stops the build before the long compile). Its npm packages: the
    # context's web/node_modules when `deploy/install-deps.sh` made it from the lockfile, otherwise `npm ci`
    # from the lockfile (the only input not from the Debian archive).
    # Node.js trusts the system store too, with the CA certificates of deploy/docker/ca-certificates.d/.
    [[ -s /etc/ssl/certs/ca-certificates.crt ]] && export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    lock_hash=$(sha256sum web/package-lock.json | cut -d' ' -f1)
    if [[ ! -f web/node_modules/.iot-lock-stamp || $(cat web/node_modules/.iot-lock-stamp) != "$lock_hash" ]]; then
      echo "builder: npm ci in web/ (pinned by web/package-lock.json)" >&2
      (cd web && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "builder: npm ci failed. Without access to registry.npmjs.org from inside the build (no network, or" >&2
        echo "builder: a TLS-intercepting proxy whose CA the Debian image does not trust), put the proxy's CA" >&2
        echo "builder: certificate into deploy/docker/ca-certificates.d/, or run deploy/install-deps.sh on the" >&2
        echo "builder: host first: web/node_modules then comes with the context." >&2
        exit 1
      }
    fi
    web/build.sh /build/web
    echo "builder: compiling the services (Release)" >&2
    cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DIOT_BUILD_TESTS=OFF -DIOT_BUILD_BENCH=OFF \
      -DIOT_WERROR=OFF -DIOT_GIT_COMMIT="${IOT_GIT_COMMIT:-}" >/tmp/configure.log 2>&1 || { cat /tmp/configure.log >&2; exit 1; }
    cmake --build /build -j"$(nproc)" --target iot-api iot-gateway iot-migrate iot_auth_plugin
    deploy/docker/stage.sh /build "$out"
    ;;
  prebuilt)
    [[ -d /src/prebuilt/bin ]] ||
      { echo "builder: IOT_BINARIES=prebuilt but .docker-prebuilt/ is missing (deploy/docker/stage.sh)" >&2; exit 1; }
    cp -a /src/prebuilt "$out"
    rm -f "$out/stage.sh"
    ;;
  *) echo "builder: IOT_BINARIES must be source or prebuilt, not '$mode'" >&2; exit 1 ;;
esac
