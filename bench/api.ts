/**
 * API benchmark: requests per second and latency percentiles of get, list and apply with many
 * concurrent clients on loopback (autocannon), and the server's memory with thousands of objects.
 * The peer, measured in the same run on the same objects: json-server 0.17 (a REST API over a
 * JSON file, with lowdb underneath), the usual quick way to put a JSON store behind HTTP. It has
 * no authentication, validation or admission; AirLoft does all three on every request.
 * Each server runs in its own process; autocannon runs in this one.
 * Usage: npx tsx bench/api.ts [objects=5000] [seconds=10] [connections=50]
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { API_PREFIX as API } from "../src/resources/kinds.js";
import { freePort } from "../support/ports.js";
import { round, writeResults } from "./lib/measure.js";

const objects = Number(process.argv[2] ?? 5000);
const seconds = Number(process.argv[3] ?? 10);
const connections = Number(process.argv[4] ?? 50);
const GROUPS = 5;
const ADMIN_PASSWORD = "bench-admin-password";
const here = import.meta.dirname;
/** Apply runs update this many of team-0's existing apps in turn. */
const TOUCHED = Math.max(1, Math.min(200, Math.floor((objects - GROUPS) / GROUPS)));

interface Row {
  scenario: string;
  server: string;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

const appSpec = (i: number, replicas = 2) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: `app-${i}`, group: `team-${i % GROUPS}`, labels: { tier: "web" } },
  spec: {
    image: "example/app:1",
    replicas,
    port: 8080,
    env: { GREETING: "hello", LOG_LEVEL: "info" },
    resources: { cpu: "250m", memory: "128Mi" },
    healthCheck: { http: { path: "/healthz" } },
  },
});

function start(command: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, AIRLOFT_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
    if (!child.stdout) throw new Error("no stdout");
    createInterface({ input: child.stdout }).on("line", (line) => {
      const url = ready.exec(line)?.[1];
      if (url) resolve({ child, url });
    });
  });
}

async function until(ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error("the peer did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Peak and current resident memory of a process, from /proc. */
function memoryMiB(pid: number | undefined): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: round(kb("VmRSS") / 1024), peakMiB: round(kb("VmHWM") / 1024) };
}

async function load(scenario: string, server: string, options: autocannon.Options): Promise<Row> {
  const result = await autocannon({ connections, duration: seconds, ...options });
  return {
    scenario,
    server,
    requestsPerSecond: round(result.requests.average),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

interface Target {
  readonly server: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly onePath: string;
  readonly listPath: string;
  readonly applyPath: (i: number) => string;
  readonly applyBody: (i: number, replicas: number) => object;
}

/** The same three runs against either server: get one object, list a group, apply a changed object. */
async function scenarios(target: Target): Promise<Row[]> {
  const { server, url, headers } = target;
  const rows: Row[] = [];
  rows.push(await load("get one object", server, { url: url + target.onePath, headers }));
  rows.push(
    await load(`list a group (${Math.floor((objects - GROUPS) / GROUPS)} apps)`, server, {
      url: url + target.listPath,
      headers,
    }),
  );
  let n = 0;
  rows.push(
    await load("apply one object (a changed spec each time)", server, {
      url,
      requests: [
        {
          method: "PUT",
          setupRequest: (req) => {
            const i = (n++ % TOUCHED) * GROUPS;
            return {
              ...req,
              path: target.applyPath(i),
              headers: { ...headers, "content-type": "application/json" },
              body: JSON.stringify(target.applyBody(i, 1 + (n % 7))),
            };
          },
        },
      ],
    }),
  );
  return rows;
}

async function airloftRuns(dir: string): Promise<{
  rows: Row[];
  applyAllMs: number;
  memory: { afterLoad: ReturnType<typeof memoryMiB>; afterRuns: ReturnType<typeof memoryMiB> };
}> {
  const { child, url } = await start(
    process.execPath,
    ["--import", "tsx", join(here, "lib/api-server.ts"), join(dir, "state.json")],
    /^(http:\/\/\S+)$/,
  );
  try {
    const login = async (body: object): Promise<string> =>
      (
        (await (
          await fetch(`${url}/api/tokens`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          })
        ).json()) as { token: string }
      ).token;
    const admin = await login({ admin: "admin", password: ADMIN_PASSWORD });
    const auth = { authorization: `Bearer ${admin}` };
    // Apply every object over the API, in batches of 500 documents.
    const t0 = performance.now();
    const groups = Array.from({ length: GROUPS }, (_, g) => ({
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Group",
      metadata: { name: `team-${g}` },
      spec: { provider: "docker" },
    }));
    const docs = [...groups, ...Array.from({ length: objects - GROUPS }, (_, i) => appSpec(i))];
    for (let i = 0; i < docs.length; i += 500) {
      const content = docs
        .slice(i, i + 500)
        .map((d) => JSON.stringify(d))
        .join("\n---\n");
      const res = await fetch(`${url}${API}/apply`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/yaml" },
        body: content,
      });
      if (!res.ok) throw new Error(`apply: ${res.status} ${await res.text()}`);
    }
    const applyAllMs = Math.round(performance.now() - t0);
    await fetch(`${url}/api/accounts/groups/team-0`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ password: "team-0-password" }),
    });
    const tenant = { authorization: `Bearer ${await login({ group: "team-0", password: "team-0-password" })}` };
    const afterLoad = memoryMiB(child.pid);
    const rows = await scenarios({
      server: "AirLoft",
      url,
      headers: tenant,
      onePath: `${API}/groups/team-0/apps/app-5`,
      listPath: `${API}/groups/team-0/apps`,
      applyPath: (i) => `${API}/groups/team-0/apps/app-${i}`,
      applyBody: (i, replicas) => appSpec(i, replicas),
    });
    return { rows, applyAllMs, memory: { afterLoad, afterRuns: memoryMiB(child.pid) } };
  } finally {
    child.kill("SIGTERM");
  }
}

