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

# Debian packages providing the shared libraries (the base image has libc, libstdc++ and libgcc). One
# dpkg -S for all of them (it is slow); a library is looked up under its path, its real path and the
# /usr-merged twin, and every one of them must come from a package.
packages_of() {
  local libs=() candidates=() lib found
  mapfile -t libs < <(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
  for lib in "${libs[@]}"; do candidates+=("$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr$lib"); done
  found=$(dpkg -S "${candidates[@]}" 2>/dev/null || true)  # lines "package:arch: /path"
  for lib in "${libs[@]}"; do
    printf '%s\n' "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr$lib" |
      grep -qxFf - <(sed 's/^[^ ]*: //' <<<"$found") ||
      { echo "stage: no Debian package provides $lib" >&2; exit 1; }
  done
  sed 's/:.*//' <<<"$found" | grep -vxE 'libc6|libstdc\+\+6|libgcc-s1' | sort -u
}
packages_of "$out"/bin/* >"$out/packages/services.txt"
packages_of "$out/lib/iot_auth_plugin.so" >"$out/packages/broker.txt"
echo "stage: $(du -sh "$out" | cut -f1) in $out; packages: $(tr '\n' ' ' <"$out/packages/services.txt")" >&2
