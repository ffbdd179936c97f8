import { strict as assert } from "node:assert";
import { AwsGroupRuns } from "../../src/jobs/aws-group-runs.js";
import { syncAwsJobs } from "../../src/jobs/aws-runs.js";
import type { ObservedRun, RunRequest } from "../../src/jobs/docker-runs.js";
import { RUN_LABEL } from "../../src/jobs/docker-runs.js";
import { syncAppJobs } from "../../src/jobs/job-sync.js";
import type { RunBackend, RunEnd } from "../../src/jobs/run-backend.js";
import type { TaskInstances } from "../../src/providers/aws/task-types.js";
import type { ObservedTask } from "../../src/providers/aws/tasks.js";
import { objectKey } from "../../src/resources/kinds.js";
import type { App, Group } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { appObject, dueMinute, groupObject, manifest, quotaObject } from "../support/manifests.js";
import { useTempStore } from "../support/temp-store.js";

/** A backend of the job sync's own interface, recording what it is asked (no engine, no AWS). */
class RecordingBackend implements RunBackend {
  readonly started: RunRequest[] = [];
  readonly killed: string[] = [];
  readonly removed: string[] = [];
  readonly ends = new Map<string, RunEnd>();
  async start(request: RunRequest) {
    this.started.push(request);
    return {};
  }
  async result(run: ObservedRun) {
    return this.ends.get(run.id);
  }
  async kill(run: ObservedRun) {
    this.killed.push(run.id);
  }
  async remove(run: ObservedRun) {
    this.removed.push(run.id);
  }
}

/** Task instances of the project's own TaskInstances interface: `listed` is every listing's answer; launches are recorded. */
function awsSite(listed: readonly ObservedTask[]) {
  const started: unknown[] = [];
  const listings: unknown[] = [];
  const tasks = {
    list: async (_group: Group, match: { kind: unknown }) => {
      listings.push(match.kind);
      return listed;
    },
    start: async (...request: unknown[]) => {
      started.push(request);
      return `i-new-${started.length}`;
    },
  } as unknown as TaskInstances;
  return { started, listings, site: { tasks, runs: new AwsGroupRuns(tasks) } };
}

