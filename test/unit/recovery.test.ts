import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { problemReason, withProblems } from "../../src/controllers/replica-problems.js";
import { type CrashFacts, demuxFrames } from "../../src/providers/docker/crash-facts.js";
import { desiredApp } from "../../src/providers/docker/desired.js";
import type { ObservedContainer } from "../../src/providers/docker/observe.js";
import { describeOperation, isReady, planApp } from "../../src/providers/docker/plan.js";
import { httpProbe } from "../../src/providers/docker/probe.js";
import { planRecovery, type ReplicaFacts } from "../../src/providers/docker/recovery.js";
import { ReplicaHealth, restartDelayMs } from "../../src/providers/docker/replica-health.js";
import type { App } from "../../src/resources/types.js";
import { safeLogLines } from "../../src/util/safe-log-lines.js";
import { freePort } from "../../support/ports.js";
import { observedContainer, testApp, testGroup } from "../support/docker-objects.js";
import { FakeClock } from "../support/fake-clock.js";

const group = testGroup;
const appOf = (spec: Partial<App["spec"]> = {}) => testApp({ healthCheck: { http: { path: "/healthz" } }, ...spec });
const desired = (spec: Partial<App["spec"]> = {}) =>
  desiredApp(appOf(spec), group, "inst", { ref: "busybox:1", id: "sha256:aaa" });
const container = observedContainer;

const crash = (over: Partial<CrashFacts> = {}): CrashFacts => ({
  exitCode: 3,
  finishedAt: 1_000_000,
  engineRestarts: 0,
  restartPolicy: "no",
  checkExitCode: undefined,
  logLines: ["boom"],
  ...over,
});

const facts = (replica: number, over: Partial<ReplicaFacts> = {}): ReplicaFacts => ({
  replica: `web-${replica}`,
  restarts: { restarts: 0, lastAt: undefined },
  ...over,
});

const failing = (since: number, reason = "GET /healthz on web-0: 500") => ({
  failures: 3,
  failed: true,
  since,
  reason,
});

