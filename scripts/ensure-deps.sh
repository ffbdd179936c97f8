#!/bin/sh
# Installs what AirLoft needs on a fresh Debian machine: Docker's engine, Debian's
# busybox-static (the test and example images are made from it, with no registry), and the npm
# packages; with "test", also what only the tests need (docker-compose, chromium). Does nothing
# that is already there.
set -eu
cd "$(dirname "$0")/.."
missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v busybox >/dev/null 2>&1 || missing="$missing busybox-static"
# redis-server and redis-cli go into the Redis image the service tests build.
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
# caddy: the edge proxy's image is made from Debian's binary (no registry here).
command -v caddy >/dev/null 2>&1 || missing="$missing caddy"
if [ "${1:-}" = test ]; then
  # docker-compose: the peer the benchmarks measure AirLoft against (a smoke run is a test).
  command -v docker-compose >/dev/null 2>&1 || missing="$missing docker-compose"
  # chromium: the status page's test drives it headless through playwright-core.
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  # pebble: the ACME server the edge's TLS tests get certificates from.
  command -v pebble >/dev/null 2>&1 || missing="$missing pebble"
  # docker-registry and htpasswd: the private registry the pull-secret tests log in to.
  command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
  command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
  # prometheus: a real scraper reads /metrics in the metrics test.
  command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "missing:$missing; install them (Debian: apt-get install$missing)" >&2
    exit 1
  fi
fi
# The AWS tests talk to moto_server (Python's moto package), which this kind of machine carries.
command -v moto_server >/dev/null 2>&1 || echo "warning: moto_server is missing, the AWS tests need it (pip install 'moto[server]')" >&2
# A node_modules that is a link (a second checkout sharing the first's packages) is left alone:
# `npm ci` would empty the folder it points to, under the other checkout's feet.
if [ -L node_modules ]; then
  :
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
