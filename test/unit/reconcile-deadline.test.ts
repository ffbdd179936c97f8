import { strict as assert } from "node:assert";
import { AppController } from "../../src/controllers/app.js";
import { GroupController } from "../../src/controllers/group.js";
import { Manager } from "../../src/controllers/manager.js";
import { ProviderUnavailableError } from "../../src/errors.js";
import { getCondition } from "../../src/resources/conditions.js";
import { objectKey } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import { fakeContext } from "../support/controller-context.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const at = { file: "m.yaml", line: 1, column: 1 };
const group: Resource = {
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: "acme" },
  spec: { provider: "docker" },
};
const app: Resource = {
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: "web", group: "acme" },
  spec: { image: "busybox" },
};

/** A store with a ready group and its app, a fake provider, and the controllers' context. */
async function setUp(reconcileDeadlineMs?: number) {
  const { dir, store } = await openTempStore("airloft-cancel-", { groupCommitMs: 0 });
  const { provider, ctx: base } = fakeContext(store);
  const ctx = { ...base, ...(reconcileDeadlineMs === undefined ? {} : { reconcileDeadlineMs }) };
  await store.apply([group, app].map((object) => ({ source: at, object })));
  await new GroupController(ctx).reconcile(objectKey("Group", "", "acme"));
  return { dir, store, provider, ctx };
}

describe("reconcile deadline", () => {
  it("hands the provider a signal that aborts at the deadline; the object says why and the error is retried", async () => {
    const { dir, store, provider, ctx } = await setUp(30);
    try {
      provider.latencyMs = 200;
      const key = objectKey("App", "acme", "web");
      await assert.rejects(
        new AppController(ctx).reconcile(key),
        (err) => err instanceof ProviderUnavailableError && err.reason === "DeadlineExceeded",
      );
      const ready = getCondition(store.get(key)?.status, "Ready");
      assert.equal(ready?.reason, "DeadlineExceeded");
      assert.match(ready?.message ?? "", /deadline of 0\.03 s/);
      provider.latencyMs = 0;
      await new AppController(ctx).reconcile(key);
      assert.equal(getCondition(store.get(key)?.status, "Ready")?.status, "True");
    } finally {
      await removeTempStore(store, dir);
    }
  });
});

describe("cancelled reconciles (issue 14)", () => {
  const deps = async () => {
    const { dir, store, provider, ctx } = await setUp();
    return { dir, store, provider, manager: new Manager(ctx, { resyncMs: 3_600_000 }) };
  };
  const key = objectKey("App", "acme", "web");

  it("stop() cancels an in-flight reconcile at the provider's next step, and records no failure", async () => {
    const { dir, store, provider, manager } = await deps();
    try {
      provider.latencyMs = 60_000; // a provider call that would hold stop() for a minute
      manager.start();
      while (!provider.calls.includes("app web")) await new Promise((r) => setTimeout(r, 10));
      await manager.stop();
      assert.equal(getCondition(store.get(key)?.status, "Ready")?.reason, undefined, "a cancel is not a failure");
    } finally {
      await removeTempStore(store, dir);
    }
  });

  it("a deletion cancels the object's in-flight reconcile, and its deletion runs at once", async () => {
    const { dir, store, provider, manager } = await deps();
    try {
      provider.latencyMs = 60_000;
      manager.start();
      // The app's provider call is under way, for a minute.
      while (!provider.calls.includes("app web")) await new Promise((r) => setTimeout(r, 10));
      provider.latencyMs = 0;
      await store.markDeleted(key);
      const deadline = Date.now() + 20_000;
      while (store.get(key) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(store.get(key), undefined, "the app is gone without waiting for its reconcile");
    } finally {
      await manager.stop();
      await removeTempStore(store, dir);
    }
  });
});
