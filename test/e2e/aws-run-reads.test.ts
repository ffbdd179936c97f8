import { strict as assert } from "node:assert";
import { TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { startEmbedded } from "../../src/cli/embedded.js";
import { createProgress } from "../../src/controllers/context.js";
import { QuotaController, type QuotaStatus } from "../../src/controllers/quota.js";
import { groupRunsOf, RUN_READ_MAX_AGE_MS } from "../../src/jobs/aws-group-runs.js";
import { RunRefused } from "../../src/jobs/one-off.js";
import { RunAccess } from "../../src/jobs/run-access.js";
import { engineRuns } from "../../src/jobs/running-runs.js";
import { JobScheduler } from "../../src/jobs/scheduler.js";
import { createLogger } from "../../src/log.js";
import { AwsProvider } from "../../src/providers/aws/provider.js";
import { TASK_TAG } from "../../src/providers/aws/tasks.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { setCondition } from "../../src/resources/conditions.js";
import { objectKey } from "../../src/resources/kinds.js";
import type { App, AppSpec, Group, Resource } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { FakeClock } from "../support/fake-clock.js";
import { appObject, manifest, quotaObject } from "../support/manifests.js";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const FAST = { perSecond: 1000, burst: 1000 };
const ready = { type: "Ready", status: "True", reason: "Converged", message: "" } as const;

/**
 * Reading runs on AWS costs EC2 calls by the time that passes, not by how often a tenant asks
 * (src/jobs/aws-group-runs.ts): one listing of the group's runs shared by every reader, ended
 * runs' console read once. Counted through the strict proxy on moto.
 */
describe("AWS run reads: bounded EC2 calls, prompt ends, runs in the quota (strict endpoint)", function () {
  this.timeout(240_000);
  const s = useStrictGroup();
  let store: Store;
  let dir: string;

  beforeEach(async () => {
    ({ store, dir } = await openTempStore("airloft-aws-run-reads-", { groupCommitMs: 0 }));
    const spec: AppSpec = { ...webSpec(1), env: { API_KEY: "key-0123456789" } };
    await store.apply([
      manifest({ ...s.h.group } as Resource),
      manifest({ apiVersion: "airloft.dev/v1alpha1", kind: "App", metadata: { name: "web", group: "strict" }, spec }),
      manifest({
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Quota",
        metadata: { name: "q", group: "strict" },
        spec: { hard: { replicas: 10 } },
      }),
    ]);
    s.h.group = store.get(objectKey("Group", "", "strict")) as Group;
    await s.h.reconcileGroup();
    await store.updateStatus(objectKey("Group", "", "strict"), () =>
      setCondition({ ...s.h.group.status }, ready, s.h.group.metadata.generation ?? 1),
    );
  });
  afterEach(() => removeTempStore(store, dir));

  const app = () => store.get("App/strict/web") as App;
  const ec2Calls = () => s.h.calls(/^ec2:/);
  /** The instance's part at its end: its console, then its own poweroff. */
  const finish = async (runId: string, code: number) => {
    const [task] = await s.h.inspect.instances([{ Name: "tag:airloft.dev/run", Values: [runId] }]);
    assert.ok(task);
    const taskId = task.tags[TASK_TAG] ?? "";
    const lines = [`airloft-task ${taskId} begin`, "seeded", `airloft-task ${taskId} exit=${code}`];
    s.aws.proxy.consoleOutputs.set(task.id, lines.join("\n"));
    await s.h.inspect.ec2.send(new TerminateInstancesCommand({ InstanceIds: [task.id] }));
  };

  it("a tenant polling a run 200 times makes at most a listing and a console read; its end shows once the listing is older than a read takes", async () => {
    const clock = new FakeClock(Date.now());
    const registry = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const runs = new RunAccess(store, registry, { now: () => clock.now() });
    const id = await runs.start(app(), ["rake", "db:seed"]);
    const write = () => undefined;

    const before = ec2Calls();
    for (let i = 0; i < 200; i++) {
      assert.equal((await runs.view("strict", id, "tenant")).running, true);
      if (i % 10 === 0) await runs.logs("strict", id, { follow: false, write }, "tenant");
    }
    const whileRunning = ec2Calls() - before;
    assert.ok(whileRunning <= 1, `${whileRunning} EC2 calls for 200 reads of a running run`);

    await finish(id, 7);
    clock.advance(RUN_READ_MAX_AGE_MS + 1);
    const ended = ec2Calls();
    assert.deepEqual(await runs.view("strict", id, "tenant"), { id, app: "web", running: false, exitCode: 7 });
    for (let i = 0; i < 200; i++) {
      assert.equal((await runs.view("strict", id, "tenant")).exitCode, 7);
      if (i % 10 === 0) await runs.logs("strict", id, { follow: false, write }, "tenant");
    }
    const afterEnd = ec2Calls() - ended;
    assert.ok(afterEnd <= 2, `${afterEnd} EC2 calls (a listing, a console read) for 200 reads of an ended run`);
    process.stdout.write(`      EC2 calls: ${whileRunning} for 200 reads while running, ${afterEnd} after its end\n`);
  });

  it("a reader past its account's budget of EC2 reads gets a 429 with a wait; another account reads on", async () => {
    const clock = new FakeClock(Date.now());
    const registry = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const runs = new RunAccess(store, registry, { now: () => clock.now() });
    const id = await runs.start(app(), ["sleep", "600"]);
    // Each launch or terminate by this process makes the next read list again: ten of them use the burst.
    const relist = () => groupRunsOf(s.h.provider.tasks).changed(s.h.group);
    for (let i = 0; i < 10; i++) {
      relist();
      await runs.view("strict", id, "hostile");
    }
    relist();
    await assert.rejects(runs.view("strict", id, "hostile"), (err: unknown) => {
      assert.ok(err instanceof RunRefused);
      assert.equal(err.status, 429);
      assert.ok(
        err.retryAfterMs !== undefined && err.retryAfterMs > 0 && err.retryAfterMs <= 2_000,
        String(err.retryAfterMs),
      );
      return true;
    });
    assert.equal((await runs.view("strict", id, "neighbour")).running, true);
    clock.advance(2_000);
    relist();
    assert.equal((await runs.view("strict", id, "hostile")).running, true, "served again once its wait passed");
  });

  it("200 parallel reads of a run do not hold another group's reconcile behind them on the shared EC2 rate", async () => {
    const fast = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const id = await new RunAccess(store, fast).start(app(), ["sleep", "600"]);
    // One EC2 call a second after a burst of 40: 200 reads that each called EC2 would hold the
    // other group's calls for minutes.
    const slow = new AwsProvider({
      instanceId: s.h.instanceId,
      env: s.aws.env,
      rates: { ec2: { perSecond: 1, burst: 40 }, elbv2: FAST, route53: FAST, ssm: FAST },
    });
    const runs = new RunAccess(store, new ProviderRegistry({ instanceId: s.h.instanceId, aws: slow }));
    const before = ec2Calls();
    const reads = Promise.all(Array.from({ length: 200 }, () => runs.view("strict", id, "tenant")));
    const other: Group = {
      ...s.h.group,
      metadata: { name: "other", uid: "other-uid", generation: 1 },
      spec: { provider: "aws", aws: { region: "us-east-1", vpc: { id: "default" }, domain: "other.example.com" } },
      status: {},
    };
    const held = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the other group's reconcile was held behind the reads")), 60_000).unref(),
    );
    const reconcile = (async () => {
      let status = await slow.reconcileGroup(other);
      for (let pass = 0; pass < 3 && !status.aws?.loadBalancer; pass++)
        status = await slow.reconcileGroup({ ...other, status: { ...other.status, ...status } });
      return status;
    })();
    const status = await Promise.race([reconcile, held]);
    assert.ok(status.aws?.loadBalancer, "the other group's network converged");
    assert.ok((await reads).every((r) => r.running));
    const reconcileOnly = ec2Calls() - before;
    process.stdout.write(`      EC2 calls: ${reconcileOnly} for the other group's reconcile and the 200 reads\n`);
    await slow.finalizeGroup(other).catch(() => undefined);
  });

  it("a job pass lists the group's runs once for all its apps, and the second app's quota check counts the first one's launch", async () => {
    // Two apps of one replica with a job each, and room for one run only.
    const job = { name: "report", schedule: "* * * * *", command: ["./report"] };
    await store.apply([
      manifest(appObject("strict", "web", { ...webSpec(1), jobs: [job] })),
      manifest(appObject("strict", "api", { ...webSpec(1), jobs: [job] })),
      manifest(quotaObject("strict", "q", { replicas: 3 })),
    ]);
    const created = Math.max(
      ...["web", "api"].map((n) => Date.parse(store.get(`App/strict/${n}`)?.metadata.creationTimestamp ?? "")),
    );
    const clock = new FakeClock(Math.ceil((created + 1) / 60_000) * 60_000 + 65_000);
    const providers = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const ctx = { store, providers, log: createLogger({ level: "error" }), progress: createProgress() };
    const describes = () => s.h.calls(/^ec2:DescribeInstances$/);
    const before = describes();
    await new JobScheduler(ctx, { clock }).tick();
    const listings = describes() - before;
    assert.equal(listings, 1, "one DescribeInstances for the group's pass (and its sweep)");
    const launched = await s.h.inspect.instances([{ Name: "tag:airloft.dev/kind", Values: ["Job"] }]);
    assert.equal(launched.length, 1, "the second app's quota check counted the first one's launch");
    const skipped = ["web", "api"].filter((n) =>
      store.eventsOf(store.get(`App/strict/${n}`) as App).some((e) => e.reason === "QuotaExceeded"),
    );
    assert.equal(skipped.length, 1);
    process.stdout.write(`      EC2 DescribeInstances for a job pass over 2 apps: ${listings}\n`);
  });

  it("AWS runs count in the quota's status.used, and a one-off start recounts it at once", async () => {
    const providers = new ProviderRegistry({ instanceId: s.h.instanceId, aws: s.h.provider });
    const log = createLogger({ level: "error" });
    const ctx = { store, providers, log, progress: createProgress(), runs: engineRuns(providers) };
    // Only the quota's controller, and a resync an hour away: only the start can recount it.
    const loop = startEmbedded(
      store,
      log,
      () => undefined,
      { controllers: [new QuotaController(ctx)], resyncMs: 3_600_000 },
      providers,
    );
    const status = () => store.get("Quota/strict/q")?.status as QuotaStatus | undefined;
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(ok(), `${what}: ${JSON.stringify(status())}`);
    };
    try {
      await until("first count", () => status()?.used?.replicas === 1);
      const runs = new RunAccess(store, providers);
      const id = await runs.start(app(), ["sleep", "600"]);
      await until("counted after the start", () => status()?.runs === 1 && status()?.used?.replicas === 2);
      // Its end: the quota looks again every 2 s while runs run, on a listing at most 15 s old.
      await finish(id, 0);
      await until("dropped after its end", () => status()?.runs === 0 && status()?.used?.replicas === 1);
    } finally {
      await loop.stop();
    }
  });
});
