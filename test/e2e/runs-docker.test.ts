import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_RUNS_PER_GROUP } from "../../src/jobs/one-off.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { App } from "../../src/resources/types.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { airloft } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";
import { groupTokens, until } from "../support/tenants.js";

const A = "runsa";
const B = "runsb";

const group = (g: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${g}\nspec:\n  provider: docker\n`;
const worker = (g: string): string => `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: worker
  group: ${g}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "while true; do sleep 1; done"]
  env:
    GREETING: "hello from the app's env"
  jobs:
    - name: every
      schedule: "*/3 * * * * *"
      command: ["sh", "-c", "echo job says $GREETING"]
`;

/** One-off runs through `airloft serve` and the CLI with --server, on a real engine, under two tenants. */
describe("one-off runs and run logs through airloft serve (real engine)", function () {
  this.timeout(240_000);
  let server: ServeProcess;
  let tokens: Record<string, string>;
  const as = (g: string, ...args: string[]) =>
    airloft(["--server", server.url, ...args], {
      env: { AIRLOFT_TOKEN: tokens[g] ?? "", DOCKER_HOST: "unix:///nonexistent", CI: "" },
      cwd: server.dir,
    });
  const post = async (g: string, token: string, body: string): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${server.url}${API_PREFIX}/groups/${g}/apps/worker/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    return { status: res.status, json: await res.json().catch(() => undefined) };
  };

  before(async function () {
    const engine = await requireEngine(this);
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
    const admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    tokens = await groupTokens(server, admin, [A, B], group);
    for (const g of [A, B]) {
      writeFileSync(join(server.dir, `${g}.yaml`), worker(g));
      const applied = await as(g, "apply", "-f", `${g}.yaml`, "--timeout", "2m");
      assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    }
  });

  after(async function () {
    this.timeout(90_000);
    if (server?.url) await server.deleteGroups([A, B]);
    await server?.stop();
    server?.remove();
  });

  it("airloft run streams the command's output, with the app's env, and exits with its code", async () => {
    const r = await as(A, "run", "app/worker", "--", "sh", "-c", "echo $GREETING; echo to stderr >&2; exit 7");
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^hello from the app's env$/m);
    assert.match(r.stdout, /^to stderr$/m);
    const ok = await as(A, "run", "app/worker", "--", "true");
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("--detach prints the id; logs run/ID -f follows it to its end; the run's state says its exit code", async () => {
    const r = await as(A, "run", "app/worker", "--detach", "--", "sh", "-c", "echo one; sleep 2; echo two; exit 4");
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{12}$/);
    const logs = await as(A, "logs", `run/${id}`, "-g", A, "-f");
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "one\ntwo\n");
    const state = await until("the run to end", async () => {
      const s = await server.api("GET", `${API_PREFIX}/groups/${A}/runs/${id}`, tokens[A] ?? "");
      return (s.json as { running?: boolean }).running === false ? (s.json as { exitCode: number }) : undefined;
    });
    assert.equal(state.exitCode, 4);
    // Another tenant: 403 by the group in the path, 404 for the id under its own group.
    for (const path of [`runs/${id}`, `runs/${id}/logs`])
      assert.equal((await server.api("GET", `${API_PREFIX}/groups/${A}/${path}`, tokens[B] ?? "")).status, 403);
    assert.equal((await server.api("GET", `${API_PREFIX}/groups/${B}/runs/${id}`, tokens[B] ?? "")).status, 404);
    const cli = await as(B, "logs", `run/${A}/${id}`);
    assert.equal(cli.code, 2);
    assert.equal(cli.stdout, "");
  });

  it("a job's run logs arrive through the API for its own group, 403 for another", async () => {
    const admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    const run = await until("a recorded job run", async () => {
      const app = (await server.api("GET", `${API_PREFIX}/groups/${A}/apps/worker`, admin)).json as App;
      return app.status?.jobs?.every?.runs.find((x) => x.exitCode === 0);
    });
    const logs = await as(A, "logs", `run/${run.name}`, "-g", A);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, "job says hello from the app's env\n");
    assert.equal(
      (await server.api("GET", `${API_PREFIX}/groups/${A}/runs/${run.name}/logs`, tokens[B] ?? "")).status,
      403,
    );
    // The app's own logs are its replicas', never its runs'.
    const appLogs = await as(A, "logs", "app/worker");
    assert.doesNotMatch(appLogs.stdout, /job says/);
  });

  it("hostile input: another tenant's app, oversized or malformed commands, bad ids, too many runs", async () => {
    const b = tokens[B] ?? "";
    assert.equal((await post(A, b, JSON.stringify({ command: ["true"] }))).status, 403);
    assert.equal((await post(B, b, JSON.stringify({ command: ["x".repeat(70_000)] }))).status, 400);
    assert.equal((await post(B, b, "x".repeat(300_000))).status, 413);
    assert.equal((await post(B, b, "{not json")).status, 400);
    assert.equal((await post(B, b, JSON.stringify({ command: "rm -rf /" }))).status, 400);
    assert.equal((await post(B, b, JSON.stringify({ command: ["echo", "a\nb"] }))).status, 400);
    assert.equal((await post(B, b, JSON.stringify({ command: [] }))).status, 400);
    const missing = await fetch(`${server.url}${API_PREFIX}/groups/${B}/apps/nope/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${b}` },
      body: JSON.stringify({ command: ["true"] }),
    });
    assert.equal(missing.status, 404);
    for (const id of ["..%2F..%2Fetc", "A".repeat(200), "x%00y", "-rf"])
      assert.equal((await server.api("GET", `${API_PREFIX}/groups/${B}/runs/${id}`, b)).status, 404, id);
    const started: string[] = [];
    for (let i = 0; i < MAX_RUNS_PER_GROUP; i++) {
      const r = await post(B, b, JSON.stringify({ command: ["sleep", "30"] }));
      assert.equal(r.status, 201, JSON.stringify(r.json));
      started.push((r.json as { id: string }).id);
    }
    const over = await post(B, b, JSON.stringify({ command: ["sleep", "30"] }));
    assert.equal(over.status, 429, JSON.stringify(over.json));
    assert.match((over.json as { message: string }).message, /runs running, the most it may have/);
    // The server is still well.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });
});
