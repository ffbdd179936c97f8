#!/bin/sh
# Tries the AWS provider with no AWS account: starts moto_server on 127.0.0.1 (a local AWS API
# endpoint) and applies manifests/aws/ against it with its own state file.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
npm run --silent build
command -v moto_server >/dev/null 2>&1 || { echo "moto_server is missing: pip install 'moto[server]'" >&2; exit 1; }
mkdir -p .airloft
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
moto_server -H 127.0.0.1 -p "$PORT" >.airloft/moto.log 2>&1 &
echo $! >.airloft/moto.pid
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
until curl -sf -X POST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null 2>&1; do sleep 0.2; done
STATE=.airloft/aws-demo.json
rm -f "$STATE"
npx airloft --state "$STATE" apply -f manifests/aws/
echo
npx airloft --state "$STATE" get -o wide
cat <<MSG

AirLoft converged manifests/aws/ on a local AWS endpoint ($AWS_ENDPOINT_URL). Try:
  export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
  npx airloft --state $STATE describe group/shop
  npx airloft --state $STATE delete group/shop --cascade
  kill \$(cat .airloft/moto.pid)      # stop the local endpoint
MSG
