import { strict as assert } from "node:assert";
import { Autoscaler, type ReplicaCpu } from "../../src/autoscale/autoscaler.js";
import { recommend } from "../../src/autoscale/hpa.js";
import { measure, measureMonitored } from "../../src/autoscale/measure.js";
import { createLogger } from "../../src/log.js";
import { scalingFigures, scalingQueries, targetGroupDimension } from "../../src/providers/aws/cloudwatch.js";
import type { InfraProvider, ScalingFigures } from "../../src/providers/types.js";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { App, AppStatus, AutoscaleSpec, ReplicaStatus, Resource } from "../../src/resources/types.js";
import { FINALIZER, Store } from "../../src/store/store.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const cpu50: AutoscaleSpec = { min: 1, max: 10, targetCPUUtilization: 50 };
const instance = (replica: number, ready: boolean, id = `c${replica}`): ReplicaStatus => ({
  replica,
  containerId: id,
  name: id,
  state: "running",
  ready,
  configHash: "h",
});
const appAt = (desired: number, instances: ReplicaStatus[], autoscale = cpu50): App => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: "web", group: "acme", uid: "u1" },
  spec: { image: "x", autoscale, resources: { cpu: "500m" } },
  status: { autoscale: { currentReplicas: desired, desiredReplicas: desired }, instances },
});

describe("autoscale: the HPA's rule for replicas without figures", () => {
  it("on a scale-up counts replicas without a figure as 0%: no step down while the ratio says up", () => {
    // One ready replica at 100% of a 50% target, three without a figure: alone it would say 2 (of 4).
    const m = { currentReplicas: 4, cpuUtilization: 100, cpuReplicas: 1, cpuMissing: 3 };
    assert.equal(recommend(cpu50, m), 4);
    assert.equal(recommend(cpu50, { ...m, cpuMissing: 0 }), 2, "without the rule the figure alone says 2");
    // Enough heat to go up even with the missing ones at 0%: 1 x 400% over 4 replicas is 100%.
    assert.equal(recommend(cpu50, { ...m, cpuUtilization: 400 }), 8);
  });

  it("on a scale-down counts replicas without a figure as 100% of the target", () => {
    // Two at 10%, two without a figure: (20 + 2 x 50) / 4 = 30% of 50% -> ceil(0.6 x 4) = 3, not 1.
    assert.equal(recommend(cpu50, { currentReplicas: 4, cpuUtilization: 10, cpuReplicas: 2, cpuMissing: 2 }), 3);
    // Nearly at target once the missing count as 100%: within the tolerance, nothing moves.
    assert.equal(recommend(cpu50, { currentReplicas: 10, cpuUtilization: 10, cpuReplicas: 1, cpuMissing: 9 }), 10);
  });

  it("counts not-yet-ready replicas as 0% on a scale-up, and leaves them out on a scale-down", () => {
    // 60% on the one ready replica says up (1.2); with the two starting ones at 0% it is 20%: hold at 3.
    assert.equal(recommend(cpu50, { currentReplicas: 3, cpuUtilization: 60, cpuReplicas: 1, cpuUnready: 2 }), 3);
    assert.equal(recommend(cpu50, { currentReplicas: 3, cpuUtilization: 60, cpuReplicas: 1 }), 2);
    // Going down, the starting replicas do not count: 2 x 10% -> ceil(0.4) = 1.
    assert.equal(recommend(cpu50, { currentReplicas: 4, cpuUtilization: 10, cpuReplicas: 2, cpuUnready: 2 }), 1);
  });

  it("sorts the replicas an app runs at into measured, without a figure and not ready", () => {
    const app = appAt(4, [instance(0, true), instance(1, true), instance(2, false), instance(9, true)]);
    const cpu: ReplicaCpu[] = [
      { uid: "u1", replica: "0", cpuCores: 0.25 },
      { uid: "u1", replica: "2", cpuCores: 0.5 },
      { uid: "u1", replica: "9", cpuCores: 5 },
    ];
    // Replica 3 is not there yet (not ready); 9 is on its way out (not counted at all).
    assert.deepEqual(measure(app, cpu, 2), {
      currentReplicas: 4,
      cpuUtilization: 50,
      cpuReplicas: 1,
      cpuMissing: 1,
      cpuUnready: 2,
      requestsPerSecond: 2,
    });
  });

  it("measures an AWS app from CloudWatch: CPU per instance, requests per target times the ready targets", () => {
    const app = appAt(3, [instance(0, true, "i-a"), instance(1, true, "i-b"), instance(2, false, "i-c")]);
    const figures: ScalingFigures = {
      cpuPercent: new Map([
        ["i-a", 80],
        ["i-c", 5],
      ]),
      requestsPerSecondPerReplica: 1.5,
    };
    assert.deepEqual(measureMonitored(app, figures), {
      currentReplicas: 3,
      cpuUtilization: 80,
      cpuReplicas: 1,
      cpuMissing: 1,
      cpuUnready: 1,
      requestsPerSecond: 3,
    });
  });
});

