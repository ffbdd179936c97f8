/**
 * Abuse benchmark (issue 13): a hostile tenant against `airloft serve` with a well-behaved tenant
 * beside it. The hostile tenant, all at once: deep nesting, stalled watches, large objects,
 * thousands of objects per apply, parallel wrong logins. The well-behaved tenant sends a steady
 * 20 requests/s (get one app, list its group, apply one changed app, /healthz) from a process of
 * its own and records each latency; the server's resident memory is sampled every 250 ms.
 *
 * Measured in the same run: the same steady load on the same server before the attack starts
 * (baseline, same objects), and json-server 0.17 under the parts of the attack that apply to it
 * (large objects, 100 stalled readers). There is no Docker engine: DOCKER_HOST names a socket
 * that does not exist, so groups are EngineUnreachable and the controllers back off, as they
 * would with an engine down; the controllers still run.
 *
 * Usage: npx tsx bench/abuse.ts [objects=20000] [seconds=60]
 *   AIRLOFT_BENCH_CPU_PROF=DIR also writes a CPU profile of the server (node --cpu-prof) there.
 *   AIRLOFT_BENCH_ATTACK=nesting,bulk,large,logins,watches runs only these parts of the attack
 *   (to find which one costs what); all by default.
 *   AIRLOFT_BENCH_SERVER_LOG=FILE appends the server's request log (each line with the time) to FILE.
 *   AIRLOFT_BENCH_PEER=none leaves json-server out (while finding what costs what).
 *   AIRLOFT_BENCH_SERVE_FLAGS="--flag value ..." adds `airloft serve` flags (to see what a limit does).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { buildCli, ENTRY } from "../scripts/build.js";
import { freePort } from "../support/ports.js";
import {
  type AttackReport,
  airloftAttack,
  bulkBody,
  hostileApp,
  jsonServerAttack,
  type StalledSpec,
  startAttack,
  type Wave,
} from "./lib/hostile.js";
import { round, writeResults } from "./lib/measure.js";
import { type GcPauses, lagBySecond, lagIn, readLag, slowest, timeline } from "./lib/phases.js";
import { RssSampler } from "./lib/rss.js";
import { send } from "./lib/send.js";
import type { LoginProbe, Sample, SteadyConfig, SteadyRequest, SteadyResult } from "./lib/steady-tenant.js";

const objects = Number(process.argv[2] ?? 20_000);
const seconds = Number(process.argv[3] ?? 60);
if (!Number.isInteger(objects) || objects < 100 || !(seconds > 0))
  throw new Error("usage: abuse.ts [objects >= 100] [seconds]");
const API = "/apis/airloft.dev/v1alpha1";
const here = import.meta.dirname;
/** tsx as an absolute URL: `--import tsx` would resolve from the cwd, a temp folder. */
const TSX = import.meta.resolve("tsx");
/** Loaded into each server: its event-loop delay, every second, into a file. Plain JavaScript, so no server needs tsx. */
const LOOP_LAG = ["--import", pathToFileURL(join(here, "lib/loop-lag.mjs")).href];
/** AIRLOFT_BENCH_SERVE_FLAGS: more `airloft serve` flags, space separated (to see what a limit does). */
const SERVE_FLAGS = (process.env.AIRLOFT_BENCH_SERVE_FLAGS ?? "").split(" ").filter((f) => f !== "");
const ADMIN_PASSWORD = "bench-admin-password";
const GOOD = "good";
const GOOD_PASSWORD = "good-tenant-password";
const GOOD_APPS = 50;
/** Apps per hostile group: under the 5,000 objects per group the server may enforce, with room to spare. */
const PER_HOSTILE_GROUP = 4000;
const BULK = 3000;
const STALLED = 100;
const LOGIN_BURST = 60;
const RATE = 20;
const TARGET_P99_MS = 200;
const TARGET_RSS_MIB = 500;
const SERVER_LOG = process.env.AIRLOFT_BENCH_SERVER_LOG;
const NO_ENGINE = "unix:///nonexistent/airloft-bench/docker.sock";
const PARTS = new Set(
  (process.env.AIRLOFT_BENCH_ATTACK ?? "nesting,bulk,large,logins,watches").split(",").map((p) => p.trim()),
);
/** The parts of the attack this run uses. */
function chosen<T extends { waves: Wave[]; stalled: StalledSpec }>(attack: T): T {
  return {
    ...attack,
    waves: attack.waves.filter((w) => PARTS.has(w.key)),
    stalled: { ...attack.stalled, count: PARTS.has("watches") ? attack.stalled.count : 0 },
  };
}

