/**
 * A rollout under load: the same three-replica web app updated to a new image, with AirLoft
 * through its edge proxy and with docker-compose (`up -d` after the image changed, the replicas
 * published on host ports), on one private engine, under the same steady load, in one run.
 * For each: requests, failed requests and p99 latency during the update, and the time from the
 * apply (or `up -d`) to the first answer from the new version.
 * Usage: npx tsx bench/rollout.ts [clients=4]
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { stopEngine, TEST_IMAGE, useEngine } from "../support/engine.js";
import { edgeGet, type LoadResult, loadUntil } from "../support/http-load.js";
import { freePort, freePortRange } from "../support/ports.js";
import { round, writeResults } from "./lib/measure.js";

const CLIENTS = Number(process.argv[2] ?? 4);
const ROOT = join(import.meta.dirname, "..");
const TSX = import.meta.resolve("tsx");
const EDGE_IMAGE = "airloft-bench/caddy:2";
const run = promisify(execFile);
/** sh as PID 1 traps SIGTERM: both tools stop a replica without waiting out a stop timeout. */
const COMMAND = 'trap "exit 0" TERM; echo "$VERSION $HOSTNAME" > /www/index.html; httpd -f -p 8080 -h /www & wait';

interface Row {
  readonly tool: string;
  readonly requests: number;
  readonly failed: number;
  readonly p99Ms: number;
  readonly newVersionAfterMs: number;
  /** How long the apply or `up -d` took. */
  readonly commandMs: number;
}

function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0, 1);
}

/** Runs `update` under load and measures it; `until` resolves once the new version answered. */
async function measured(
  tool: string,
  ports: readonly number[],
  host: string,
  update: () => Promise<unknown>,
): Promise<Row> {
  const t0 = performance.now();
  let updateMs = 0;
  let polledAt: number | undefined;
  // The load goes on after the command returns, until the new version answers (compose returns
  // before its new containers listen).
  const done = update().then(async () => {
    updateMs = performance.now() - t0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const answers = await Promise.all(ports.map((p) => edgeGet(p, host).catch(() => ({ body: "" }))));
      polledAt ??= answers.some((a) => a.body.startsWith("v2 ")) ? performance.now() : undefined;
      if (answers.every((a) => a.body.startsWith("v2 "))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const load: LoadResult = await loadUntil(ports, host, done, CLIENTS);
  await done;
  if (load.failures.length > 0) process.stderr.write(`  ${tool}: ${load.failures.join("; ")}\n`);
  const seen = Math.min(load.firstSeen.get("v2") ?? Number.POSITIVE_INFINITY, polledAt ?? Number.POSITIVE_INFINITY);
  return {
    tool,
    requests: load.requests,
    failed: load.failed,
    p99Ms: p99(load.latencies),
    newVersionAfterMs: Number.isFinite(seen) ? Math.round(seen - t0) : -1,
    commandMs: Math.round(updateMs),
  };
}

async function airloftRun(dir: string, env: NodeJS.ProcessEnv, port: number): Promise<Row> {
  const folder = join(dir, "airloft");
  mkdirSync(folder);
  const write = (version: string) =>
    writeFileSync(
      join(folder, "web.yaml"),
      [
        {
          kind: "Group",
          metadata: { name: "bench" },
          spec: { provider: "docker", docker: { edge: { domain: "bench.localhost" } } },
        },
        {
          kind: "App",
          metadata: { name: "web", group: "bench" },
          spec: {
            image: `airloft-bench/web:${version}`,
            command: ["sh", "-c", COMMAND],
            replicas: 3,
            port: 8080,
            env: { VERSION: version },
            healthCheck: { http: { path: "/" }, intervalSeconds: 1 },
          },
        },
      ]
        .map((d) => stringify({ apiVersion: "airloft.dev/v1alpha1", ...d }))
        .join("---\n"),
    );
  const cli = (...args: string[]) =>
    run(
      process.execPath,
      ["--import", TSX, join(ROOT, "src/cli/index.ts"), "--state", join(dir, "state.json"), ...args],
      {
        env,
        cwd: dir,
      },
    );
  write("v1");
  await cli("apply", "-f", folder);
  await edgeGet(port, "web.bench.localhost");
  write("v2");
  const row = await measured("airloft (edge)", [port], "web.bench.localhost", () => cli("apply", "-f", folder));
  await cli("delete", "-f", folder);
  return row;
}

async function composeRun(dir: string, env: NodeJS.ProcessEnv, ports: readonly number[]): Promise<Row> {
  const file = join(dir, "docker-compose.yml");
  const write = (version: string) =>
    writeFileSync(
      file,
      stringify({
        version: "2.4",
        services: {
          web: {
            image: `airloft-bench/web:${version}`,
            command: ["sh", "-c", COMMAND.replaceAll("$", () => "$$")],
            environment: { VERSION: version },
            scale: 3,
            ports: [`127.0.0.1:${ports[0]}-${ports.at(-1)}:8080`],
          },
        },
      }),
    );
  const compose = (...args: string[]) =>
    run("docker-compose", ["-p", "rollout", "-f", file, ...args], { env, cwd: dir });
  write("v1");
  await compose("up", "-d");
  for (const p of ports) await edgeGet(p, "web");
  write("v2");
  const row = await measured("docker-compose up -d", ports, "web", () => compose("up", "-d"));
  await compose("down");
  return row;
}

const lent = process.env.AIRLOFT_BENCH_DOCKER_HOST;
const host = lent ?? (await useEngine()).host;
const dir = mkdtempSync(join(tmpdir(), "airloft-bench-rollout-"));
const rows: Row[] = [];
try {
  const env = {
    ...process.env,
    DOCKER_HOST: host,
    COMPOSE_INTERACTIVE_NO_CLI: "1",
    AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
    AIRLOFT_EDGE_HTTP_PORT: String(await freePort()),
    AIRLOFT_EDGE_HTTPS_PORT: String(await freePort()),
    AIRLOFT_EDGE_DRAIN_SECONDS: "1",
  };
  await run("sh", [join(ROOT, "scripts/caddy-image.sh"), EDGE_IMAGE], { env });
  // Two tags of one image: the update is an image change, as a new release would be.
  for (const v of ["v1", "v2"]) await run("docker", ["tag", TEST_IMAGE, `airloft-bench/web:${v}`], { env });
  rows.push(await airloftRun(dir, env, Number(env.AIRLOFT_EDGE_HTTP_PORT)));
  // Compose publishes a range: three consecutive ports, each checked free.
  rows.push(await composeRun(dir, env, await freePortRange(3)));
} finally {
  rmSync(dir, { recursive: true, force: true });
  if (!lent) await stopEngine();
}

console.log(`A rolling update of 3 replicas under ${CLIENTS} clients (a new connection per request), one run:`);
console.table(rows);
const airloft = rows[0];
console.log(
  `target: AirLoft 0 failed requests: ${airloft?.failed === 0 ? "met" : "NOT met"} (${airloft?.failed}); compose: ${rows[1]?.failed}`,
);
writeResults("rollout", { clients: CLIENTS, rows });