const at = { file: "m.yaml", line: 1, column: 1 };
const manifest = (object: Resource): LoadedManifest => ({ source: at, object });
const objects = (provider: "docker" | "aws", autoscale: AutoscaleSpec) => [
  manifest({ apiVersion: "airloft.dev/v1alpha1", kind: "Group", metadata: { name: "acme" }, spec: { provider } }),
  manifest({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme" },
    spec: { image: "x", autoscale, resources: { cpu: "500m" } },
  }),
];
const log = createLogger({ level: "error" });

/** Every wanted replica ready, as the app's reconcile would report them. */
async function allReady(store: Store, ids: (replica: number) => string = (r) => `c${r}`): Promise<App> {
  const key = "App/acme/web";
  const app = store.get(key) as App;
  const n = app.status?.autoscale?.desiredReplicas ?? 1;
  await store.updateStatus<AppStatus>(key, (s) => ({
    ...s,
    instances: Array.from({ length: n }, (_, r) => instance(r, true, ids(r))),
  }));
  return store.get(key) as App;
}

describe("autoscale: the stabilization window across a restart", () => {
  it("keeps the recommendations in the state file, so a restart inside the window does not scale down early", async () => {
    const spec = { ...cpu50, scaleDownStabilizationSeconds: 300 };
    const opened = await openTempStore("airloft-autoscale-", { groupCommitMs: 0 });
    let store = opened.store;
    const t0 = 1_000_000;
    let now = t0;
    const autoscaler = (s: Store) => new Autoscaler({ store: s, enqueue: () => undefined, log, now: () => now });
    try {
      await store.apply(objects("docker", spec));
      let app = await allReady(store);
      // 1 core on a 0.5 core limit: 200% of a 50% target -> 4 replicas.
      await autoscaler(store).pass([{ uid: app.metadata.uid ?? "", replica: "0", cpuCores: 1 }], () => undefined);
      assert.equal((store.get("App/acme/web") as App).status?.autoscale?.desiredReplicas, 4);

      await store.close();
      store = await Store.open(opened.path, { write: true, command: "test", groupCommitMs: 0 });
      app = await allReady(store);
      const idle = [0, 1, 2, 3].map((r) => ({ uid: app.metadata.uid ?? "", replica: String(r), cpuCores: 0.01 }));
      now = t0 + 60_000;
      await autoscaler(store).pass(idle, () => undefined);
      const held = store.get("App/acme/web") as App;
      assert.equal(held.status?.autoscale?.desiredReplicas, 4, "a minute into a 5-minute window: still 4");

      now = t0 + 301_000;
      await autoscaler(store).pass(idle, () => undefined);
      assert.equal((store.get("App/acme/web") as App).status?.autoscale?.desiredReplicas, 1, "after the window");
    } finally {
      await removeTempStore(store, opened.dir);
    }
  });

  it("keeps one or two recommendations for a steady app, and forgets a deleted app's", async () => {
    const { dir, store } = await openTempStore("airloft-autoscale-", { groupCommitMs: 0 });
    let now = 0;
    const scaler = new Autoscaler({ store, enqueue: () => undefined, log, now: () => now });
    try {
      await store.apply(objects("docker", cpu50));
      const app = await allReady(store);
      const uid = app.metadata.uid ?? "";
      for (let pass = 0; pass < 30; pass++, now += 15_000)
        await scaler.pass([{ uid, replica: "0", cpuCores: 0.25 }], () => undefined);
      assert.ok((store.stateMap("autoscale").get(uid) as unknown[]).length <= 2);
      await store.markDeleted("App/acme/web");
      await store.removeFinalizer("App/acme/web", FINALIZER);
      await scaler.pass([], () => undefined);
      assert.deepEqual(store.stateMap("autoscale").keys(), []);
    } finally {
      await removeTempStore(store, dir);
    }
  });
});