// The layout: 1 good group with its apps, then hostile groups of at most PER_HOSTILE_GROUP apps.
const hostileObjects = objects - 1 - GOOD_APPS;
const hostileGroupCount = Math.ceil(hostileObjects / (PER_HOSTILE_GROUP + 1));
const hostileLayout = Array.from({ length: hostileGroupCount }, (_, g) => {
  const apps =
    Math.floor((hostileObjects - hostileGroupCount) / hostileGroupCount) +
    (g < (hostileObjects - hostileGroupCount) % hostileGroupCount ? 1 : 0);
  return { group: `evil-${g}`, apps };
});

// The server's own limits, where this tree has them (older trees have none).
const limitsModule = (await import("../src/server/limits.js").catch(() => undefined)) as
  | { DEFAULT_LIMITS?: Record<string, number> }
  | undefined;
const heapModule = (await import("../src/server/heap-growth.js").catch(() => undefined)) as
  | { SERVER_NODE_FLAGS?: readonly string[] }
  | undefined;
const authModule = (await import("../src/server/auth-api.js").catch(() => undefined)) as
  | { DEFAULT_LOGIN_LIMITS?: Record<string, number> }
  | undefined;

interface Row {
  scenario: string;
  server: string;
  requests: number;
  non2xx: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  peakRssMiB: number;
  /** The server's largest event-loop delay in the phase. */
  maxLoopDelayMs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

function summarize(samples: readonly Sample[]): {
  requests: number;
  non2xx: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
} {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    requests: samples.length,
    non2xx: samples.filter((s) => s.status < 200 || s.status >= 300).length,
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
  };
}

type RequestSummary = ReturnType<typeof summarize> & { statuses: Record<string, number>; failures?: string[] };

