#!/usr/bin/env bash
# Builds the web console into <out-dir> (default: $IOT_BUILD_DIR/web, where iot-api looks by default).
# Cached: skipped when the sources, the lockfile and the out dir's stamp agree. Needs web/node_modules
# (deploy/install-deps.sh runs `npm ci`).
set -euo pipefail
WEB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-${IOT_BUILD_DIR:-$WEB/../build}/web}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Every input of the build, hashed in a stable order.
hash=$(cd "$WEB" && find src index.html package.json package-lock.json tsconfig.json vite.config.ts build.sh -type f -print0 |
  sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
stamp="$OUT/.build-stamp"
if [[ -f $stamp && $(cat "$stamp") == "$hash" && -f $OUT/index.html ]]; then
  exit 0
fi
[[ -d $WEB/node_modules ]] || { echo "web/build.sh: web/node_modules is missing: run deploy/install-deps.sh" >&2; exit 1; }
echo "web: building the console into $OUT" >&2
log=$(mktemp)
if ! (cd "$WEB" && npx --no-install tsc --noEmit && npx --no-install vite build --logLevel warn --outDir "$OUT" --emptyOutDir) >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "web/build.sh: the console build failed" >&2
  exit 1
fi
rm -f "$log"
echo "$hash" >"$stamp"
