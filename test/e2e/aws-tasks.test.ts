import { strict as assert } from "node:assert";
import { DescribeInstancesCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { createProgress } from "../../src/controllers/context.js";
import { groupRunsOf, RUN_READ_MAX_AGE_MS } from "../../src/jobs/aws-group-runs.js";
import { syncAwsJobs } from "../../src/jobs/aws-runs.js";
import { MAX_RUNS_PER_GROUP } from "../../src/jobs/one-off.js";
import { RunAccess } from "../../src/jobs/run-access.js";
import { JobScheduler } from "../../src/jobs/scheduler.js";
import { createLogger } from "../../src/log.js";
import { tagRecord } from "../../src/providers/aws/names.js";
import { TASK_TAG } from "../../src/providers/aws/tasks.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { AppOutcome } from "../../src/providers/types.js";
import { historyOf } from "../../src/releases/revisions.js";
import { type RolloutVerdict, releaseDone, releaseRevision, trackRollout } from "../../src/releases/rollout.js";
import { setCondition } from "../../src/resources/conditions.js";
import { objectKey } from "../../src/resources/kinds.js";
import type { LoadedManifest } from "../../src/resources/manifest-object.js";
import type { App, AppSpec, Group, Resource } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { FakeClock } from "../support/fake-clock.js";
import { appObject, dueMinute, manifest } from "../support/manifests.js";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";
import { useTempStore } from "../support/temp-store.js";

const SECRET = "s3cret-db-password";

/** Every task instance of a kind AirLoft ever launched, terminated ones too (moto keeps them). */
async function taskInstances(s: ReturnType<typeof useStrictGroup>, kind: string) {
  const out = await s.h.inspect.ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: "tag:airloft.dev/kind", Values: [kind] }] }),
  );
  return (out.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .map((i) => ({ id: i.InstanceId ?? "", state: i.State?.Name ?? "", tags: tagRecord(i.Tags) }));
}

/**
 * The release command on AWS: a one-shot task instance per config (src/providers/aws/tasks.ts),
 * on moto behind the strict proxy. moto runs no user data, so the test plays the instance: it
 * writes what the script would print to the console (the proxy serves it) and terminates the
 * instance, as its own poweroff with InstanceInitiatedShutdownBehavior=terminate would.
 */
