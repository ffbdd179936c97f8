#!/bin/sh
# The README's first command: set up everything on a fresh machine, then apply the example
# manifests on the local Docker engine and show what converged.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
npm run --silent build
DOCKER_HOST=$(sh scripts/engine.sh up)
export DOCKER_HOST
sh scripts/busybox-image.sh airloft-examples/busybox:1 >&2
npx airloft apply -f manifests/
echo
npx airloft get -o wide
WEB=$(npx airloft get app/demo/web -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).status.endpoints[0]))')
cat <<MSG

The demo runs. Try:
  curl $WEB/cgi-bin/api          # web calls the api app by name
  export DOCKER_HOST=$DOCKER_HOST
  npx airloft describe app/demo/api
  npx airloft delete -f manifests/  # and \`make down\` to stop a private engine
MSG