/** The job sync over any run backend (src/jobs/job-sync.ts, run-backend.ts): what Docker and AWS share. */
describe("job sync through a run backend", () => {
  let store: Store;
  let app: App;
  let created: number;

  useTempStore("airloft-job-sync-", async (opened) => {
    store = opened;
    const job = {
      name: "report",
      schedule: "* * * * *",
      command: ["./r"],
      concurrencyPolicy: "Forbid" as const,
      timeoutSeconds: 30,
      historyLimit: 1,
    };
    await store.apply([
      manifest(groupObject("acme", "aws")),
      manifest(appObject("acme", "web", { image: "example/web:1", jobs: [job] })),
    ]);
    app = store.get("App/acme/web") as App;
    created = Date.parse(app.metadata.creationTimestamp ?? "");
  });

  const minute = (n: number) => dueMinute(created, n);
  const run = (n: number, running: boolean): ObservedRun => ({
    id: `i-${n}`,
    name: `i-${n}`,
    runId: `report-${minute(n) / 1000}`,
    group: "acme",
    app: "web",
    uid: app.metadata.uid ?? "",
    job: "report",
    scheduleTime: new Date(minute(n)).toISOString(),
    running,
    createdAt: minute(n),
  });
  const sync = (backend: RunBackend, runs: ObservedRun[], now: number) =>
    syncAppJobs({ store, app: store.get("App/acme/web") as App, backend, runs, now: new Date(now) });
  const status = () => (store.get("App/acme/web") as App).status?.jobs?.report;

  it("starts the due run with its schedule time, skips under Forbid, kills past the timeout, records the end", async () => {
    const backend = new RecordingBackend();
    await sync(backend, [], minute(0) + 1_000);
    assert.deepEqual(
      backend.started.map((r) => [r.runId, r.job, r.scheduleTime?.getTime()]),
      [[`report-${minute(0) / 1000}`, "report", minute(0)]],
    );
    // Still running past 30 s at the next minute: killed, and the next run is not skipped by Forbid once it is.
    await sync(backend, [run(0, true)], minute(1) + 1_000);
    assert.deepEqual(backend.killed, ["i-0"]);
    assert.equal(status()?.runs?.find((r) => r.name === run(0, true).runId)?.reason, "DeadlineExceeded");

    backend.ends.set("i-0", { exitCode: -1, startedAt: "s", finishedAt: "f", lastLines: ["killed"] });
    await sync(backend, [run(0, false), run(1, true)], minute(1) + 5_000);
    const record = status()?.runs?.find((r) => r.name === run(0, false).runId);
    assert.deepEqual([record?.exitCode, record?.lastLines, record?.endTime], [-1, ["killed"], "f"]);
    assert.ok(store.eventsOf(app).some((e) => e.reason === "JobFailed"));
  });

  it("on AWS, counts the group's one-off runs against the quota before a job's run starts", async () => {
    await store.apply([
      manifest(appObject("acme", "other", { image: "example/o:1" })),
      manifest(quotaObject("acme", "q", { replicas: 3 })),
    ]);
    const other = store.get("App/acme/other") as App;
    // Two apps of one replica, and a one-off run of the other app: a job run would make four.
    const oneOff: ObservedTask = {
      instanceId: "i-9",
      taskId: "t9",
      state: "running",
      launchTime: created,
      owner: {
        instance: "x",
        group: "acme",
        kind: "Run",
        name: "other",
        uid: other.metadata.uid ?? "",
        configHash: undefined,
        replica: undefined,
      },
      tags: { [RUN_LABEL]: "0123456789ab" },
    };
    const { started, site } = awsSite([oneOff]);
    const group = store.get(objectKey("Group", "", "acme")) as Group;
    const pass = await site.runs.pass(group, { maxAgeMs: 0, now: minute(0) + 1_000 });
    await syncAwsJobs(store, store.get("App/acme/web") as App, group, site, pass, minute(0) + 1_000);
    assert.deepEqual(started, []);
    assert.ok(store.eventsOf(app).some((e) => e.reason === "QuotaExceeded"));
  });

  it("on AWS, one listing per group per pass: a run launched for the first app counts in the second app's quota check", async () => {
    const job = { name: "report", schedule: "* * * * *", command: ["./r"] };
    await store.apply([
      manifest(appObject("acme", "other", { image: "example/o:1", jobs: [job] })),
      // Two apps of one replica: room for one run, not two.
      manifest(quotaObject("acme", "q", { replicas: 3 })),
    ]);
    const { started, listings, site } = awsSite([]);
    const group = store.get(objectKey("Group", "", "acme")) as Group;
    const now = minute(1) + 1_000;
    const pass = await site.runs.pass(group, { maxAgeMs: 0, now });
    for (const name of ["web", "other"])
      await syncAwsJobs(store, store.get(`App/acme/${name}`) as App, group, site, pass, now);
    assert.equal(started.length, 1, "the second app saw the first one's launch");
    assert.equal(listings.length, 1, "one listing for the pass, of both kinds");
    assert.deepEqual(listings[0], ["Run", "Job"]);
    const other = store.get("App/acme/other") as App;
    assert.ok(store.eventsOf(other).some((e) => e.reason === "QuotaExceeded"));
    // A one-off start right after counts the job's launch too (one counter), with no new listing.
    assert.equal((await site.runs.running(group, { maxAgeMs: 60_000, now })).length, 1);
  });

  it("removes ended runs beyond the history limit through the backend, never a running one", async () => {
    const backend = new RecordingBackend();
    for (const n of [0, 1])
      backend.ends.set(`i-${n}`, { exitCode: 0, startedAt: "s", finishedAt: `f${n}`, lastLines: [] });
    await sync(backend, [run(0, false), run(1, false), run(2, true)], minute(2) + 1_000);
    assert.deepEqual(backend.removed, ["i-0"]);
    assert.deepEqual(
      status()?.runs?.map((r) => r.endTime),
      ["f1"],
      "the newest ended run is kept, the older one's record goes",
    );
  });
});
