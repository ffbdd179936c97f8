#!/bin/sh
# Finds a Docker engine, or starts a private one for AirLoft, and prints its address.
#   engine.sh up    print a reachable engine's DOCKER_HOST, starting .airloft/docker if needed
#   engine.sh down  stop the private engine started by `up`
set -eu
cd "$(dirname "$0")/.."
DIR="$PWD/.airloft/docker"
SOCK="unix://$DIR/docker.sock"

reachable() { DOCKER_HOST="$1" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case "${1:-up}" in
up)
  for host in "${DOCKER_HOST:-}" "unix:///var/run/docker.sock" "$SOCK"; do
    if [ -n "$host" ] && reachable "$host"; then echo "$host"; exit 0; fi
  done
  [ "$(id -u)" = 0 ] || { echo "no Docker engine is reachable; start one or set DOCKER_HOST" >&2; exit 1; }
  mkdir -p "$DIR"
  echo "starting a private Docker engine in $DIR (log: $DIR/dockerd.log)" >&2
  nohup dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
    --host "$SOCK" --storage-driver vfs >"$DIR/dockerd.log" 2>&1 &
  i=0
  until reachable "$SOCK"; do
    i=$((i + 1))
    [ $i -lt 120 ] || { echo "dockerd did not start; see $DIR/dockerd.log" >&2; tail -5 "$DIR/dockerd.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "$SOCK"
  ;;
down)
  if [ -f "$DIR/dockerd.pid" ]; then
    kill "$(cat "$DIR/dockerd.pid")" 2>/dev/null || true
    echo "stopped the private Docker engine" >&2
  fi
  ;;
*)
  echo "usage: engine.sh up|down" >&2; exit 2 ;;
esac