describe("AWS task instances: the release command (strict endpoint)", function () {
  this.timeout(240_000);
  const s = useStrictGroup();
  let store: Store;
  useTempStore("airloft-aws-tasks-", async (opened) => {
    store = opened;
    await store.apply([manifest({ ...s.h.group, status: {} } as Resource)]);
  });

  const apply = async (spec: AppSpec): Promise<App> => {
    await store.apply([manifest(appObject("strict", "web", spec))]);
    return store.get("App/strict/web") as App;
  };
  /** One app reconcile as the app controller makes it: the provider's pass, then the rollout's record. */
  const pass = async (app: App): Promise<{ outcome: AppOutcome; verdict: RolloutVerdict }> => {
    const outcome = await s.h.provider.reconcileApp(app, s.h.group, {
      releaseDone: releaseDone(store, app),
      releaseRevision: releaseRevision(store, app),
      secrets: {
        env: { DB_PASSWORD: SECRET },
        files: [],
        digest: "d-1",
        hashes: { "env/DB_PASSWORD": "h1" },
        missing: [],
      },
    });
    s.h.provider.forget("us-east-1");
    return { outcome, verdict: await trackRollout(store, app, outcome) };
  };
  /** The instance's part: its script's console output, then its own poweroff. */
  const finish = async (instanceId: string, taskId: string, code: number, lines: string[]) => {
    const text = [
      "cloud-init[1]: installing docker",
      `cloud-init[1]: airloft-task ${taskId} begin`,
      ...lines,
      `cloud-init[1]: airloft-task ${taskId} exit=${code}`,
      "reboot: Power down",
    ].join("\n");
    s.aws.proxy.consoleOutputs.set(instanceId, text);
    await s.h.inspect.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  };
  const appHashes = async (app: App) =>
    (await s.h.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [app.metadata.uid ?? ""] }]))
      .filter((i) => i.tags["airloft.dev/kind"] === "App")
      .map((i) => i.tags["airloft.dev/config-hash"])
      .sort();
  const release = (spec: AppSpec): AppSpec => ({ ...spec, release: { command: ["./migrate", "--all"] } });

  it("runs once before any instance launches, survives a restart without a second launch, then the rollout proceeds", async () => {
    const app = await apply(release(webSpec(2)));
    const first = await pass(app);
    assert.equal(first.outcome.release?.phase, "running");
    const [task, ...more] = await taskInstances(s, "Release");
    assert.ok(task);
    assert.equal(more.length, 0);
    assert.deepEqual(await appHashes(app), [], "no instance of the app before its release succeeded");
    assert.equal(task.tags["airloft.dev/uid"], app.metadata.uid);
    assert.match(task.tags[TASK_TAG] ?? "", /^[a-f0-9]{32}$/);

    // A restart between the launch and any record: the same instance is found, none launched.
    s.h.newProvider();
    assert.equal((await pass(app)).outcome.release?.phase, "running");
    assert.equal((await taskInstances(s, "Release")).length, 1);

    await finish(task.id, task.tags[TASK_TAG] ?? "", 0, ["migrated 3 tables"]);
    const done = await pass(app);
    assert.equal(done.outcome.release?.phase, "succeeded");
    assert.deepEqual(historyOf(store, app).at(-1)?.release, { exitCode: 0, output: ["migrated 3 tables"] });
    assert.equal(releaseDone(store, app), true);
    let last = done;
    for (let i = 0; i < 8 && !last.outcome.converged; i++) last = await pass(app);
    assert.equal(last.outcome.converged, true, JSON.stringify(last.outcome));
    assert.equal((await appHashes(app)).length, 2);

    // Recorded: a restarted controller never runs it again, nor asks for it.
    s.h.newProvider();
    const before = s.h.calls(/ec2:(RunInstances|GetConsoleOutput)/);
    assert.equal((await pass(app)).outcome.release, undefined);
    assert.equal(s.h.calls(/ec2:(RunInstances|GetConsoleOutput)/), before);
    assert.equal((await taskInstances(s, "Release")).length, 1);
  });

  it("a roll back to an earlier config is a new revision: its release runs again, as a task of its own", async () => {
    const released = async (spec: AppSpec): Promise<App> => {
      const app = await apply(release(spec));
      const known = new Set((await taskInstances(s, "Release")).map((t) => t.id));
      assert.equal((await pass(app)).outcome.release?.phase, "running");
      const task = (await taskInstances(s, "Release")).find((t) => !known.has(t.id));
      assert.ok(task, "a release task of this revision");
      await finish(task.id, task.tags[TASK_TAG] ?? "", 0, ["ok"]);
      let last = await pass(app);
      for (let i = 0; i < 8 && !last.outcome.converged; i++) last = await pass(app);
      assert.equal(last.outcome.converged, true, JSON.stringify(last.outcome));
      return app;
    };
    await released(webSpec(1, "a"));
    await released(webSpec(1, "b"));
    // Back to "a": revision 3, whose release is launched anew (the first one's token is spent).
    const back = await released(webSpec(1, "a"));
    assert.equal((await taskInstances(s, "Release")).length, 3);
    assert.deepEqual(
      historyOf(store, back).map((r) => r.release?.exitCode),
      [0, 0, 0],
    );
  });

  it("a failing release blocks the new config with ReleaseFailed and its last lines; the old instances serve on", async () => {
    let app = await apply(release(webSpec(2, "a")));
    await pass(app);
    const [one] = await taskInstances(s, "Release");
    await finish(one?.id ?? "", one?.tags[TASK_TAG] ?? "", 0, ["ok"]);
    let last = await pass(app);
    for (let i = 0; i < 8 && !last.outcome.converged; i++) last = await pass(app);
    const old = await appHashes(app);
    assert.equal(old.length, 2);

    app = await apply(release(webSpec(2, "b")));
    assert.equal((await pass(app)).outcome.release?.phase, "running");
    const second = (await taskInstances(s, "Release")).find((t) => t.id !== one?.id);
    assert.ok(second);
    await finish(second.id, second.tags[TASK_TAG] ?? "", 3, [`connecting with ${SECRET}`, "error: relation exists"]);
    const failed = await pass(app);
    assert.equal(failed.verdict.failed?.reason, "ReleaseFailed");
    assert.match(
      failed.verdict.failed?.message ?? "",
      /exited with code 3: .*connecting with \*\*\* \| error: relation exists/,
    );
    assert.doesNotMatch(JSON.stringify(historyOf(store, app)), new RegExp(SECRET));
    assert.equal(failed.outcome.converged, false);
    assert.deepEqual(await appHashes(app), old, "the old instances keep serving, none of the new config launched");

    // Blocked for good: a restart neither relaunches the release nor the app.
    s.h.newProvider();
    const again = await pass(app);
    assert.equal(again.verdict.failed?.reason, "ReleaseFailed");
    assert.equal((await taskInstances(s, "Release")).length, 2);
    assert.deepEqual(await appHashes(app), old);
  });
});

/**
 * Scheduled jobs on AWS: a task instance per due run (src/jobs/aws-runs.ts), one app pass as the
 * scheduler makes it (syncAwsJobs), on moto behind the strict proxy, at chosen times.
 */
