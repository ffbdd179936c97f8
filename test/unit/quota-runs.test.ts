import { strict as assert } from "node:assert";
import { GroupController } from "../../src/controllers/group.js";
import { QUOTA_WATCHES, QuotaController, type QuotaStatus } from "../../src/controllers/quota.js";
import { WatchRouter } from "../../src/controllers/watch-router.js";
import { loadTexts } from "../../src/resources/loader.js";
import type { AppStatus } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { fakeContext } from "../support/controller-context.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const MANIFESTS = `
{apiVersion: airloft.dev/v1alpha1, kind: Group, metadata: {name: acme}, spec: {provider: docker}}
---
apiVersion: airloft.dev/v1alpha1
kind: Quota
metadata: {name: default, group: acme}
spec: {hard: {replicas: 10, cpu: "4", memory: 4Gi}}
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata: {name: web, group: acme}
spec: {image: busybox, replicas: 2, resources: {cpu: 500m, memory: 256Mi}}
`;

/** Runs (jobs' and one-offs') count in a Quota's status.used while they run, as replicas of their app. */
describe("quota: running runs in status.used", () => {
  let dir: string;
  let store: Store;
  let running: Array<{ uid: string }>;
  let quota: QuotaController;
  const status = () => store.get("Quota/acme/default")?.status as QuotaStatus;

  beforeEach(async () => {
    ({ dir, store } = await openTempStore("airloft-quota-runs-", { groupCommitMs: 0 }));
    await store.apply(loadTexts([{ name: "m.yaml", content: MANIFESTS, baseDir: "." }]));
    running = [];
    const { ctx } = fakeContext(store);
    await new GroupController(ctx).reconcile("Group//acme");
    quota = new QuotaController({ ...ctx, runs: { running: async () => running } });
  });
  afterEach(() => removeTempStore(store, dir));

  it("rises while a run runs, drops after, and looks again while any runs", async () => {
    await quota.reconcile("Quota/acme/default");
    assert.deepEqual(status().used, { replicas: 2, cpu: 1, memory: 512 * 2 ** 20 });
    assert.equal(status().runs, 0);
    const uid = store.get("App/acme/web")?.metadata.uid ?? "";
    running = [{ uid }, { uid: "a-deleted-app" }];
    const result = await quota.reconcile("Quota/acme/default");
    assert.deepEqual(status().used, { replicas: 3, cpu: 1.5, memory: 768 * 2 ** 20 });
    assert.equal(status().runs, 1, "a run of an app that is gone counts nothing");
    assert.ok(result.requeueAfterMs !== undefined && result.requeueAfterMs <= 2000, "looks again while it runs");
    assert.match(JSON.stringify(status().conditions), /replicas 3\/10.*\(1 run running\)/);
    running = [];
    await quota.reconcile("Quota/acme/default");
    assert.deepEqual(status().used, { replicas: 2, cpu: 1, memory: 512 * 2 ** 20 });
  });

  it("is looked at again when an app's job runs start or end, not on its other status writes", async () => {
    const requeued: string[] = [];
    const router = new WatchRouter([QUOTA_WATCHES], store, (key) => requeued.push(key));
    store.events.on("change", (e) => router.handle(e));
    const settle = () => new Promise((r) => setImmediate(r));
    const jobs = (active: string[]) => ({ nightly: { active, runs: [] } });
    await store.updateStatus<AppStatus>("App/acme/web", (s) => ({ ...s, jobs: jobs(["run-1"]) }));
    await settle();
    assert.deepEqual(requeued, ["Quota/acme/default"]);
    await store.updateStatus<AppStatus>("App/acme/web", (s) => ({ ...s, readyReplicas: 2 }));
    await settle();
    assert.equal(requeued.length, 1, "another status write");
    await store.updateStatus<AppStatus>("App/acme/web", (s) => ({ ...s, jobs: jobs([]) }));
    await settle();
    assert.equal(requeued.length, 2);
    router.stop();
  });
});
