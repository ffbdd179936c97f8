import { strict as assert } from "node:assert";
import { desiredApp } from "../../src/providers/docker/desired.js";
import { describeOperation, planApp } from "../../src/providers/docker/plan.js";
import { RollingBudget, rolloutPace } from "../../src/providers/pace.js";
import { pruneRevisions, type Revision, revisionHash } from "../../src/releases/revisions.js";
import type { App } from "../../src/resources/types.js";
import { observedContainer, testApp, testGroup } from "../support/docker-objects.js";

const desired = (spec: Partial<App["spec"]>) =>
  desiredApp(testApp(spec), testGroup, "inst", { ref: "busybox:1", id: "sha256:aaa" });
const ops = (plan: ReturnType<typeof planApp>) => plan.operations.map(describeOperation);

describe("rollout pace (maxSurge, maxUnavailable)", () => {
  it("rounds like Kubernetes: surge up, unavailable down, never both zero", () => {
    assert.deepEqual(rolloutPace({ maxSurge: "25%", maxUnavailable: "25%" }, 10), { maxSurge: 3, maxUnavailable: 2 });
    assert.deepEqual(rolloutPace({ maxSurge: 0, maxUnavailable: 0 }, 4), { maxSurge: 0, maxUnavailable: 1 });
    assert.deepEqual(rolloutPace({ maxSurge: "0%", maxUnavailable: "10%" }, 3), { maxSurge: 0, maxUnavailable: 1 });
    assert.deepEqual(rolloutPace({ maxSurge: 1 }, 4), { maxSurge: 1, maxUnavailable: 1 });
    assert.deepEqual(rolloutPace({ maxUnavailable: "100%" }, 4), { maxSurge: 1, maxUnavailable: 4 });
  });

  it("keeps every replica's successor at once and none down when neither is set", () => {
    assert.deepEqual(rolloutPace(undefined, 5), { maxSurge: Number.POSITIVE_INFINITY, maxUnavailable: 0 });
    assert.deepEqual(rolloutPace({ type: "RollingUpdate" }, 2), {
      maxSurge: Number.POSITIVE_INFINITY,
      maxUnavailable: 0,
    });
  });

  it("spends surge first, then unavailability, then waits", () => {
    const budget = new RollingBudget(4, { maxSurge: 1, maxUnavailable: 1 }, { live: 4, available: 4 });
    assert.deepEqual([budget.take(), budget.take(), budget.take()], ["beside", "in-place", "wait"]);
  });

  it("takes an old replica down only within maxUnavailable, ready or not", () => {
    const budget = new RollingBudget(2, { maxSurge: 0, maxUnavailable: 1 }, { live: 2, available: 2 });
    assert.deepEqual([budget.take(), budget.take()], ["in-place", "wait"]);
  });

  it("plans maxSurge 1, maxUnavailable 0: one new replica at a time beside the old ones", () => {
    const old = desired({ replicas: 3 }).configHash;
    const d = desired({ replicas: 3, env: { A: "2" }, strategy: { maxSurge: 1, maxUnavailable: 0 } });
    const running = [0, 1, 2].map((r) => observedContainer(r, old));
    assert.deepEqual(ops(planApp(d, running, new Map())), ["app:acme/web:0 create (config changed)"]);
    // The first new one is up but not ready: nothing more starts.
    const withNew = [...running, observedContainer(0, d.configHash, { state: "created" })];
    assert.deepEqual(ops(planApp(d, withNew, new Map())), ["app:acme/web:0 start (stopped)"]);
  });

  it("plans maxSurge 0, maxUnavailable 1: one old replica drained and replaced at a time", () => {
    const old = desired({ replicas: 3 }).configHash;
    const d = desired({ replicas: 3, env: { A: "2" }, strategy: { maxSurge: 0, maxUnavailable: 1 } });
    const running = [0, 1, 2].map((r) => observedContainer(r, old));
    const plan = planApp(d, running, new Map());
    assert.deepEqual(ops(plan), ["app:acme/web:0 remove (rolling)", "app:acme/web:0 create (config changed)"]);
    const removal = plan.operations[0];
    assert.ok(removal?.op === "remove" && removal.graceful, "the old replica leaves the edge before it stops");
  });

  it("keeps old replicas that look unready by default, even beside a failed revision's exited ones", () => {
    const old = desired({ replicas: 2 }).configHash;
    const failed = desired({ replicas: 2, env: { A: "bad" } }).configHash;
    const d = desired({ replicas: 2, env: { A: "2" }, healthCheck: { http: { path: "/other" } } });
    const seen = [0, 1].flatMap((r) => [
      observedContainer(r, old),
      observedContainer(r, failed, { state: "exited", id: `x-${r}` }),
    ]);
    const plan = planApp(d, seen, new Map());
    assert.deepEqual(ops(plan), ["app:acme/web:0 create (config changed)", "app:acme/web:1 create (config changed)"]);
  });

  it("starts no new replica while the release command has not succeeded, and keeps the old ones", () => {
    const old = desired({ replicas: 2 }).configHash;
    const d = { ...desired({ replicas: 2, env: { A: "2" } }), holdCreates: true };
    assert.deepEqual(ops(planApp(d, [observedContainer(0, old), observedContainer(1, old)], new Map())), []);
    assert.deepEqual(ops(planApp(d, [], new Map())), [], "nor on a first deploy");
  });

  it("plans no limit by default: every successor at once, old ones kept", () => {
    const old = desired({ replicas: 2 }).configHash;
    const d = desired({ replicas: 2, env: { A: "2" } });
    assert.deepEqual(ops(planApp(d, [observedContainer(0, old), observedContainer(1, old)], new Map())), [
      "app:acme/web:0 create (config changed)",
      "app:acme/web:1 create (config changed)",
    ]);
  });
});

