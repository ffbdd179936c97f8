import { strict as assert } from "node:assert";
import { AppController } from "../../src/controllers/app.js";
import type { Controller, ReconcileResult } from "../../src/controllers/controller.js";
import { GroupController } from "../../src/controllers/group.js";
import { Manager, type ManagerOptions } from "../../src/controllers/manager.js";
import { QuotaController } from "../../src/controllers/quota.js";
import { NotFoundError } from "../../src/errors.js";
import { isReadyAt, setCondition } from "../../src/resources/conditions.js";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Kind, Resource } from "../../src/resources/types.js";
import { type ListFilter, Store, type StoreEvent } from "../../src/store/store.js";
import type { FakeProvider } from "../../support/fake-provider.js";
import { fakeContext } from "../support/controller-context.js";
import { FakeClock } from "../support/fake-clock.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

/**
 * Issue 13 item 9: one tenant's big apply or cascade delete must cost the batch, not the group
 * times the batch. Counted, never timed: group listings, copied objects, durable writes.
 */

const at = { file: "m.yaml", line: 1, column: 1 };
const manifest = (object: Resource): LoadedManifest => ({ source: at, object });
const group = manifest({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: "big" },
  spec: { provider: "docker" },
});
const quota = manifest({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Quota",
  metadata: { name: "default", group: "big" },
  spec: { hard: { apps: 100_000 } },
});
const app = (name: string): LoadedManifest =>
  manifest({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: "big" },
    spec: { image: "busybox", replicas: 1 },
  });
const apps = (prefix: string, n: number): LoadedManifest[] =>
  Array.from({ length: n }, (_, i) => app(`${prefix}-${i}`));

/** Counts the store's listings (view, which list() goes through), those of a whole group, and the objects list() copied. */
function countReads(store: Store): { listings: number; wholeGroup: number; copied: number } {
  const counts = { listings: 0, wholeGroup: 0, copied: 0 };
  const view = store.view.bind(store);
  const list = store.list.bind(store);
  store.view = (filter?: ListFilter) => {
    counts.listings += 1;
    if (filter?.group !== undefined && filter.kind === undefined) counts.wholeGroup += 1;
    return view(filter);
  };
  store.list = (filter?: ListFilter) => {
    const copies = list(filter);
    counts.copied += copies.length;
    return copies;
  };
  return counts;
}

/** A controller that only records the keys it is given. */
class Recorder implements Controller {
  readonly keys: string[] = [];
  constructor(readonly kind: Kind) {}
  async reconcile(key: string): Promise<ReconcileResult> {
    this.keys.push(key);
    return {};
  }
}

/** Lets the manager's events, flushes and workers run until its queue is empty. */
async function settle(manager: Manager): Promise<void> {
  for (let turns = 0; turns < 100_000; turns++) {
    await new Promise((r) => setImmediate(r));
    if (manager.queue.busy === 0) {
      // One more turn: a flush of group-wide enqueues may be pending.
      await new Promise((r) => setImmediate(r));
      if (manager.queue.busy === 0) return;
    }
  }
  throw new Error("the queue did not drain");
}

function startManager(store: Store, options: ManagerOptions): { manager: Manager; provider: FakeProvider } {
  const { provider, ctx } = fakeContext(store);
  // The rate limit is not under test: lifted so that the fake clock need not move.
  const manager = new Manager(ctx, {
    clock: new FakeClock(Date.now()),
    resyncMs: 3_600_000,
    jitter: 0,
    queue: { qps: 1e9, burst: 1e9 },
    ...options,
  });
  manager.start();
  return { manager, provider };
}

