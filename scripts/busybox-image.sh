#!/bin/sh
# Makes a small image from Debian's busybox-static, without a registry: a root folder holding
# busybox and its applet links, imported with `docker import`. Usage: busybox-image.sh TAG
set -eu
TAG=${1:-airloft-examples/busybox:1}
if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || { echo "busybox is not installed (apt-get install busybox-static)" >&2; exit 1; }
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/bin" "$ROOT/tmp" "$ROOT/www" "$ROOT/etc"
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$ROOT/etc/passwd"
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$TAG" >/dev/null
echo "built $TAG"