describe("AWS task instances: scheduled job runs (strict endpoint)", function () {
  this.timeout(240_000);
  const s = useStrictGroup();
  let store: Store;
  let app: App;
  /** Five seconds into the first minute after the app was made: the first schedule time is due. */
  let t1: number;

  useTempStore("airloft-aws-jobs-", async (opened) => {
    store = opened;
    const spec: AppSpec = {
      ...webSpec(1),
      env: { API_KEY: "key-0123456789" },
      jobs: [{ name: "report", schedule: "* * * * *", command: ["./report"], concurrencyPolicy: "Forbid" }],
    };
    await store.apply([manifest({ ...s.h.group, status: {} } as Resource), manifest(appObject("strict", "web", spec))]);
    app = store.get("App/strict/web") as App;
    t1 = dueMinute(Date.parse(app.metadata.creationTimestamp ?? "")) + 5_000;
  });

  /** One pass as the scheduler makes it: the group's one listing, then the app's jobs on it. */
  const sync = async (now: number) => {
    const site = { tasks: s.h.provider.tasks, runs: groupRunsOf(s.h.provider.tasks) };
    const pass = await site.runs.pass(s.h.group, { maxAgeMs: 0, now });
    return syncAwsJobs(store, store.get("App/strict/web") as App, s.h.group, site, pass, now);
  };
  const jobs = () => (store.get("App/strict/web") as App).status?.jobs?.report;

  it("starts a task instance for the due run and records its exit code and masked last lines", async () => {
    await sync(t1);
    const [run, ...more] = await taskInstances(s, "Job");
    assert.ok(run);
    assert.equal(more.length, 0);
    assert.equal(run.tags["airloft.dev/schedule-time"], new Date(t1 - 5_000).toISOString());
    assert.equal(run.tags["airloft.dev/job"], "report");
    assert.deepEqual(jobs()?.active, [run.tags["airloft.dev/run"]]);

    // Forbid: still running at the next minute, the next run is skipped.
    await sync(t1 + 60_000);
    assert.equal((await taskInstances(s, "Job")).length, 1);

    const id = run.tags[TASK_TAG] ?? "";
    s.aws.proxy.consoleOutputs.set(
      run.id,
      [`airloft-task ${id} begin`, "using key-0123456789", "report failed", `airloft-task ${id} exit=4`].join("\n"),
    );
    await s.h.inspect.ec2.send(new TerminateInstancesCommand({ InstanceIds: [run.id] }));
    await sync(t1 + 70_000);
    const record = jobs()?.runs?.find((r) => r.name === run.tags["airloft.dev/run"]);
    assert.equal(record?.exitCode, 4);
    assert.deepEqual(record?.lastLines, ["using ***", "report failed"]);
    assert.ok(record?.endTime);
    assert.deepEqual(jobs()?.active, []);
    assert.ok(store.eventsOf(app).some((e) => e.reason === "JobFailed"));
  });

  it("the scheduler runs the due job on AWS, and ends a task instance left running past the timeout", async () => {
    s.h.group = store.get(objectKey("Group", "", "strict")) as Group;
    await s.h.reconcileGroup();
    const ready = { type: "Ready", status: "True", reason: "Converged", message: "" } as const;
    await store.updateStatus(objectKey("Group", "", "strict"), () =>
      setCondition({ ...s.h.group.status }, ready, s.h.group.metadata.generation ?? 1),
    );
    const clock = new FakeClock(t1);
    const providers = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const ctx = { store, providers, log: createLogger({ level: "error" }), progress: createProgress() };
    const scheduler = new JobScheduler(ctx, { clock });
    await scheduler.tick();
    const [run] = await taskInstances(s, "Job");
    assert.ok(run);
    const scheduled = (store.get("App/strict/web") as App).status?.conditions?.find((c) => c.type === "Scheduled");
    assert.equal(scheduled?.reason, "RunStarted");

    clock.advance(2 * 60 * 60_000);
    await scheduler.tick();
    const [first] = (await taskInstances(s, "Job")).filter((t) => t.id === run.id);
    assert.ok(first?.state === "shutting-down" || first?.state === "terminated", first?.state);
  });

  it("a crash between the launch and its record launches nothing twice", async () => {
    // The launch is done but its answer lost: the SDK's retry carries the same token, and gets the same instance.
    s.aws.proxy.loseAnswerOf = "ec2:RunInstances";
    await sync(t1);
    assert.equal((await taskInstances(s, "Job")).length, 1);

    // Killed before its record was written: a restarted controller finds the run by its tags, and starts no other.
    await store.updateStatus("App/strict/web", (st) => ({ ...st, jobs: {} }));
    s.h.newProvider();
    await sync(t1 + 1_000);
    const all = await taskInstances(s, "Job");
    assert.equal(all.length, 1);
    assert.equal(jobs()?.lastScheduleTime, new Date(t1 - 5_000).toISOString());

    // Started again by hand for the same schedule time (the instance not yet listed, say): the same token, the same instance.
    await store.updateStatus("App/strict/web", (st) => ({ ...st, jobs: {} }));
    const runs = await s.h.provider.tasks.start(
      store.get("App/strict/web") as App,
      s.h.group,
      {
        kind: "Job",
        identity: [app.metadata.uid ?? "", "report", new Date(t1 - 5_000).toISOString()],
        label: "job strict/web report",
        command: ["./report"],
        tags: {
          "airloft.dev/run": all[0]?.tags["airloft.dev/run"] ?? "",
          "airloft.dev/job": "report",
          "airloft.dev/schedule-time": new Date(t1 - 5_000).toISOString(),
        },
      },
      { bindings: {}, secrets: { env: {}, files: [], digest: "", missing: [] } },
    );
    assert.equal(runs, all[0]?.id);
    assert.equal((await taskInstances(s, "Job")).length, 1);
  });
});