describe("revisions", () => {
  const rev = (n: number): Revision => ({
    revision: n,
    configHash: `h${n}`,
    image: "busybox:1",
    spec: {},
    createdAt: "2026-01-01T00:00:00.000Z",
    by: "user test",
    outcome: "Complete",
  });

  it("keeps the last N, newest included", () => {
    const items = [1, 2, 3, 4, 5].map(rev);
    assert.deepEqual(
      pruneRevisions(items, 3).map((r) => r.revision),
      [3, 4, 5],
    );
    assert.deepEqual(
      pruneRevisions(items, 0).map((r) => r.revision),
      [5],
    );
    assert.equal(pruneRevisions(items, 10).length, 5);
  });

  it("keeps older revisions within REVISION_HISTORY_BYTES of spec, the current one whatever its size", () => {
    const sized = (n: number, kib: number): Revision => ({ ...rev(n), spec: { env: { PAD: "x".repeat(kib * 1024) } } });
    const large = [1, 2, 3, 4, 5].map((n) => sized(n, 200));
    assert.deepEqual(
      pruneRevisions(large, 10).map((r) => r.revision),
      [3, 4, 5],
      "two older ones of 200 KiB fit in 512 KiB, a third does not",
    );
    assert.deepEqual(
      pruneRevisions([sized(1, 100), sized(2, 600)], 10).map((r) => r.revision),
      [1, 2],
      "the current one is never counted against the older ones",
    );
    const complete: Revision = { ...sized(1, 300), outcome: "Complete" };
    const superseded = [2, 3, 4].map((n): Revision => ({ ...sized(n, 300), outcome: "Superseded" }));
    assert.deepEqual(
      pruneRevisions([complete, ...superseded], 10).map((r) => r.revision),
      [1, 3, 4],
      "the last Complete one stays beyond the budget: a failed rollout goes back to it",
    );
    const measured = { ...sized(1, 600), specBytes: 10 };
    assert.equal(pruneRevisions([measured, sized(2, 1), sized(3, 1)], 10).length, 3, "a recorded size is used");
  });

  it("hashes what makes new replicas, not the count, the strategy or the history limit", () => {
    const base = revisionHash({ image: "a:1", replicas: 1 });
    assert.equal(revisionHash({ image: "a:1", replicas: 5, strategy: { maxSurge: 1 }, revisionHistoryLimit: 3 }), base);
    assert.notEqual(revisionHash({ image: "a:2", replicas: 1 }), base);
    assert.notEqual(revisionHash({ image: "a:1", env: { A: "1" } }), base);
  });
});
