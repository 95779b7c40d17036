#!/usr/bin/env bash
# stage.sh <build dir> <out dir>: collects what the runtime images need from a build made on Debian 12
# (the Dockerfile's builder stage, or tests/compose.sh from tests/run.sh's build):
#   bin/iot-api bin/iot-gateway bin/iot-migrate   (debug info stripped)
#   lib/iot_auth_plugin.so                        (the broker plugin)
#   share/web/ share/openapi.json                 (the console and the REST contract iot-api serves)
#   packages/services.txt packages/broker.txt     (the Debian packages their shared libraries come from)
set -euo pipefail
build=$1 out=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/share" "$out/packages"
for bin in services/api/iot-api services/gateway/iot-gateway services/migrate/iot-migrate; do
  [[ -x $build/$bin ]] || { echo "stage: $build/$bin is not built" >&2; exit 1; }
  objcopy --strip-debug "$build/$bin" "$out/bin/$(basename "$bin")"
done
plugin=$build/services/broker-plugin/iot_auth_plugin.so
[[ -f $plugin ]] || { echo "stage: $plugin is not built" >&2; exit 1; }
objcopy --strip-debug "$plugin" "$out/lib/iot_auth_plugin.so"
[[ -f $build/web/index.html ]] || { echo "stage: the console is not built ($build/web; web/build.sh)" >&2; exit 1; }
cp -a "$build/web" "$out/share/web"
rm -f "$out/share/web/.build-stamp"
cp "$root/schemas/api/openapi.json" "$out/share/openapi.json"

# Debian packages providing the shared libraries (the base image has libc, libstdc++ and libgcc).
packages_of() {
  local lib path pkg
  for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
    pkg=""
    for path in "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr$lib"; do
      pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1) && [[ -n $pkg ]] && break
    done
    [[ -n $pkg ]] || { echo "stage: no Debian package provides $lib" >&2; exit 1; }
    echo "$pkg"
  done | grep -vxE 'libc6|libstdc\+\+6|libgcc-s1' | sort -u
}
packages_of "$out"/bin/* >"$out/packages/services.txt"
packages_of "$out/lib/iot_auth_plugin.so" >"$out/packages/broker.txt"
echo "stage: $(du -sh "$out" | cut -f1) in $out; packages: $(tr '\n' ' ' <"$out/packages/services.txt")" >&2