describe("autoscale: which apps a pass looks at", () => {
  it("scales an app once a spec change adds autoscale, and leaves it once autoscale is taken out", async () => {
    const { dir, store } = await openTempStore("airloft-autoscale-", { groupCommitMs: 0 });
    const scaler = new Autoscaler({ store, enqueue: () => undefined, log, now: () => 1_000_000 });
    const [group, autoscaled] = objects("docker", cpu50) as [LoadedManifest, LoadedManifest];
    const plain = (replicas: number): LoadedManifest =>
      manifest({ ...autoscaled.object, spec: { image: "x", replicas, resources: { cpu: "500m" } } } as Resource);
    const busy = async () => {
      const app = await allReady(store);
      await scaler.pass([{ uid: app.metadata.uid ?? "", replica: "0", cpuCores: 1 }], () => undefined);
      return (store.get("App/acme/web") as App).status?.autoscale?.desiredReplicas;
    };
    try {
      await store.apply([group, plain(1)]);
      assert.equal(await busy(), undefined, "no autoscale: no decision");
      await store.apply([autoscaled]);
      assert.equal(await busy(), 4, "autoscale added by a spec change: 1 core on 0.5 at a 50% target");
      await store.apply([plain(2)]);
      await store.updateStatus<AppStatus>("App/acme/web", (s) => {
        const { autoscale: _, ...rest } = s;
        return rest;
      });
      assert.equal(await busy(), undefined, "autoscale taken out: no decision any more");
    } finally {
      await removeTempStore(store, dir);
    }
  });
});

/** The project's own provider interface with CloudWatch's answer given by the test. */
class MonitoredProvider extends FakeProvider {
  figures: ReadonlyMap<string, ScalingFigures> = new Map();
  reads = 0;
  async scalingFigures(): Promise<ReadonlyMap<string, ScalingFigures>> {
    this.reads++;
    if (this.failWith) throw this.failWith;
    return this.figures;
  }
}

describe("autoscale on an AWS group: figures from the provider's monitoring", () => {
  it("scales on CloudWatch's figures in one read per group, says why when the read fails, and retries with backoff", async () => {
    const { dir, store } = await openTempStore("airloft-autoscale-", { groupCommitMs: 0 });
    const provider = new MonitoredProvider();
    const enqueued: string[] = [];
    let now = 0;
    const scaler = new Autoscaler({
      store,
      enqueue: (k) => enqueued.push(k),
      log,
      providers: { for: async () => provider as InfraProvider },
      now: () => now,
    });
    try {
      await store.apply(objects("aws", cpu50));
      const app = await allReady(store, (r) => `i-${r}`);
      provider.figures = new Map([[app.metadata.uid ?? "", { cpuPercent: new Map([["i-0", 90]]) }]]);
      await scaler.pass([], () => undefined);
      assert.equal(provider.reads, 1);
      assert.equal((store.get("App/acme/web") as App).status?.autoscale?.desiredReplicas, 2);
      assert.deepEqual(enqueued, ["App/acme/web"]);

      provider.failWith = new Error("ThrottlingException: Rate exceeded");
      await scaler.pass([], () => undefined);
      const failed = store.get("App/acme/web") as App;
      assert.equal(failed.status?.autoscale?.desiredReplicas, 2, "a failed read scales nothing");
      const active = failed.status?.conditions?.find((c) => c.type === "ScalingActive");
      assert.deepEqual([active?.status, active?.reason], ["False", "FailedGetMetrics"]);
      assert.match(active?.message ?? "", /Rate exceeded; trying again in 15 s/);
      // Backing off: the next passes do not ask until the wait is over, then it doubles.
      now += 10_000;
      await scaler.pass([], () => undefined);
      assert.equal(provider.reads, 2);
      now += 6_000;
      await scaler.pass([], () => undefined);
      assert.equal(provider.reads, 3);
      const again = (store.get("App/acme/web") as App).status?.conditions?.find((c) => c.type === "ScalingActive");
      assert.match(again?.message ?? "", /trying again in 30 s/);

      provider.failWith = undefined;
      now += 31_000;
      await scaler.pass([], () => undefined);
      assert.equal(provider.reads, 4);
      const back = (store.get("App/acme/web") as App).status?.conditions?.find((c) => c.type === "ScalingActive");
      assert.equal(back?.status, "True");
    } finally {
      await removeTempStore(store, dir);
    }
  });
});

