import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, TSX } from "../support/cli.js";
import { commandMissing, requireAws, requireComponent, requireEngine } from "../support/e2e.js";

/** Runs a benchmark with tiny sizes, to keep it working; its figures go to a temp folder. */
function bench(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX, join(REPO_ROOT, "bench", script), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? 1 : 0, out: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe("benchmarks, smoke runs with tiny sizes (figures not checked: speed is never tested)", () => {
  let results: string;
  beforeEach(() => {
    results = mkdtempSync(join(tmpdir(), "airloft-bench-smoke-"));
  });
  afterEach(() => rmSync(results, { recursive: true, force: true }));
  const read = (name: string) =>
    JSON.parse(readFileSync(join(results, `${name}.json`), "utf8")) as Record<string, unknown>;

  it("store", async function () {
    this.timeout(300_000);
    const r = await bench("store.ts", ["30,60"], { AIRLOFT_BENCH_RESULTS: results });
    assert.equal(r.code, 0, r.out);
    const rows = read("store").rows as Array<{ store: string; objects: number; reconcileWrites: number }>;
    assert.deepEqual(
      rows.map((x) => [x.store, x.objects]),
      [
        ["AirLoft", 30],
        ["lowdb, write per update", 30],
        ["AirLoft", 60],
      ],
    );
  });

  it("job scheduler tick and journal append (no engine)", async function () {
    this.timeout(120_000);
    const tick = await bench("scheduler-tick.ts", ["200", "3"], { AIRLOFT_BENCH_RESULTS: results });
    assert.equal(tick.code, 0, tick.out);
    assert.equal(read("scheduler-tick").objects, 200);
    const append = await bench("journal-append.ts", ["50", "3"], { AIRLOFT_BENCH_RESULTS: results });
    assert.equal(append.code, 0, append.out);
    assert.equal(read("journal-append").accounts, 50);
  });

  it("API server against json-server", async function () {
    this.timeout(120_000);
    const r = await bench("api.ts", ["40", "1", "4"], { AIRLOFT_BENCH_RESULTS: results });
    assert.equal(r.code, 0, r.out);
    const rows = read("api").rows as Array<{
      server: string;
      requestsPerSecond: number;
      non2xx: number;
      errors: number;
    }>;
    assert.deepEqual(rows.map((x) => x.server).sort(), [
      "AirLoft",
      "AirLoft",
      "AirLoft",
      "json-server",
      "json-server",
      "json-server",
    ]);
    assert.ok(
      rows.every((x) => x.requestsPerSecond > 0 && x.non2xx === 0 && x.errors === 0),
      JSON.stringify(rows),
    );
  });

  it("a hostile tenant beside a well-behaved one, against json-server", async function () {
    this.timeout(120_000);
    const r = await bench("abuse.ts", ["300", "3"], { AIRLOFT_BENCH_RESULTS: results });
    assert.equal(r.code, 0, r.out);
    const rows = read("abuse").rows as Array<{ scenario: string; server: string; requests: number }>;
    assert.deepEqual(
      rows.map((x) => `${x.server}: ${x.scenario.split(":")[0]}`),
      ["AirLoft: baseline", "AirLoft: attack", "json-server: baseline", "json-server: attack"],
    );
    assert.ok(
      rows.every((x) => x.requests > 0),
      JSON.stringify(rows),
    );
    const waves = (read("abuse").airloft as { attack?: { waves: Array<{ requests: number }> } }).attack?.waves ?? [];
    assert.equal(waves.length, 4, r.out);
  });

  it("AWS control loop", async function () {
    this.timeout(300_000);
    await requireAws(this);
    const r = await bench("aws.ts", ["6", "2"], { AIRLOFT_BENCH_RESULTS: results });
    assert.equal(r.code, 0, r.out);
    const rows = read("aws").rows as Array<{ pass: string; calls: number }>;
    assert.equal(rows.length, 3);
    assert.ok(
      rows.every((x) => x.calls > 0),
      JSON.stringify(rows),
    );
  });

  it("against docker-compose", async function () {
    this.timeout(300_000);
    // `make test` installs docker-compose (scripts/ensure-deps.sh); a bare `npx mocha` may lack it.
    requireComponent(this, "docker-compose", commandMissing("docker-compose", "apt-get install docker-compose"));
    const engine = await requireEngine(this);
    const r = await bench("compose.ts", ["2", "1"], {
      AIRLOFT_BENCH_RESULTS: results,
      AIRLOFT_BENCH_DOCKER_HOST: engine.host,
    });
    assert.equal(r.code, 0, r.out);
    const summary = read("compose").summary as Array<{ step: string }>;
    assert.deepEqual(
      summary.map((s) => s.step),
      ["cold", "noop", "change", "down"],
    );
  });

  it("a rollout under load through the edge, against docker-compose's", async function () {
    this.timeout(300_000);
    requireComponent(this, "docker-compose", commandMissing("docker-compose", "apt-get install docker-compose"));
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    const engine = await requireEngine(this);
    const r = await bench("rollout.ts", ["1"], {
      AIRLOFT_BENCH_RESULTS: results,
      AIRLOFT_BENCH_DOCKER_HOST: engine.host,
    });
    assert.equal(r.code, 0, r.out);
    const rows = read("rollout").rows as Array<{ tool: string }>;
    assert.deepEqual(
      rows.map((x) => x.tool),
      ["airloft (edge)", "docker-compose up -d"],
    );
  });

  it("the everyday commands against docker-compose's", async function () {
    this.timeout(300_000);
    requireComponent(this, "docker-compose", commandMissing("docker-compose", "apt-get install docker-compose"));
    const engine = await requireEngine(this);
    const r = await bench("cli-startup.ts", ["2", "1"], {
      AIRLOFT_BENCH_RESULTS: results,
      AIRLOFT_BENCH_DOCKER_HOST: engine.host,
    });
    assert.equal(r.code, 0, r.out);
    const summary = read("cli-startup").summary as Array<{
      command: string;
      airloftMs: number;
      peerMs: number | string;
    }>;
    assert.deepEqual(
      summary.map((s) => s.command),
      ["airloft apply", "airloft get", "airloft diff", "airloft describe", 'node -e ""'],
    );
    assert.ok(
      summary.every((s) => s.airloftMs > 0),
      JSON.stringify(summary),
    );
    assert.deepEqual(
      summary.map((s) => typeof s.peerMs),
      ["number", "number", "string", "string", "string"],
    );
  });

  it("the cost of metrics: the loop with and without, autoscaled, and a stats pass", async function () {
    this.timeout(300_000);
    const engine = await requireEngine(this);
    const r = await bench("metrics.ts", ["10", "2", "2"], {
      AIRLOFT_BENCH_RESULTS: results,
      AIRLOFT_BENCH_DOCKER_HOST: engine.host,
    });
    assert.equal(r.code, 0, r.out);
    const figures = read("metrics") as { loop: Array<{ mode: string }>; stats: Array<{ containers: number }> };
    assert.deepEqual(
      figures.loop.map((x) => x.mode),
      ["without", "with", "autoscale", "without", "with", "autoscale"],
    );
    assert.deepEqual(
      figures.stats.map((x) => x.containers),
      [2, 2],
    );
  });
});
