import { strict as assert } from "node:assert";
import type Docker from "dockerode";
import { JOB_LABEL, SCHEDULE_LABEL } from "../../src/jobs/docker-runs.js";
import { LABEL } from "../../src/providers/ownership.js";
import { getCondition } from "../../src/resources/conditions.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { App, StoredEvent } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";
import { until } from "../support/tenants.js";

const G = "jobsa";
const Q = "jobsq";

const group = (g: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${g}\nspec:\n  provider: docker\n`;

/** An app whose replica idles; its jobs are the YAML list given. */
const app = (g: string, name: string, jobs: string, extra = ""): string => `---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: ${name}
  group: ${g}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "while true; do sleep 1; done"]
  env:
    TOKEN: "hunter2-very-secret"
${extra}  jobs:
${jobs}`;

/**
 * Scheduled jobs on the real engine, through `airloft serve`: schedules with a seconds field so
 * that runs come every few seconds. What is asserted is what the engine and the status hold,
 * never how fast it went.
 */
describe("scheduled jobs on a real Docker engine", function () {
  this.timeout(300_000);
  let engine: TestEngine;
  let server: ServeProcess;
  let admin: string;

  const get = async (g: string, name: string): Promise<App> => {
    const r = await server.api("GET", `${API_PREFIX}/groups/${g}/apps/${name}`, admin);
    assert.equal(r.status, 200);
    return r.json as App;
  };
  const events = async (g: string, name: string): Promise<StoredEvent[]> =>
    ((await server.api("GET", `${API_PREFIX}/groups/${g}/apps/${name}/events`, admin)).json as { items: StoredEvent[] })
      .items;
  const runsOf = async (name: string, job: string): Promise<Docker.ContainerInfo[]> =>
    engine.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.name}=${name}`, `${JOB_LABEL}=${job}`] },
    });
  const apply = async (yaml: string): Promise<void> => {
    const r = await server.api("POST", `${API_PREFIX}/apply`, admin, yaml);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  };

  before(async function () {
    engine = await requireEngine(this);
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    await apply(group(G) + group(Q).replace(/^/, "---\n"));
  });

  after(async function () {
    this.timeout(120_000);
    if (server?.url) await server.deleteGroups([G, Q]).catch(() => undefined);
    await server?.stop();
    server?.remove();
  });

  it("runs on schedule and records exit codes and last lines without secret values, within historyLimit", async () => {
    await apply(
      app(
        G,
        "ticker",
        `    - name: tick
      schedule: "*/2 * * * * *"
      command: ["sh", "-c", "echo token is $TOKEN; exit 3"]
      historyLimit: 2
`,
      ),
    );
    const status = await until("two recorded runs", async () => {
      const jobs = (await get(G, "ticker")).status?.jobs?.tick;
      return jobs && jobs.runs.filter((r) => r.exitCode !== undefined).length >= 2 ? jobs : undefined;
    });
    for (const run of status.runs.filter((r) => r.exitCode !== undefined)) {
      assert.equal(run.exitCode, 3);
      assert.deepEqual(run.lastLines, ["token is ***"]);
      assert.match(run.name, /^tick-\d+$/);
      assert.ok(run.startTime && run.endTime && run.scheduleTime);
    }
    assert.ok(status.lastScheduleTime);
    assert.ok((await events(G, "ticker")).some((e) => e.reason === "JobFailed"));
    // historyLimit: never more than two ended runs kept, on the engine as in the status.
    await until("older runs removed", async () => {
      const ended = (await runsOf("ticker", "tick")).filter((c) => c.State === "exited");
      return ended.length <= 2 && (await get(G, "ticker")).status?.jobs?.tick?.runs.length !== undefined;
    });
    const names = (await runsOf("ticker", "tick")).map((c) => c.Names[0] ?? "");
    for (const n of names) assert.match(n, /^\/airloft-run_[0-9a-f-]{36}_tick-\d+$/);
    // The app's own logs hold no job run; `describe` replicas neither.
    assert.equal((await get(G, "ticker")).status?.instances?.length, 1);
    // Without its jobs, the app's runs and records go.
    await apply(app(G, "ticker", "    []\n"));
    await until("runs of a removed job gone", async () => (await runsOf("ticker", "tick")).length === 0);
  });

  it("Forbid: a long run blocks the next; timeoutSeconds kills a run", async () => {
    await apply(
      app(
        G,
        "slow",
        `    - name: long
      schedule: "*/2 * * * * *"
      command: ["sleep", "5"]
      concurrencyPolicy: Forbid
      historyLimit: 10
    - name: hung
      schedule: "*/3 * * * * *"
      command: ["sleep", "300"]
      timeoutSeconds: 1
      concurrencyPolicy: Forbid
`,
      ),
    );
    let most = 0;
    await until(
      "a finished long run and a skipped schedule time",
      async () => {
        const running = (await runsOf("slow", "long")).filter((c) => c.State === "running").length;
        most = Math.max(most, running);
        const ended = (await get(G, "slow")).status?.jobs?.long?.runs.filter((r) => r.exitCode === 0) ?? [];
        return ended.length >= 1 && (await events(G, "slow")).some((e) => e.reason === "JobSkipped");
      },
      90_000,
    );
    assert.equal(most, 1, "two runs of a Forbid job ran at once");
    const hung = await until("a timed-out run", async () => {
      const runs = (await get(G, "slow")).status?.jobs?.hung?.runs ?? [];
      return runs.find((r) => r.reason === "DeadlineExceeded" && r.exitCode !== undefined);
    });
    assert.equal(hung.exitCode, 137);
    assert.ok((await events(G, "slow")).some((e) => e.reason === "JobTimedOut"));
  });

  it("a run in flight when AirLoft is killed is adopted, not started twice; missed times give one catch-up run", async () => {
    await apply(
      app(
        G,
        "crash",
        `    - name: nightly
      schedule: "*/4 * * * * *"
      command: ["sh", "-c", "sleep 6; echo done"]
      historyLimit: 20
`,
      ),
    );
    const inFlight = await until("a run in flight", async () =>
      (await runsOf("crash", "nightly")).find((c) => c.State === "running"),
    );
    const before = await engine.docker.getContainer(inFlight.Id).inspect();
    await server.kill();
    // Down for two or three schedule times.
    await new Promise((r) => setTimeout(r, 10_000));
    const downSince = Date.now();
    await server.start();
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    const recorded = await until(
      "the in-flight run recorded as ended",
      async () => {
        const runs = (await get(G, "crash")).status?.jobs?.nightly?.runs ?? [];
        return runs.find((r) => r.name === inFlight.Labels[`airloft.dev/run`] && r.exitCode !== undefined);
      },
      60_000,
    );
    assert.equal(recorded.exitCode, 0);
    assert.deepEqual(recorded.lastLines, ["done"]);
    const after = await engine.docker.getContainer(inFlight.Id).inspect();
    assert.equal(after.State.StartedAt, before.State.StartedAt, "the run was started again");
    assert.equal(after.RestartCount, 0);
    // One container per schedule time, and one catch-up run for the times missed while down.
    const all = await runsOf("crash", "nightly");
    const times = all.map((c) => c.Labels[SCHEDULE_LABEL]);
    assert.equal(new Set(times).size, times.length);
    const missedEvents = (await events(G, "crash")).filter((e) => e.reason === "MissedRuns");
    assert.equal(missedEvents.length, 1, JSON.stringify(missedEvents));
    const catchUp = all.filter(
      (c) => c.Created * 1000 >= downSince - 1000 && Date.parse(c.Labels[SCHEDULE_LABEL] ?? "") < downSince,
    );
    assert.ok(catchUp.length <= 1, `${catchUp.length} catch-up runs`);
  });

  it("a run that would pass the group's quota is skipped with QuotaExceeded", async () => {
    await apply(
      `apiVersion: airloft.dev/v1alpha1\nkind: Quota\nmetadata:\n  name: limits\n  group: ${Q}\nspec:\n  hard:\n    replicas: 1\n` +
        app(Q, "capped", `    - name: every\n      schedule: "*/2 * * * * *"\n      command: ["true"]\n`),
    );
    const app2 = await until("the Scheduled condition", async () => {
      const a = await get(Q, "capped");
      return getCondition(a.status, "Scheduled") ? a : undefined;
    });
    const cond = getCondition(app2.status, "Scheduled");
    assert.equal(cond?.status, "False");
    assert.equal(cond?.reason, "QuotaExceeded");
    assert.match(cond?.message ?? "", /quota jobsq\/limits: replicas 2 would exceed 1/);
    assert.equal((await runsOf("capped", "every")).length, 0);
    assert.ok((await events(Q, "capped")).some((e) => e.reason === "QuotaExceeded"));
  });
});