describe("crash-loop back-off", () => {
  it("restarts at once, then after 10 s doubling to a cap of 5 min", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 50].map(restartDelayMs),
      [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000],
    );
  });

  it("counts AirLoft's restarts of a replica and forgets them after 10 minutes without one", () => {
    const clock = new FakeClock(1_000);
    const health = new ReplicaHealth(clock);
    health.recordRestart("u/0/h");
    clock.advance(5_000);
    health.recordRestart("u/0/h");
    assert.deepEqual(health.restartsOf("u/0/h"), { restarts: 2, lastAt: 6_000 });
    assert.equal(health.restartsOf("u/1/h").restarts, 0);
    clock.advance(600_001);
    assert.equal(health.restartsOf("u/0/h").restarts, 0);
    health.recordRestart("u/0/h");
    assert.equal(health.restartsOf("u/0/h").restarts, 1);
  });

  it("waits out the back-off from the exit, then starts the container", () => {
    const d = desired();
    const c0 = container(0, d.configHash, { state: "exited" });
    const f = new Map([
      [c0.id, facts(0, { crash: crash({ finishedAt: 100_000 }), restarts: { restarts: 2, lastAt: 90_000 } })],
    ]);
    const ready = () => false;
    const early = planRecovery(d, [c0], f, ready, 100_000 + 19_999);
    assert.deepEqual(early.actions.get(c0.id), { kind: "wait", at: 120_000 });
    assert.deepEqual(planApp(d, [c0], new Map(), early.actions).operations.map(describeOperation), [
      "app:acme/web:1 create (missing)",
    ]);
    const due = planRecovery(d, [c0], f, ready, 120_000);
    const plan = planApp(d, [c0], new Map(), due.actions);
    assert.deepEqual(plan.operations[0], {
      op: "start",
      target: "app:acme/web:0",
      cause: "exited with code 3, back-off 20s",
      id: c0.id,
    });
    assert.deepEqual(due.problems, [
      {
        replica: "web-0",
        reason: "CrashLoopBackOff",
        message: "web-0 exited with code 3, restarted 2 times, back-off 20s; last log: boom",
      },
    ]);
  });

  it("holds a container the engine keeps restarting, so that AirLoft's back-off paces it", () => {
    const d = desired({ replicas: 1 });
    const c0 = container(0, d.configHash, { state: "restarting" });
    const f = new Map([[c0.id, facts(0, { crash: crash({ engineRestarts: 4, restartPolicy: "unless-stopped" }) })]]);
    const recovery = planRecovery(d, [c0], f, () => false, 2_000_000);
    assert.deepEqual(planApp(d, [c0], new Map(), recovery.actions).operations.map(describeOperation), [
      "app:acme/web:0 restart-policy (crash loop: exited with code 3; AirLoft paces the restarts)",
    ]);
    assert.deepEqual(recovery.actions.get(c0.id), {
      kind: "restart-policy",
      cause: "crash loop: exited with code 3; AirLoft paces the restarts",
      policy: "no",
    });
    assert.equal(recovery.problems[0]?.reason, "CrashLoopBackOff");
    assert.match(recovery.problems[0]?.message ?? "", /^web-0 exited with code 3, restarted 4 times, restarting;/);
  });

  it("gives the engine its restarts back once the replica is ready 10 s after AirLoft's last restart", () => {
    const d = desired({ replicas: 1 });
    const c0 = container(0, d.configHash);
    const held = (lastAt: number) => new Map([[c0.id, facts(0, { held: true, restarts: { restarts: 2, lastAt } })]]);
    assert.equal(planRecovery(d, [c0], held(95_000), () => true, 100_000).actions.size, 0, "too soon");
    assert.equal(planRecovery(d, [c0], held(90_000), () => false, 100_000).actions.size, 0, "not ready");
    assert.deepEqual(planRecovery(d, [c0], held(90_000), () => true, 100_000).actions.get(c0.id), {
      kind: "restart-policy",
      cause: "running again",
      policy: "unless-stopped",
    });
    const never = desiredApp({ ...appOf({ replicas: 1, restart: "no" }) }, group, "inst", {
      ref: "busybox:1",
      id: "sha256:aaa",
    });
    assert.equal(planRecovery(never, [c0], held(0), () => true, 100_000).actions.size, 0, "restart: no stays no");
  });

  it("holds it too when seen exited between two of the engine's restarts", () => {
    const d = desired({ replicas: 1 });
    const c0 = container(0, d.configHash, { state: "exited" });
    const f = new Map([[c0.id, facts(0, { crash: crash({ engineRestarts: 2, restartPolicy: "unless-stopped" }) })]]);
    const recovery = planRecovery(d, [c0], f, () => false, 2_000_000);
    assert.equal(recovery.actions.get(c0.id)?.kind, "restart-policy");
    const stopped = new Map([[c0.id, facts(0, { crash: crash({ restartPolicy: "unless-stopped" }) })]]);
    assert.equal(planRecovery(d, [c0], stopped, () => false, 2_000_000).actions.get(c0.id)?.kind, "start");
  });

  it("a container stopped once is started at once and reported as exited, not as a crash loop", () => {
    const d = desired({ replicas: 1 });
    const c0 = container(0, d.configHash, { state: "exited" });
    const f = new Map([[c0.id, facts(0, { crash: crash({ exitCode: 137, logLines: [] }) })]]);
    const recovery = planRecovery(d, [c0], f, () => false, 1_000_000);
    assert.equal(recovery.actions.get(c0.id)?.kind, "start");
    assert.deepEqual(recovery.problems, [
      {
        replica: "web-0",
        reason: "ContainerExited",
        message: "web-0 exited with code 137, restarted 0 times, back-off 0s",
      },
    ]);
  });
});

