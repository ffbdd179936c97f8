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
. "$(dirname "$0")/rootfs.sh"
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
busybox_root "$ROOT"
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/config" "$ROOT/data"
copy_binary "$ROOT" caddy
# The system roots, so that a real ACME directory (Let's Encrypt) is trusted.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"; fi
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data' \
  -c 'CMD ["caddy", "run", "--resume"]' - "$TAG" >/dev/null
echo "built $TAG"