async function peerRuns(dir: string): Promise<{
  rows: Row[];
  memory: { afterLoad: ReturnType<typeof memoryMiB>; afterRuns: ReturnType<typeof memoryMiB> };
}> {
  const db = join(dir, "db.json");
  const apps = Array.from({ length: objects - GROUPS }, (_, i) => ({
    id: `team-${i % GROUPS}.app-${i}`,
    group: `team-${i % GROUPS}`,
    ...appSpec(i),
  }));
  writeFileSync(db, JSON.stringify({ apps }));
  const bin = createRequire(import.meta.url).resolve("json-server/lib/cli/bin.js");
  const port = await freePort();
  // --quiet: no request log, which would cost it time AirLoft does not spend.
  const child = spawn(process.execPath, [bin, "--quiet", "--host", "127.0.0.1", "--port", String(port), db], {
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(async () => (await fetch(`${url}/apps/team-0.app-0`).catch(() => undefined))?.ok === true);
    const afterLoad = memoryMiB(child.pid);
    const rows = await scenarios({
      server: "json-server",
      url,
      headers: {},
      onePath: "/apps/team-0.app-5",
      listPath: "/apps?group=team-0",
      applyPath: (i) => `/apps/team-0.app-${i}`,
      applyBody: (i, replicas) => ({ id: `team-0.app-${i}`, group: "team-0", ...appSpec(i, replicas) }),
    });
    return { rows, memory: { afterLoad, afterRuns: memoryMiB(child.pid) } };
  } finally {
    child.kill("SIGTERM");
  }
}

const dir = mkdtempSync(join(tmpdir(), "airloft-bench-api-"));
try {
  process.stdout.write(
    `API benchmark: ${objects} objects, ${connections} connections, ${seconds} s per run, on 127.0.0.1\n`,
  );
  const airloft = await airloftRuns(dir);
  const peer = await peerRuns(dir);
  const rows = [...airloft.rows, ...peer.rows].sort((a, b) => a.scenario.localeCompare(b.scenario));
  console.table(rows);
  process.stdout.write(
    `AirLoft: applied ${objects} objects over the API in ${airloft.applyAllMs} ms; memory ${airloft.memory.afterLoad.rssMiB} MiB after, peak ${airloft.memory.afterRuns.peakMiB} MiB\n`,
  );
  process.stdout.write(
    `json-server: memory ${peer.memory.afterLoad.rssMiB} MiB with the same apps loaded, peak ${peer.memory.afterRuns.peakMiB} MiB\n`,
  );
  for (const scenario of new Set(rows.map((r) => r.scenario))) {
    const [ours, theirs] = ["AirLoft", "json-server"].map((s) =>
      rows.find((r) => r.scenario === scenario && r.server === s),
    );
    if (ours && theirs && theirs.requestsPerSecond > 0)
      process.stdout.write(
        `${scenario}: AirLoft ${round(ours.requestsPerSecond / theirs.requestsPerSecond, 2)}x json-server's requests per second\n`,
      );
  }
  const path = writeResults("api", {
    objects,
    seconds,
    connections,
    rows,
    airloft: { applyAllMs: airloft.applyAllMs, memory: airloft.memory },
    peer: { memory: peer.memory },
  });
  process.stdout.write(`figures written to ${path}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