describe("autoscale: a monitoring read that never answers", () => {
  it("ends the pass at its time limit, scales nothing, and says why", async () => {
    const { dir, store } = await openTempStore("airloft-autoscale-", { groupCommitMs: 0 });
    const provider = new MonitoredProvider();
    provider.scalingFigures = () => new Promise(() => undefined);
    const scaler = new Autoscaler({
      store,
      enqueue: () => undefined,
      log,
      providers: { for: async () => provider as InfraProvider },
      monitorTimeoutMs: 100,
    });
    try {
      await store.apply(objects("aws", cpu50));
      await allReady(store, (r) => `i-${r}`);
      await scaler.pass([], () => undefined);
      const active = (store.get("App/acme/web") as App).status?.conditions?.find((c) => c.type === "ScalingActive");
      assert.deepEqual([active?.status, active?.reason], ["False", "FailedGetMetrics"]);
      assert.match(active?.message ?? "", /no answer in/);
    } finally {
      await removeTempStore(store, dir);
    }
  });
});

describe("autoscale on AWS: CloudWatch's queries and answers (pure)", () => {
  const targets = [
    { uid: "u1", instanceIds: ["i-a", "i-b"], targetGroup: "targetgroup/al1-x/abc" },
    { uid: "u2", instanceIds: ["i-c"], targetGroup: undefined },
  ];

  it("asks each instance's CPUUtilization and each target group's RequestCountPerTarget, with ids free of user text", () => {
    const queries = scalingQueries(targets);
    assert.deepEqual(
      queries.map((q) => [
        q.Id,
        q.MetricStat?.Metric?.MetricName,
        q.MetricStat?.Metric?.Dimensions?.[0]?.Value,
        q.MetricStat?.Stat,
      ]),
      [
        ["c0_0", "CPUUtilization", "i-a", "Average"],
        ["c0_1", "CPUUtilization", "i-b", "Average"],
        ["r0", "RequestCountPerTarget", "targetgroup/al1-x/abc", "Sum"],
        ["c1_0", "CPUUtilization", "i-c", "Average"],
      ],
    );
    assert.equal(
      targetGroupDimension("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/al1-x/abc"),
      "targetgroup/al1-x/abc",
    );
    assert.equal(targetGroupDimension("not-an-arn"), undefined);
  });

  it("takes the newest datapoint of each, whatever the order; no datapoint, no figure", () => {
    const t = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m));
    const figures = scalingFigures(targets, [
      { Id: "c0_0", Timestamps: [t(1), t(3), t(2)], Values: [10, 70, 30] },
      { Id: "c0_1", Timestamps: [], Values: [] },
      { Id: "r0", Timestamps: [t(3)], Values: [600] },
    ]);
    assert.deepEqual([...(figures.get("u1")?.cpuPercent ?? [])], [["i-a", 70]]);
    assert.equal(figures.get("u1")?.requestsPerSecondPerReplica, 10);
    assert.deepEqual(figures.get("u2"), { cpuPercent: new Map() });
  });
});
