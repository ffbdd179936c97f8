#!/bin/sh
# Makes a Redis image without a registry: busybox (a shell, httpd) plus Debian's redis-server and
# redis-cli with the libraries ldd lists, imported with `docker import`. Used by the tests.
# Usage: redis-image.sh TAG
set -eu
TAG=${1:-airloft-test/redis:1}
if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
for bin in busybox redis-server redis-cli; do
  command -v "$bin" >/dev/null || { echo "$bin is not installed (apt-get install busybox-static redis-server)" >&2; exit 1; }
done
. "$(dirname "$0")/rootfs.sh"
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
busybox_root "$ROOT"
mkdir -p "$ROOT/www/cgi-bin" "$ROOT/data"
for bin in redis-server redis-cli; do copy_binary "$ROOT" "$bin"; done
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$TAG" >/dev/null
echo "built $TAG"
