#!/bin/sh
# Makes the edge proxy's image without a registry: Debian's caddy with the libraries ldd lists,
# plus busybox (its wget reaches Caddy's admin API from inside the container, as in the
# official image), imported with `docker import`. Where a registry is reachable, `caddy:2`
# serves instead (AIRLOFT_EDGE_IMAGE). Usage: caddy-image.sh TAG
set -eu
TAG=${1:-airloft-examples/caddy:2}
if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
for bin in busybox caddy; do
  command -v "$bin" >/dev/null || { echo "$bin is not installed (apt-get install busybox-static caddy)" >&2; exit 1; }
done
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/bin" "$ROOT/tmp" "$ROOT/etc/ssl/certs" "$ROOT/config" "$ROOT/data"
cp "$(command -v busybox)" "$ROOT/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
cp -L "$(command -v caddy)" "$ROOT/bin/caddy"
for lib in $(ldd "$(command -v caddy)" | grep -o '/[^ ]*'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# The system roots, so that a real ACME directory (Let's Encrypt) is trusted.
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data' \
  -c 'CMD ["caddy", "run", "--resume"]' - "$TAG" >/dev/null
echo "built $TAG"