/** `airloft run` against an AWS group: a task instance, its output and exit code once it ended (RunAccess). */
describe("AWS task instances: one-off runs (strict endpoint)", function () {
  this.timeout(240_000);
  const s = useStrictGroup();
  let store: Store;

  useTempStore("airloft-aws-runs-", async (opened) => {
    store = opened;
    const spec: AppSpec = { ...webSpec(1), env: { API_KEY: "key-0123456789" } };
    await store.apply([manifest({ ...s.h.group } as Resource), manifest(appObject("strict", "web", spec))]);
    // The store's group (its own uid) gets its network, and the facts its controller writes.
    s.h.group = store.get(objectKey("Group", "", "strict")) as Group;
    await s.h.reconcileGroup();
    await store.updateStatus(objectKey("Group", "", "strict"), () => ({ ...s.h.group.status }));
  });

  it("runs the command on a task instance and gives its output and exit code at the end; another group finds nothing", async () => {
    const clock = new FakeClock(Date.now());
    const registry = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const runs = new RunAccess(store, registry, { now: () => clock.now() });
    const id = await runs.start(store.get("App/strict/web") as App, ["rake", "db:seed"]);
    const [task, ...more] = await taskInstances(s, "Run");
    assert.ok(task);
    assert.equal(more.length, 0);
    assert.equal(task.tags["airloft.dev/run"], id);
    assert.deepEqual(await runs.view("strict", id), { id, app: "web", running: true });

    const lines: string[] = [];
    const write = (_run: string, line: string) => void lines.push(line);
    await runs.logs("strict", id, { follow: false, write });
    assert.deepEqual(lines, [], "nothing before it ended: AWS output arrives at the end");

    const taskId = task.tags[TASK_TAG] ?? "";
    s.aws.proxy.consoleOutputs.set(
      task.id,
      [`airloft-task ${taskId} begin`, "seeded 10 rows with key-0123456789", `airloft-task ${taskId} exit=7`].join(
        "\n",
      ),
    );
    await s.h.inspect.ec2.send(new TerminateInstancesCommand({ InstanceIds: [task.id] }));
    // Its end shows once the group's listing is older than a read takes: no later.
    clock.advance(RUN_READ_MAX_AGE_MS + 1);
    assert.deepEqual(await runs.view("strict", id), { id, app: "web", running: false, exitCode: 7 });
    await runs.logs("strict", id, { follow: true, write });
    assert.deepEqual(lines, ["seeded 10 rows with ***"]);
    await assert.rejects(runs.view("other", id), /not found/);
    await assert.rejects(runs.view("strict", "../x"), /run \.\.\/x not found/);
  });

  it("starts a group's runs one at a time: parallel starts launch no more than the group's limit", async () => {
    const runs = new RunAccess(store, new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider }));
    const app = store.get("App/strict/web") as App;
    const live = async () => (await taskInstances(s, "Run")).filter((t) => ["pending", "running"].includes(t.state));
    assert.equal((await live()).length, 0);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => runs.start(app, ["true"])));
    const started = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter((r) => r.status === "rejected" && /the most it may have/.test(String(r.reason)));
    assert.equal(started, MAX_RUNS_PER_GROUP);
    assert.equal(refused.length, 8 - MAX_RUNS_PER_GROUP);
    const launched = await live();
    assert.equal(launched.length, MAX_RUNS_PER_GROUP);
    await s.h.inspect.ec2.send(new TerminateInstancesCommand({ InstanceIds: launched.map((t) => t.id) }));
  });
});