function byName(samples: readonly Sample[]): Record<string, RequestSummary> {
  const out: Record<string, RequestSummary> = {};
  for (const name of new Set(samples.map((s) => s.name))) {
    const mine = samples.filter((s) => s.name === name);
    const statuses: Record<string, number> = {};
    for (const s of mine) statuses[s.status] = (statuses[s.status] ?? 0) + 1;
    // What a request with no answer met, so that a cut is explained, not only counted.
    const failures = mine.filter((s) => s.error).map((s) => `at ${s.at} ms after ${s.ms} ms: ${s.error}`);
    out[name] = { ...summarize(mine), statuses, ...(failures.length > 0 ? { failures: failures.slice(0, 3) } : {}) };
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The well-behaved tenant: spawns its process, starts it, and returns its samples when done. */
async function steady(config: SteadyConfig, started: () => void): Promise<SteadyResult> {
  const child = spawn(process.execPath, ["--import", TSX, join(here, "lib/steady-tenant.ts"), JSON.stringify(config)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  let result: SteadyResult | undefined;
  for await (const line of lines) {
    if (line === "ready") {
      child.stdin.write("go\n");
      started();
    } else if (line.startsWith("result ")) {
      result = JSON.parse(line.slice("result ".length)) as SteadyResult;
      break;
    }
  }
  child.stdin.end();
  if (!result) throw new Error("the steady tenant gave no result");
  return result;
}

/** A phase: the steady tenant for `seconds`, with an attack beside it or not. */
interface Phase {
  readonly result: SteadyResult;
  /** performance.now() times, for the RSS samples: from the start until the tenant's last answer. */
  readonly from: number;
  readonly to: number;
  /** When the attack (if any) was stopped, on schedule. */
  readonly stoppedAt: number;
  /** Wall-clock times, for the server's event-loop delay lines. */
  readonly wallFrom: number;
  readonly wallTo: number;
  readonly attack?: AttackReport;
}

async function phase(config: SteadyConfig, attack?: () => { stop(): Promise<AttackReport> }): Promise<Phase> {
  let from = performance.now();
  let wallFrom = Date.now();
  let stoppedAt = Number.POSITIVE_INFINITY;
  let stopped: Promise<AttackReport | undefined> = Promise.resolve(undefined);
  const result = await steady(config, () => {
    from = performance.now();
    wallFrom = Date.now();
    const running = attack?.();
    // The attack ends on schedule; the tenant's last requests may still be waiting for answers.
    stopped = new Promise((resolve) =>
      setTimeout(() => {
        stoppedAt = performance.now();
        resolve(running?.stop());
      }, config.seconds * 1000),
    );
  });
  const report = await stopped;
  return {
    result,
    from,
    to: performance.now(),
    wallFrom,
    wallTo: Date.now(),
    stoppedAt,
    ...(report ? { attack: report } : {}),
  };
}

/** How long after `since` (performance.now()) the server answers `path` within 100 ms again; undefined if not within capMs. */
async function recovery(url: string, path: string, since: number, capMs = 120_000): Promise<number | undefined> {
  while (performance.now() - since < capMs) {
    const r = await send(url, { path, timeoutMs: 10_000 });
    if (r.status === 200 && r.ms < 100) return Math.round(performance.now() - since);
    await sleep(100);
  }
  return undefined;
}

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly pid: number;
  exit?: string;
  stderr: string;
}

async function startServe(dir: string): Promise<Server> {
  const port = await freePort();
  const profile = process.env.AIRLOFT_BENCH_CPU_PROF;
  const args = [
    ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []),
    ...LOOP_LAG,
    // As deploy/airloft.service starts it.
    ...(heapModule?.SERVER_NODE_FLAGS ?? []),
    // The bundle bin/airloft.js runs (built at the start): never the sources, whatever their times.
    ENTRY,
    "--state",
    join(dir, "state.json"),
    "serve",
    "--port",
    String(port),
    ...SERVE_FLAGS,
  ];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: {
      ...process.env,
      AIRLOFT_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // As deploy/airloft.service runs it (README, Under a supervisor).
      MALLOC_ARENA_MAX: "2",
      AIRLOFT_LOG_LEVEL: SERVER_LOG ? "info" : "warn",
      DOCKER_HOST: NO_ENGINE,
      AIRLOFT_BENCH_LAG_FILE: join(dir, "lag.jsonl"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error("serve did not start");
  const server: Server = { child, url: "", pid: child.pid, stderr: "" };
  child.stderr?.on("data", (chunk: Buffer) => (server.stderr = (server.stderr + chunk.toString()).slice(-4000)));
  if (SERVER_LOG && child.stderr)
    createInterface({ input: child.stderr }).on("line", (line) =>
      appendFileSync(SERVER_LOG, `${Date.now()} ${line}\n`),
    );
  const t0 = performance.now();
  child.once(
    "exit",
    (code, signal) => (server.exit = `exited with ${signal ?? code} after ${round((performance.now() - t0) / 1000)} s`),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${server.stderr}`)), 60_000);
    child.once("exit", () => reject(new Error(`serve ${server.exit}: ${server.stderr}`)));
    if (!child.stdout) throw new Error("no stdout");
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /serving .* at (http:\/\/\S+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return Object.assign(server, { url });
}

async function stopProcess(child: ChildProcess, graceMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** One API call that must succeed. */
async function call(
  url: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: string,
  type = "application/json",
): Promise<unknown> {
  const res = await send(
    url,
    {
      method,
      path,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": type } : {}) },
      ...(body ? { body } : {}),
      timeoutMs: 300_000,
    },
    true,
  );
  if (res.status < 200 || res.status >= 300)
    throw new Error(`${method} ${path}: ${res.status} ${res.error ?? res.body.slice(0, 500)}`);
  return JSON.parse(res.body) as unknown;
}

async function login(url: string, account: object): Promise<{ token: string; device?: string }> {
  return (await call(url, "POST", "/api/tokens", undefined, JSON.stringify(account))) as {
    token: string;
    device?: string;
  };
}

const goodApp = (i: number, version: string): object => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: `web-${i}`, group: GOOD, labels: { tier: "web" } },
  spec: {
    image: "example/app:1",
    replicas: 2,
    port: 8080,
    env: { GREETING: "hello", VERSION: version },
    resources: { cpu: "250m", memory: "128Mi" },
    healthCheck: { http: { path: "/healthz" } },
  },
});

interface ServerRun {
  rows: Row[];
  byRequest: Record<string, ReturnType<typeof byName>>;
  timelines: Record<string, ReturnType<typeof timeline>>;
  /** The slowest answers of each phase, with when they were sent: a tail from the attack's first second is not one from a stall later. */
  slowest: Record<string, ReturnType<typeof slowest>>;
  /** The server's largest event-loop delay in each second of each phase (ms), beside the timelines. */
  serverLag: Record<string, number[]>;
  /** Seconds with an event-loop delay over 100 ms, per phase. */
  slowSeconds: Record<string, number>;
  /** The garbage collector's pauses of the server's thread, per phase. */
  gc: Record<string, GcPauses>;
  /** The well-behaved tenant's own largest event-loop delay per phase (ms): a late answer may be the client's. */
  clientLagMs?: Record<string, number>;
  /** How long after the attack stopped /healthz answered within 100 ms again. */
  recoveryMs?: number | string;
  attack?: AttackReport;
  logins?: ReturnType<typeof byName>;
  preloadMs?: number;
  hwmMiB: number;
  failure?: string;
}

/** A run with nothing recorded yet. */
function emptyRun(): ServerRun {
  return { rows: [], byRequest: {}, timelines: {}, slowest: {}, serverLag: {}, slowSeconds: {}, gc: {}, hwmMiB: 0 };
}

/** A phase's row of the table for one server, recording its per-request figures in `run`. */
function phaseRow(
  run: ServerRun,
  server: string,
  lagFile: string,
  rss: RssSampler,
): (scenario: string, name: string, r: Phase) => Row {
  return (scenario, name, r) => {
    const lines = readLag(lagFile);
    const lag = lagIn(lines, r.wallFrom, r.wallTo);
    run.serverLag[name] = lagBySecond(lines, r.wallFrom, r.wallTo);
    run.byRequest[name] = byName(r.result.samples);
    run.timelines[name] = timeline(r.result.samples);
    run.slowest[name] = slowest(r.result.samples);
    run.slowSeconds[name] = lag.secondsOver;
    if (lag.gc) run.gc[name] = lag.gc;
    run.clientLagMs = { ...run.clientLagMs, [name]: Math.max(0, ...(r.result.ownLagMs ?? [])) };
    return {
      scenario,
      server,
      ...summarize(r.result.samples),
      peakRssMiB: rss.peakMiB(r.from, r.to),
      maxLoopDelayMs: lag.maxMs,
    };
  };
}

async function airloftRun(dir: string): Promise<ServerRun> {
  const server = await startServe(dir);
  const rss = new RssSampler(server.pid).start();
  const run = emptyRun();
  const row = phaseRow(run, "AirLoft", join(dir, "lag.jsonl"), rss);
  try {
    const { url } = server;
    const admin = (await login(url, { admin: "admin", password: ADMIN_PASSWORD })).token;
    // Groups and accounts, then the objects, as an admin, in applies of BULK objects.
    const t0 = performance.now();
    const groups = [GOOD, ...hostileLayout.map((h) => h.group)].map((name) =>
      JSON.stringify({
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Group",
        metadata: { name },
        spec: { provider: "docker" },
      }),
    );
    await call(url, "POST", `${API}/apply`, admin, groups.join("\n---\n"), "application/yaml");
    await call(url, "PUT", `/api/accounts/groups/${GOOD}`, admin, JSON.stringify({ password: GOOD_PASSWORD }));
    for (const h of hostileLayout)
      await call(
        url,
        "PUT",
        `/api/accounts/groups/${h.group}`,
        admin,
        JSON.stringify({ password: `${h.group}-password` }),
      );
    await call(
      url,
      "POST",
      `${API}/apply`,
      admin,
      Array.from({ length: GOOD_APPS }, (_, i) => JSON.stringify(goodApp(i, "0"))).join("\n---\n"),
      "application/yaml",
    );
    for (const h of hostileLayout) {
      for (let from = 0; from < h.apps; from += BULK)
        await call(url, "POST", `${API}/apply`, admin, bulkBody(h.group, from, Math.min(BULK, h.apps - from), 0));
    }
    run.preloadMs = Math.round(performance.now() - t0);
    const stored = ((await call(url, "GET", `${API}/objects`, admin)) as { items: unknown[] }).items.length;
    process.stdout.write(
      `AirLoft: ${stored} objects stored in ${run.preloadMs} ms (${1 + hostileLayout.length} groups, ${GOOD_APPS} apps in ${GOOD}, ${hostileLayout.map((h) => h.apps).join(" + ")} in ${hostileLayout.map((h) => h.group).join(", ")}); RSS ${rss.lastMiB} MiB\n`,
    );
    const good = await login(url, { group: GOOD, password: GOOD_PASSWORD });
    const hostile = await Promise.all(
      hostileLayout.map(async (h) => ({
        ...h,
        token: (await login(url, { group: h.group, password: `${h.group}-password` })).token,
      })),
    );
    const auth = { authorization: `Bearer ${good.token}` };
    const requests: SteadyRequest[] = [
      { name: "get one app", method: "GET", path: `${API}/groups/${GOOD}/apps/web-{k}`, headers: auth },
      { name: `list its group (${GOOD_APPS} apps)`, method: "GET", path: `${API}/groups/${GOOD}/apps`, headers: auth },
      {
        name: "apply one changed app (PUT)",
        method: "PUT",
        path: `${API}/groups/${GOOD}/apps/web-{k}`,
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(goodApp(123456789, "{n}")).replace("web-123456789", "web-{k}"),
      },
      { name: "/healthz", method: "GET", path: "/healthz", headers: {} },
    ];
    const logins: LoginProbe[] = [
      {
        name: good.device ? "login with its device token" : "login (this server gives no device token)",
        everyMs: 3000,
        body: JSON.stringify({ group: GOOD, password: GOOD_PASSWORD, ...(good.device ? { device: good.device } : {}) }),
      },
      {
        name: "login from a new client (no device token)",
        everyMs: 10_000,
        body: JSON.stringify({ group: GOOD, password: GOOD_PASSWORD }),
      },
    ];
    const config = (withLogins: boolean): SteadyConfig => ({
      url,
      perSecond: RATE,
      seconds,
      keys: GOOD_APPS,
      requests,
      logins: withLogins ? logins : [],
      timeoutMs: 10_000,
    });
    await sleep(3000); // the controllers take up the new objects (EngineUnreachable, then backing off)
    process.stdout.write(`AirLoft: baseline, ${seconds} s of the well-behaved tenant alone\n`);
    const baseline = await phase(config(false));
    run.rows.push(row("baseline: well-behaved tenant alone", "baseline", baseline));
    process.stdout.write(
      `AirLoft: attack, ${seconds} s with the hostile tenant${server.exit ? ` (the server ${server.exit})` : ""}\n`,
    );
    const attack = chosen(
      airloftAttack({ hostile, victim: GOOD, loginBurst: LOGIN_BURST, bulkSize: BULK, stalledWatches: STALLED }),
    );
    const attacked = await phase(config(true), () => startAttack(url, attack.waves, attack.stalled));
    const recovered = await recovery(url, "/healthz", attacked.stoppedAt);
    run.recoveryMs = recovered ?? "not within 120 s";
    run.rows.push(row("attack: beside the hostile tenant", "attack", attacked));
    run.logins = byName(attacked.result.logins);
    if (attacked.attack) run.attack = attacked.attack;
  } catch (err) {
    run.failure = `${err instanceof Error ? err.message : String(err)}`.slice(0, 1000);
  } finally {
    if (server.exit)
      run.failure = `${run.failure ? `${run.failure}; ` : ""}the server ${server.exit}: ${server.stderr.slice(-1500)}`;
    rss.stop();
    run.hwmMiB = rss.hwmMiB;
    await stopProcess(server.child);
  }
  return run;
}

async function jsonServerRun(dir: string): Promise<ServerRun> {
  const db = join(dir, "db.json");
  const hostileGroups = hostileLayout.map((h) => h.group);
  const apps = [
    ...Array.from({ length: GOOD_APPS }, (_, i) => ({ id: `${GOOD}.web-${i}`, group: GOOD, ...goodApp(i, "0") })),
    ...hostileLayout.flatMap((h) => [
      ...Array.from({ length: h.apps }, (_, i) => ({
        id: `${h.group}.app-${i}`,
        group: h.group,
        ...hostileApp(h.group, i, 0),
      })),
      ...Array.from({ length: 5 }, (_, j) => ({
        id: `${h.group}.big-${j}`,
        group: h.group,
        ...hostileApp(h.group, j, 0),
      })),
    ]),
  ];
  writeFileSync(db, JSON.stringify({ apps }));
  const bin = createRequire(import.meta.url).resolve("json-server/lib/cli/bin.js");
  const port = await freePort();
  const lagFile = join(dir, "lag.jsonl");
  const child = spawn(
    process.execPath,
    [...LOOP_LAG, bin, "--quiet", "--host", "127.0.0.1", "--port", String(port), db],
    { stdio: "ignore", env: { ...process.env, AIRLOFT_BENCH_LAG_FILE: lagFile } },
  );
  const url = `http://127.0.0.1:${port}`;
  const run = emptyRun();
  if (child.pid === undefined) throw new Error("json-server did not start");
  const rss = new RssSampler(child.pid).start();
  const row = phaseRow(run, "json-server", lagFile, rss);
  try {
    const deadline = Date.now() + 60_000;
    while ((await send(url, { path: `/apps/${GOOD}.web-0`, timeoutMs: 2000 })).status !== 200) {
      if (Date.now() > deadline) throw new Error("json-server did not start");
      await sleep(200);
    }
    const requests: SteadyRequest[] = [
      { name: "get one app", method: "GET", path: `/apps/${GOOD}.web-{k}`, headers: {} },
      { name: `list its group (${GOOD_APPS} apps)`, method: "GET", path: `/apps?group=${GOOD}`, headers: {} },
      {
        name: "apply one changed app (PUT)",
        method: "PUT",
        path: `/apps/${GOOD}.web-{k}`,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: `${GOOD}.web-123456789`, group: GOOD, ...goodApp(123456789, "{n}") }).replaceAll(
          "web-123456789",
          "web-{k}",
        ),
      },
      { name: "/healthz", method: "GET", path: "/", headers: {} },
    ];
    const config: SteadyConfig = {
      url,
      perSecond: RATE,
      seconds,
      keys: GOOD_APPS,
      requests,
      logins: [],
      timeoutMs: 10_000,
    };
    process.stdout.write(
      `json-server: baseline, then large objects and ${STALLED} stalled readers, ${seconds} s each\n`,
    );
    const baseline = await phase(config);
    run.rows.push(row("baseline: well-behaved tenant alone", "baseline", baseline));
    const attack = chosen(jsonServerAttack({ hostileGroups, stalledReaders: STALLED }));
    const attacked = await phase(config, () => startAttack(url, attack.waves, attack.stalled));
    const recovered = await recovery(url, "/", attacked.stoppedAt);
    run.recoveryMs = recovered ?? "not within 120 s";
    run.rows.push(row("attack: beside the hostile tenant", "attack", attacked));
    if (attacked.attack) run.attack = attacked.attack;
  } catch (err) {
    run.failure = err instanceof Error ? err.message : String(err);
  } finally {
    rss.stop();
    run.hwmMiB = rss.hwmMiB;
    await stopProcess(child);
  }
  return run;
}

function printAttack(server: string, report: AttackReport | undefined): void {
  if (!report) return;
  process.stdout.write(`\n${server}, the hostile tenant's requests (status: count):\n`);
  console.table(
    report.waves.map((w) => ({
      wave: w.name,
      requests: w.requests,
      statuses: Object.entries(w.statuses)
        .map(([s, n]) => `${s}: ${n}`)
        .join(", "),
      maxMs: w.maxMs,
    })),
  );
  const s = report.stalled;
  process.stdout.write(
    `${server}: ${s.count} stalled readers: answers ${
      Object.entries(s.statuses)
        .map(([k, n]) => `${k}: ${n}`)
        .join(", ") || "none"
    }; ${s.closedByServer} cut by the server (each asked again 1 s later); ${s.openAtEnd} open at the end\n`,
  );
  for (const w of report.waves)
    for (const [status, text] of Object.entries(w.samples))
      process.stdout.write(`  ${w.name.split(" (")[0]}, ${status}: ${text.replace(/\s+/g, " ").slice(0, 200)}\n`);
}

const dir = mkdtempSync(join(tmpdir(), "airloft-bench-abuse-"));
try {
  const limits = limitsModule?.DEFAULT_LIMITS;
  const loginLimits = authModule?.DEFAULT_LOGIN_LIMITS;
  process.stdout.write(
    `Abuse benchmark: ${objects} objects, ${seconds} s per phase, the well-behaved tenant at ${RATE} requests/s, on 127.0.0.1\n`,
  );
  if (PARTS.size < 5) process.stdout.write(`Only these parts of the attack: ${[...PARTS].join(", ")}\n`);
  if (SERVE_FLAGS.length > 0) process.stdout.write(`The server runs with these flags: ${SERVE_FLAGS.join(" ")}\n`);
  // As deploy/airloft.service runs it: bin/airloft.js runs the bundle, never the sources through tsx
  // (a loader thread of its own and dockerode's ssh and BuildKit code: about 45 MiB more resident).
  await buildCli();
  process.stdout.write(
    `No Docker engine: DOCKER_HOST=${NO_ENGINE}; groups are EngineUnreachable and the controllers back off (they run, with nothing to create). The server runs as deploy/airloft.service runs it: the bundle bin/airloft.js runs (built from these sources just now, as make build does), with MALLOC_ARENA_MAX=2 and node ${heapModule?.SERVER_NODE_FLAGS?.join(" ") ?? "(no flags)"}\n`,
  );
  process.stdout.write(
    `The server's default limits (${SERVE_FLAGS.length > 0 ? `but for the flags above` : "none changed"}): ${limits ? JSON.stringify(limits) : "this tree has no src/server/limits.ts"}; logins per minute: ${loginLimits ? JSON.stringify(loginLimits) : "5 per address and account (this tree's login limiter)"}\n`,
  );
  const airloft = await airloftRun(join(mkdtempSync(join(dir, "airloft-"))));
  const peer: ServerRun =
    process.env.AIRLOFT_BENCH_PEER === "none"
      ? emptyRun()
      : await jsonServerRun(mkdtempSync(join(dir, "json-server-")));
  const rows = [...airloft.rows, ...peer.rows];
  process.stdout.write(
    "\nThe well-behaved tenant's latency (ms), the server's peak RSS (MiB, sampled every 250 ms) and its largest event-loop delay (ms) in each phase:\n",
  );
  console.table(rows);
  for (const [server, run] of [
    ["AirLoft", airloft],
    ["json-server", peer],
  ] as const) {
    const attack = run.byRequest.attack;
    if (attack) {
      process.stdout.write(
        `${server} under attack, per request: ${Object.entries(attack)
          .map(
            ([name, s]) =>
              `${name} p99 ${s.p99Ms} max ${s.maxMs}${
                s.non2xx
                  ? ` (${Object.entries(s.statuses)
                      .map(([k, n]) => `${k}: ${n}`)
                      .join(", ")}${s.failures ? `; ${s.failures.join("; ")}` : ""})`
                  : ""
              }`,
          )
          .join("; ")}\n`,
      );
    }
    process.stdout.write(
      `${server}: event-loop delay over 100 ms in ${run.slowSeconds.attack ?? "?"} of the attack's seconds (${run.slowSeconds.baseline ?? "?"} in the baseline's); /healthz within 100 ms again ${typeof run.recoveryMs === "number" ? `${round(run.recoveryMs / 1000, 1)} s after the attack stopped` : (run.recoveryMs ?? "?")}\n`,
    );
    const gc = (phase: string): string => {
      const g = run.gc[phase];
      return g
        ? `${g.pausedMs} ms paused in all, the longest pause ${g.longestMs} ms (a full collection's at most ${g.longestFullMs} ms), ${g.youngCollections} young-generation collections`
        : "?";
    };
    process.stdout.write(
      `${server}: garbage collection in the attack: ${gc("attack")}; in the baseline: ${gc("baseline")}\n`,
    );
    process.stdout.write(
      `${server}: the well-behaved tenant's own event-loop delay, at most ${run.clientLagMs?.attack ?? "?"} ms in the attack (${run.clientLagMs?.baseline ?? "?"} ms in the baseline): more than the server's means the client is late, not the server\n`,
    );
    process.stdout.write(
      `${server}: peak RSS over its whole life (VmHWM) ${run.hwmMiB} MiB${run.failure ? `; FAILED: ${run.failure}` : ""}\n`,
    );
  }
  printAttack("AirLoft", airloft.attack);
  printAttack("json-server", peer.attack);
  if (airloft.logins) {
    process.stdout.write("\nAirLoft: the well-behaved tenant's own logins during the wrong-login flood:\n");
    for (const [name, s] of Object.entries(airloft.logins))
      process.stdout.write(
        `  ${name}: ${Object.entries(s.statuses)
          .map(([k, n]) => `${k}: ${n}`)
          .join(", ")}; max ${s.maxMs} ms\n`,
      );
  }
  const attacked = airloft.rows.find((r) => r.scenario.startsWith("attack"));
  const verdict = (ok: boolean): string => (ok ? "PASS" : "MISS");
  const p99ok = attacked !== undefined && attacked.p99Ms < TARGET_P99_MS && attacked.non2xx === 0;
  const rssOk = attacked !== undefined && attacked.peakRssMiB < TARGET_RSS_MIB;
  process.stdout.write(`\nTargets (set at 20,000 objects; this run: ${objects}):\n`);
  process.stdout.write(
    `  well-behaved tenant's p99 under attack < ${TARGET_P99_MS} ms, every answer 2xx: ${attacked ? `${attacked.p99Ms} ms, ${attacked.non2xx} not 2xx` : "no figures"}: ${verdict(p99ok)}\n`,
  );
  // The server keeps each applied change (revisions, events): its memory follows the hostile tenant's
  // applies, so RSS figures of two runs compare only beside how many got through.
  const bulk = airloft.attack?.waves.find((w) => w.name.includes("objects per apply"));
  const bulkApplied = bulk
    ? Object.entries(bulk.statuses).reduce((n, [s, k]) => (s.startsWith("2") ? n + k : n), 0)
    : 0;
  process.stdout.write(
    `  server's peak RSS under attack < ${TARGET_RSS_MIB} MiB: ${attacked ? `${attacked.peakRssMiB} MiB` : "no figures"} (with ${bulkApplied} of the hostile tenant's bulk applies through): ${verdict(rssOk)}\n`,
  );
  const path = writeResults("abuse", {
    objects,
    seconds,
    ratePerSecond: RATE,
    noEngine: NO_ENGINE,
    limits: limits ?? null,
    loginLimits: loginLimits ?? null,
    layout: { good: { group: GOOD, apps: GOOD_APPS }, hostile: hostileLayout },
    rows,
    targets: { p99Ms: TARGET_P99_MS, rssMiB: TARGET_RSS_MIB, p99: verdict(p99ok), rss: verdict(rssOk) },
    bulkApplied,
    serveFlags: SERVE_FLAGS,
    airloft,
    peer,
  });
  process.stdout.write(`figures written to ${path}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
