#!/bin/sh
# The README's first command: set up everything on a fresh machine, then apply the example
# manifests on the local Docker engine and show what converged, ending with the web app's
# address through the edge proxy.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
npm run --silent build
DOCKER_HOST=$(sh scripts/engine.sh up)
export DOCKER_HOST
sh scripts/busybox-image.sh airloft-examples/busybox:1 >&2
sh scripts/redis-image.sh airloft-examples/redis:1 >&2
sh scripts/caddy-image.sh airloft-examples/caddy:2 >&2
# The edge's settings, kept for every later command (and `make down`): free ports on 127.0.0.1
# unless given, and the image made above from Debian's caddy.
mkdir -p .airloft
if [ -f .airloft/edge.env ]; then . ./.airloft/edge.env; fi
free_port() { node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
AIRLOFT_EDGE_IMAGE=${AIRLOFT_EDGE_IMAGE:-airloft-examples/caddy:2}
AIRLOFT_EDGE_HTTP_PORT=${AIRLOFT_EDGE_HTTP_PORT:-$(free_port)}
AIRLOFT_EDGE_HTTPS_PORT=${AIRLOFT_EDGE_HTTPS_PORT:-$(free_port)}
export AIRLOFT_EDGE_IMAGE AIRLOFT_EDGE_HTTP_PORT AIRLOFT_EDGE_HTTPS_PORT
printf 'export AIRLOFT_EDGE_IMAGE=%s AIRLOFT_EDGE_HTTP_PORT=%s AIRLOFT_EDGE_HTTPS_PORT=%s\n' \
  "$AIRLOFT_EDGE_IMAGE" "$AIRLOFT_EDGE_HTTP_PORT" "$AIRLOFT_EDGE_HTTPS_PORT" > .airloft/edge.env
npx airloft apply -f manifests/
echo
npx airloft get -o wide
URL=$(npx airloft get app/demo/web -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).status.url))')
# *.localhost needs no DNS in browsers and curl; here the Host header says it, to 127.0.0.1.
ANSWER=$(node -e '
const u = new URL(process.argv[1]);
require("node:http").get({ host: "127.0.0.1", port: u.port || 80, path: "/cgi-bin/api", headers: { host: u.hostname } }, (res) => {
  let body = ""; res.on("data", (d) => (body += d)).on("end", () => { console.log(`${res.statusCode} ${body.trim()}`); process.exit(res.statusCode === 200 ? 0 : 1); });
}).on("error", (e) => { console.log(e.message); process.exit(1); });' "$URL") || { echo "the edge did not answer at $URL: $ANSWER" >&2; exit 1; }
cat <<MSG

The demo runs. Through the edge, $URL answered:
  $ANSWER
Try:
  curl ${URL}cgi-bin/api         # web calls the api app by name; the cache is bound
  export DOCKER_HOST=$DOCKER_HOST
  . ./.airloft/edge.env           # the edge's image and ports, for later commands
  npx airloft describe app/demo/web
  npx airloft get quota           # what the group uses of its limits
  npx airloft delete -f manifests/  # and \`make down\` to stop a private engine
MSG
