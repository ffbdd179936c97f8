#!/bin/sh
# Makes an image of Debian's pebble (a test ACME server) and pebble-challtestsrv (its DNS), for
# the edge's TLS tests: pebble must run on a network the edge container reaches, and validate
# HTTP-01 against the edge there. Usage: pebble-image.sh TAG
set -eu
TAG=${1:-airloft-test/pebble:1}
if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
for bin in busybox pebble pebble-challtestsrv; do
  command -v "$bin" >/dev/null || { echo "$bin is not installed (apt-get install busybox-static pebble)" >&2; exit 1; }
done
. "$(dirname "$0")/rootfs.sh"
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
busybox_root "$ROOT"
copy_binary "$ROOT" pebble
copy_binary "$ROOT" pebble-challtestsrv
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' - "$TAG" >/dev/null
echo "built $TAG"
