import { strict as assert } from "node:assert";
import { execFile, spawn } from "node:child_process";
import { readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { API_PREFIX } from "../../src/resources/kinds.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { airloft, REPO_ROOT, TSX } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";
import { groupTokens } from "../support/tenants.js";

const REDIS_IMAGE = "airloft-test/redis:1";
const A = "logsa";
const B = "logsb";

const manifests = (g: string): string => `apiVersion: airloft.dev/v1alpha1
kind: Group
metadata:
  name: ${g}
spec:
  provider: docker
`;
const workload = (g: string): string => `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: talker
  group: ${g}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"]
  replicas: 2
---
apiVersion: airloft.dev/v1alpha1
kind: Service
metadata:
  name: cache
  group: ${g}
spec:
  template: redis
  image: ${REDIS_IMAGE}
`;

/** The process's connections to the engine's socket now: dockerd's side names the path and the peer's inode. */
/** The server's sockets connected to the engine, by inode. */
async function engineConnections(pid: number, engineHost: string): Promise<Set<string>> {
  const mine = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) mine.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const path = engineHost.replace(/^unix:\/\//, "");
  const { stdout } = await promisify(execFile)("ss", ["-x", "-H"]);
  const sockets = new Set<string>();
  for (const line of stdout.split("\n")) {
    const [, , , , local, , , peer] = line.trim().split(/\s+/);
    if (local === path && peer !== undefined && mine.has(peer)) sockets.add(peer);
  }
  return sockets;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("logs through airloft serve, on a real Docker engine", function () {
  this.timeout(180_000);
  let server: ServeProcess;
  let engineHost: string;
  let tokens: Record<string, string>;
  const env = (g: string): NodeJS.ProcessEnv => ({
    AIRLOFT_TOKEN: tokens[g] ?? "",
    DOCKER_HOST: "unix:///nonexistent",
    CI: "",
  });
  const as = (g: string, ...args: string[]) =>
    airloft(["--server", server.url, ...args], { env: env(g), cwd: server.dir });

  before(async function () {
    const engine = await requireEngine(this);
    engineHost = engine.host;
    await promisify(execFile)("sh", [join(REPO_ROOT, "scripts/redis-image.sh"), REDIS_IMAGE], {
      env: { ...process.env, DOCKER_HOST: engine.host },
    });
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
    const admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    tokens = await groupTokens(server, admin, [A, B], manifests);
    writeFileSync(join(server.dir, "a.yaml"), workload(A));
    const applied = await as(A, "apply", "-f", "a.yaml", "--timeout", "2m");
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
  });

  after(async function () {
    this.timeout(90_000);
    if (server?.url) await server.deleteGroups([A, B]);
    await server?.stop();
    server?.remove();
  });

  it("an app's two replicas and a service's output arrive through the API for their own group", async () => {
    await until("both replicas to have written", async () => {
      const r = await as(A, "logs", "app/talker");
      return /^talker-0 \| started$/m.test(r.stdout) && /^talker-1 \| started$/m.test(r.stdout);
    });
    const tail = await as(A, "logs", "app/talker", "--tail", "1");
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(tail.stdout.trim().split("\n").length, 2, tail.stdout);
    const cache = await as(A, "logs", "service/cache", "--since", "1h");
    assert.equal(cache.code, 0, cache.stderr);
    assert.match(cache.stdout, /^cache-\d \| .*Ready to accept connections/m);
  });

  it("another group gets 403, through the CLI and the API", async () => {
    const r = await as(B, "logs", `app/${A}/talker`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /group logsb cannot read group logsa/);
    assert.equal(r.stdout, "");
    for (const path of [`apps/talker`, `services/cache`]) {
      const answer = await server.api("GET", `${API_PREFIX}/groups/${A}/${path}/logs?follow=true`, tokens[B] ?? "");
      assert.equal(answer.status, 403);
    }
  });

  it("a follower that goes away closes the engine's stream, even when the service writes nothing more", async () => {
    const pid = server.pid;
    assert.ok(pid);
    const stop = new AbortController();
    // Open before the stream: the loop's own connections (a keep-alive one, a slow stats call).
    const earlier = await engineConnections(pid, engineHost);
    // redis is quiet once started: only a disconnect can end this stream.
    const res = await fetch(`${server.url}${API_PREFIX}/groups/${A}/services/cache/logs?follow=true&tail=1`, {
      headers: { authorization: `Bearer ${tokens[A]}` },
      signal: stop.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body?.getReader();
    assert.ok(reader);
    assert.match(new TextDecoder().decode((await reader.read()).value), /"replica":"cache-\d"/);
    // The loop's own calls (reconciles, stats passes) come and go; the log stream stays until its
    // client goes: it is a connection made after the request and seen open across two looks 2 s
    // apart (on a loaded machine a stats call could last that long: it closes on its own).
    let stream = new Set<string>();
    await until("the engine stream to show", async () => {
      const before = await engineConnections(pid, engineHost);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const after = await engineConnections(pid, engineHost);
      stream = new Set([...before].filter((s) => after.has(s) && !earlier.has(s)));
      return stream.size >= 1;
    });
    stop.abort();
    await until(
      "the log stream's engine connection to close",
      async () => {
        const open = await engineConnections(pid, engineHost);
        return [...stream].every((s) => !open.has(s));
      },
      60_000,
    );
  });

  it("airloft logs --follow runs until interrupted, and exits cleanly", async () => {
    const child = spawn(
      process.execPath,
      ["--import", TSX, join(REPO_ROOT, "src/cli/index.ts"), "--server", server.url, "logs", "-f", "app/talker"],
      { env: { ...process.env, ...env(A) }, cwd: server.dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await until("a followed tick", () => /^talker-\d \| tick \d+$/m.test(out));
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0);
  });
});
