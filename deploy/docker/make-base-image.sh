#!/usr/bin/env bash
# Makes a Debian 12 base image without a container registry: debootstrap (minbase) from the Debian archive,
# then `docker import`. Use it when the official debian:12 image cannot be pulled, and build with
#   IOT_BASE_IMAGE=iot-debian:12 docker-compose build      (see README, "Deploy with Docker Compose")
#
# Usage: deploy/docker/make-base-image.sh [image name (iot-debian:12)]
# Settings: IOT_DEBIAN_MIRROR (http://deb.debian.org/debian), IOT_BASE_REBUILD=1 rebuilds an existing image.
# Needs root (debootstrap), debootstrap and docker. About two minutes; skipped when the image exists.
set -euo pipefail

IMAGE=${1:-iot-debian:12}
MIRROR=${IOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { printf '[iot] %s\n' "$*" >&2; }

if [[ ${IOT_BASE_REBUILD:-0} != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "base image $IMAGE exists (IOT_BASE_REBUILD=1 rebuilds it)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { say "error: debootstrap needs root"; exit 1; }
command -v debootstrap >/dev/null || { say "error: debootstrap missing (deploy/install-deps.sh --docker)"; exit 1; }

root=$(mktemp -d /tmp/iot-base.XXXXXX)
log=$root.log
trap 'rm -rf "$root"' EXIT
say "debootstrap bookworm (minbase) from $MIRROR into $root (about 2 minutes; log: $log)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$log" 2>&1 &
pid=$!
# Progress: debootstrap is silent for minutes otherwise.
while kill -0 "$pid" 2>/dev/null; do
  sleep 15
  kill -0 "$pid" 2>/dev/null && say "  ... $(grep -E '^I: ' "$log" | tail -1 | cut -c1-100)"
done
wait "$pid" || { tail -20 "$log" >&2; say "error: debootstrap failed (log: $log)"; exit 1; }
# Slim it like the official image: no apt lists, no package caches; keep the archive as the only source.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
echo "deb $MIRROR bookworm main" >"$root/etc/apt/sources.list"
echo "deb $MIRROR bookworm-updates main" >>"$root/etc/apt/sources.list"
echo "deb http://deb.debian.org/debian-security bookworm-security main" >>"$root/etc/apt/sources.list"
say "importing as $IMAGE"
tar -C "$root" -c . | docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
rm -f "$log"
say "base image $IMAGE ready"