describe("a big batch in a big group costs the batch (issue 13 item 9)", function () {
  this.timeout(60_000);
  let dir: string;
  let path: string;
  let store: Store;

  beforeEach(async () => {
    ({ dir, path, store } = await openTempStore("airloft-scale-", { groupCommitMs: 0 }));
  });
  afterEach(() => removeTempStore(store, dir));

  describe("the manager", () => {
    let manager: Manager;
    let recorders: Map<Kind, Recorder>;
    let reads: ReturnType<typeof countReads>;
    const reconciled = (kind: Kind): string[] => recorders.get(kind)?.keys ?? [];

    beforeEach(async () => {
      // A group of 10,000 objects (a quota and 9,999 apps), already reconciled once.
      await store.apply([group, quota, ...apps("old", 9_999)]);
      recorders = new Map((["Group", "Quota", "Service", "App"] as const).map((k) => [k, new Recorder(k)]));
      ({ manager } = startManager(store, { controllers: [...recorders.values()] }));
      await settle(manager);
      assert.equal(reconciled("App").length, 9_999);
      reads = countReads(store);
      for (const r of recorders.values()) r.keys.length = 0;
    });
    afterEach(() => manager.stop());

    it("lists the group's quotas once for an apply of 2,000 apps, not once per app, and copies nothing", async () => {
      await store.apply(apps("new", 2_000));
      await settle(manager);
      assert.ok(reads.listings <= 2, `an apply of 2,000 apps listed the group ${reads.listings} times`);
      assert.equal(reads.copied, 0, "objects copied to enqueue keys");
      assert.equal(reconciled("App").length, 2_000);
      assert.deepEqual(reconciled("Quota"), ["Quota/big/default"], "the quota recounts once");
    });

    it("requeues a group's objects when the group's readiness changes, not on every status write", async () => {
      const write = (ready: boolean, message: string): Promise<unknown> =>
        store.updateStatus("Group//big", (s) =>
          setCondition(
            s,
            { type: "Ready", status: ready ? "True" : "False", reason: ready ? "Converged" : "Progressing", message },
            1,
          ),
        );
      await write(true, "network up");
      await settle(manager);
      assert.equal(reconciled("App").length, 9_999, "every object once when the group becomes ready");
      for (const message of [
        "network up, 1 load balancer",
        "network up, 2 load balancers",
        "network up, 3 load balancers",
      ])
        await write(true, message);
      await settle(manager);
      assert.equal(reconciled("App").length, 9_999, "progress messages requeue nothing");
      await write(false, "engine unreachable");
      await write(false, "engine still unreachable");
      await settle(manager);
      assert.equal(reconciled("App").length, 2 * 9_999, "once more when it stops being ready");
      assert.ok(reads.listings <= 2, `the group's status writes listed it ${reads.listings} times`);
      assert.equal(reads.copied, 0);
    });
  });

  it("reconciles a quota, an app and the group without copying the group", async () => {
    await store.apply([group, quota, ...apps("old", 9_999)]);
    const { ctx } = fakeContext(store);
    await new GroupController(ctx).reconcile("Group//big");
    assert.ok(isReadyAt(store.get("Group//big") as Resource));
    const reads = countReads(store);
    await new QuotaController(ctx).reconcile("Quota/big/default");
    await new AppController(ctx).reconcile("App/big/old-7");
    await new GroupController(ctx).reconcile("Group//big");
    assert.equal(reads.copied, 0, "objects copied by three reconciles");
    assert.deepEqual((store.get("Quota/big/default")?.status as { used?: unknown }).used, { apps: 9_999 });
    assert.ok(isReadyAt(store.get("App/big/old-7") as Resource));
  });

  it("counts a group's usage for its apps once per change, not once per app's reconcile", async () => {
    await store.apply([group, quota, ...apps("old", 2_000)]);
    const { ctx } = fakeContext(store);
    await new GroupController(ctx).reconcile("Group//big");
    const reads = countReads(store);
    const controller = new AppController(ctx);
    for (let i = 0; i < 100; i++) await controller.reconcile(`App/big/old-${i}`);
    assert.equal(reads.wholeGroup, 1, "whole-group listings for 100 app reconciles");
    // One more app, then the quota lowered below use: the next reconcile counts again, and caps.
    await store.apply([app("late")]);
    await store.apply([manifest({ ...quota.object, spec: { hard: { apps: 2_000 } } } as Resource)]);
    await controller.reconcile("App/big/late");
    assert.equal(reads.wholeGroup, 2);
    assert.match(JSON.stringify(store.get("App/big/late")?.status), /QuotaExceeded.*apps 2001 exceeds 2000/);
  });

  it("marks a cascade of 1,000 objects in one durable write, then tells each", async () => {
    await store.apply([group, quota, ...apps("old", 999)]);
    const events: StoreEvent[] = [];
    store.events.on("change", (e: StoreEvent) => events.push(e));
    const writes = store.stats.writes;
    const changes = await store.markDeletedAll(["Group//big"], { cascade: true });
    assert.equal(store.stats.writes - writes, 1, "durable writes for the cascade");
    assert.equal(changes.length, 1_001);
    assert.ok(changes.every((c) => c.action === "deleted" && c.object.metadata.deletionTimestamp));
    assert.equal(changes.at(-1)?.key, "Group//big", "the group after what it owns");
    assert.equal(events.filter((e) => e.type === "deleting").length, 1_001);
    const reader = await Store.open(path, { write: false });
    assert.equal(reader.view().filter((o) => o.metadata.deletionTimestamp).length, 1_001, "all of it on disk");
  });

  it("marks nothing when one of the keys does not exist", async () => {
    await store.apply([group, ...apps("old", 3)]);
    const writes = store.stats.writes;
    await assert.rejects(store.markDeletedAll(["App/big/old-0", "App/big/nope"]), NotFoundError);
    assert.equal(store.stats.writes, writes);
    assert.equal(store.get("App/big/old-0")?.metadata.deletionTimestamp, undefined);
  });

  it("stops promptly after a cascade delete: a few durable writes, not one per object", async () => {
    await store.apply([group, ...apps("old", 300)]);
    const { manager } = startManager(store, {});
    await settle(manager);
    assert.ok(isReadyAt(store.get("App/big/old-0") as Resource));
    const writes = store.stats.writes;
    // As the server does on SIGTERM: the delete request finishes, then the loop stops.
    await store.markDeletedAll(["Group//big"], { cascade: true });
    await manager.stop();
    const made = store.stats.writes - writes;
    assert.ok(made <= 10, `a cascade of 301 objects and a stop made ${made} durable writes`);
  });
});
