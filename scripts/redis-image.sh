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
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/bin" "$ROOT/tmp" "$ROOT/www/cgi-bin" "$ROOT/data" "$ROOT/etc"
cp "$(command -v busybox)" "$ROOT/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
for bin in redis-server redis-cli; do
  cp -L "$(command -v $bin)" "$ROOT/bin/$bin"
  for lib in $(ldd "$(command -v $bin)" | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$TAG" >/dev/null
echo "built $TAG"