describe("liveness", () => {
  const check = { intervalMs: 5_000, retries: 3, startPeriodMs: 0 };
  const bad = { ok: false, reason: "GET /healthz on web-0: 500" };

  it("fails after `retries` failed checks counted one per interval, however often it is polled", () => {
    const clock = new FakeClock(0);
    const health = new ReplicaHealth(clock);
    assert.equal(health.recordProbe("c", { ok: true }, check), undefined);
    const states = [];
    for (let t = 0; t <= 10_000; t += 1_000) {
      states.push(health.recordProbe("c", bad, check));
      clock.advance(1_000);
    }
    assert.deepEqual(
      states.map((s) => s?.failures),
      [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3],
    );
    assert.equal(states[9]?.failed, false);
    assert.deepEqual(states[10], { failures: 3, failed: true, since: 0, reason: "GET /healthz on web-0: 500" });
    assert.equal(health.recordProbe("c", { ok: true }, check), undefined, "a pass starts the count again");
    assert.equal(health.recordProbe("c", bad, check)?.failures, 1);
  });

  it("does not hold a replica that never passed to liveness until its start period (5 min unset) is over", () => {
    const clock = new FakeClock(0);
    const health = new ReplicaHealth(clock);
    assert.equal(health.recordProbe("slow", bad, check), undefined);
    clock.advance(299_000);
    assert.equal(health.recordProbe("slow", bad, check), undefined);
    clock.advance(1_000);
    assert.equal(health.recordProbe("slow", bad, check)?.failures, 1);
    assert.equal(health.recordProbe("short", bad, { ...check, startPeriodMs: 10_000 }), undefined);
    clock.advance(10_000);
    assert.equal(health.recordProbe("short", bad, { ...check, startPeriodMs: 10_000 })?.failures, 1);
  });

  it("takes the engine's unhealthy as failed for a command check that once passed", () => {
    const health = new ReplicaHealth(new FakeClock(0));
    assert.equal(health.recordEngineHealth("c", "unhealthy", check), undefined);
    health.recordEngineHealth("c", "healthy", check);
    assert.equal(health.recordEngineHealth("c", "unhealthy", check)?.failed, true);
  });

  it("forgets containers not seen for an hour", () => {
    const clock = new FakeClock(0);
    const health = new ReplicaHealth(clock);
    for (let i = 0; i < 100; i++) health.recordProbe(`c-${i}`, { ok: true }, check);
    health.recordRestart("u/0/h");
    assert.equal(health.size, 101);
    clock.advance(3_700_000);
    health.recordProbe("fresh", { ok: true }, check);
    assert.equal(health.size, 1);
  });

  it("replaces one failed replica at a time, the one failing longest first, and says why", () => {
    const d = desired({ replicas: 3 });
    const cs = [0, 1, 2].map((r) => container(r, d.configHash));
    const f = new Map([
      [cs[0]?.id ?? "", facts(0, { liveness: failing(50) })],
      [cs[1]?.id ?? "", facts(1, { liveness: failing(20, "GET /healthz on web-1: timeout after 3s") })],
      [cs[2]?.id ?? "", facts(2)],
    ]);
    const ready = (c: ObservedContainer) => c.owner.replica === 2;
    const recovery = planRecovery(d, cs, f, ready, 100);
    assert.deepEqual(
      planApp(d, cs, new Map([[cs[2]?.id ?? "", true]]), recovery.actions).operations.map(describeOperation),
      [
        "app:acme/web:1 remove (liveness: GET /healthz on web-1: timeout after 3s, 3 checks in a row)",
        "app:acme/web:1 create (liveness failed)",
      ],
    );
  });

  it("replaces none while another replica is starting or missing", () => {
    const d = desired({ replicas: 2 });
    const cs = [container(0, d.configHash), container(1, d.configHash)];
    const f = new Map([
      [cs[0]?.id ?? "", facts(0, { liveness: failing(0) })],
      [cs[1]?.id ?? "", facts(1, { probe: { ok: false, reason: "GET /healthz on web-1: connection refused" } })],
    ]);
    const starting = planRecovery(d, cs, f, () => false, 100);
    assert.equal(starting.actions.size, 0);
    assert.deepEqual(
      starting.problems.map((p) => p.message),
      ["GET /healthz on web-1: connection refused"],
    );
    assert.equal(planRecovery(d, [cs[0] as ObservedContainer], f, () => false, 100).actions.size, 0);
  });

  it("never replaces a Service's container on liveness", () => {
    const d = { ...desired({ replicas: 1 }), kind: "Service" as const };
    const c0 = container(0, d.configHash);
    const recovery = planRecovery(d, [c0], new Map([[c0.id, facts(0, { liveness: failing(0) })]]), () => false, 1);
    assert.equal(recovery.actions.size, 0);
  });

  it("says a command check failed by its exit code only", () => {
    const d = desired({ replicas: 1, healthCheck: { command: ["check"] } });
    const c0 = container(0, d.configHash, { health: "unhealthy" });
    const f = new Map([[c0.id, facts(0, { crash: crash({ checkExitCode: 2 }) })]]);
    assert.deepEqual(
      planRecovery(d, [c0], f, (c) => isReady(c, d, new Map()), 1).problems.map((p) => p.message),
      ["health check command on web-0: exit code 2"],
    );
  });
});

