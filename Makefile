# AirLoft: `make quickstart` sets up and runs the example; `make test` runs every test.
.PHONY: quickstart aws-demo build typecheck format test test-unit bench bench-store bench-compose bench-cli bench-aws bench-watch bench-api bench-abuse bench-metrics bench-rollout bench-swarm chaos down clean

quickstart:
	sh scripts/quickstart.sh

# The AWS provider against a local moto_server: no account needed.
aws-demo:
	sh scripts/aws-demo.sh

build: node_modules
	npm run --silent build

typecheck: node_modules
	npx tsc --noEmit

# Formats the tree and applies the linter's safe fixes; `make test` fails on what is left.
format: node_modules
	npx biome check --write .

# The end-to-end tests start and stop their own private dockerd; they need root.
test:
	sh scripts/ensure-deps.sh test
	npx biome ci .
	npx tsc --noEmit
	npx mocha

# The long form of the crash, fault and fuzz suites (the regular run has a few kills and a few
# hundred inputs): KILLS SIGKILLs per chaos test, RUNS inputs per fuzz property.
KILLS ?= 200
RUNS ?= 20000
chaos:
	sh scripts/ensure-deps.sh test
	AIRLOFT_CHAOS_KILLS=$(KILLS) AIRLOFT_FUZZ_RUNS=$(RUNS) npx mocha --config test/chaos.mocharc.json

test-unit: node_modules
	npx mocha --config test/unit/.mocharc.json

node_modules: package-lock.json
	sh scripts/ensure-deps.sh

# Benchmarks print their figures and a peer's, and write bench/results/*.json; they are not
# tests (a smoke run of each with tiny sizes is). `make bench` runs them all (about 30 minutes).
bench: bench-store bench-compose bench-cli bench-aws bench-watch bench-api bench-abuse bench-metrics bench-rollout bench-swarm

bench-store: node_modules
	npx tsx bench/store.ts

bench-compose: node_modules
	sh scripts/ensure-deps.sh test
	npx tsx bench/compose.ts

# The everyday commands (no-op apply, get, diff, describe) beside docker-compose's, on 50 apps.
bench-cli: node_modules
	sh scripts/ensure-deps.sh test
	npx tsx bench/cli-startup.ts

bench-aws: node_modules
	npx tsx bench/aws.ts

bench-watch: node_modules
	npx tsx bench/watch.ts

# The API server under concurrent clients (autocannon) against json-server, and its memory.
bench-api: node_modules
	npx tsx bench/api.ts

# A hostile tenant (deep nesting, stalled watches, large objects, bulk applies, wrong logins)
# beside a well-behaved one on `airloft serve` with 20,000 objects; json-server as the peer.
bench-abuse: node_modules
	npx tsx bench/abuse.ts

# The loop with and without metrics (200 apps), and one stats pass against the number of containers.
bench-metrics: node_modules
	sh scripts/ensure-deps.sh test
	npx tsx bench/metrics.ts

# A rolling update under load through the edge proxy, beside docker-compose's `up -d`.
bench-rollout: node_modules
	sh scripts/ensure-deps.sh test
	npx tsx bench/rollout.ts

# 50 apps on a real three-node swarm (three dockerd in network namespaces, root) beside `docker stack deploy`.
bench-swarm: node_modules
	sh scripts/ensure-deps.sh test
	flock /tmp/airloft-swarm.lock npx tsx bench/swarm.ts

down:
	-if [ -f .airloft/edge.env ]; then . ./.airloft/edge.env; fi; DOCKER_HOST=$$(sh scripts/engine.sh up 2>/dev/null) npx airloft delete -f manifests/ --timeout 60s
	sh scripts/engine.sh down

clean:
	rm -rf dist .airloft