describe("condition messages", () => {
  it("say why replicas are not ready, the crash loop first, and name at most three", () => {
    const problems = [
      { replica: "web-1", reason: "Unhealthy", message: "GET /healthz on web-1: 503" },
      { replica: "web-0", reason: "CrashLoopBackOff", message: "web-0 exited with code 3" },
      { replica: "web-2", reason: "Unhealthy", message: "GET /healthz on web-2: 503" },
      { replica: "web-3", reason: "Unhealthy", message: "GET /healthz on web-3: 503" },
    ];
    assert.equal(problemReason(problems), "CrashLoopBackOff");
    assert.equal(problemReason([]), undefined);
    assert.equal(
      withProblems("0/4 replicas ready", problems),
      "0/4 replicas ready; GET /healthz on web-1: 503; web-0 exited with code 3; GET /healthz on web-2: 503; and 1 more",
    );
    assert.equal(withProblems("1/1 replicas ready", []), "1/1 replicas ready");
  });

  it("show the last log lines cut short, on one line each, with every env value hidden", () => {
    const env = { PORT: "8080", DB_PASSWORD: "s3cret-pass", FLAG: "on" };
    const output = `one\ntwo\nconnecting with s3cret-pass on 8080 \u001b[31mred\u001b[0m\n\nthree ${"x".repeat(300)}\n`;
    const lines = safeLogLines(output, env);
    assert.equal(lines.length, 3);
    assert.equal(lines[0], "two");
    assert.equal(lines[1], "connecting with *** on 8080  [31mred [0m");
    assert.equal(lines[2]?.length, 120);
    assert.ok(!lines.join("\n").includes("s3cret"));
  });

  it("reads the engine's framed log stream", () => {
    const frame = (type: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = type;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    assert.equal(demuxFrames(Buffer.concat([frame(1, "out\n"), frame(2, "err\n")])).toString(), "out\nerr\n");
    assert.equal(demuxFrames(Buffer.from([1, 0, 0])).toString(), "", "a torn header is ignored");
  });
});

describe("probe reasons (on 127.0.0.1)", () => {
  const servers: Array<Server | TcpServer> = [];
  const listen = async (server: Server | TcpServer): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    return typeof address === "object" && address ? address.port : 0;
  };
  after(() => {
    for (const s of servers) s.close();
  });
  const target = (port: number, timeoutMs = 2_000) => ({
    host: "127.0.0.1",
    port,
    path: "/healthz",
    timeoutMs,
    replica: "web-1",
  });

  it("names the status code of an answer that is not 2xx or 3xx", async () => {
    const port = await listen(createServer((_req, res) => res.writeHead(503).end()));
    assert.deepEqual(await httpProbe(target(port)), { ok: false, reason: "GET /healthz on web-1: 503" });
  });

  it("passes on 2xx", async () => {
    const port = await listen(createServer((_req, res) => res.writeHead(204).end()));
    assert.deepEqual(await httpProbe(target(port)), { ok: true });
  });

  it("says connection refused", async () => {
    const port = await freePort();
    assert.deepEqual(await httpProbe(target(port)), {
      ok: false,
      reason: "GET /healthz on web-1: connection refused",
    });
  });

  it("says timeout after the check's timeout", async () => {
    const port = await listen(createTcpServer(() => undefined));
    assert.deepEqual(await httpProbe(target(port, 200)), {
      ok: false,
      reason: "GET /healthz on web-1: timeout after 0.2s",
    });
  });

  it("says invalid HTTP response, on one short line", async () => {
    const port = await listen(createTcpServer((socket) => socket.end("SSH-2.0-OpenSSH\r\n\u0007junk\r\n\r\n")));
    const result = await httpProbe(target(port));
    assert.equal(result.ok, false);
    assert.match(result.reason ?? "", /^GET \/healthz on web-1: invalid HTTP response: \S.{0,80}$/);
  });
});
