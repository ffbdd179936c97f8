import { strict as assert } from "node:assert";
import fc from "fast-check";
import { desiredApp } from "../../src/providers/docker/desired.js";
import type { ObservedContainer } from "../../src/providers/docker/observe.js";
import { describeOperation, isReady, planApp } from "../../src/providers/docker/plan.js";
import type { App } from "../../src/resources/types.js";
import { observedContainer, testApp, testGroup } from "../support/docker-objects.js";

/** An app checked by a command, as the e2e's: Docker's health decides readiness. */
const desired = (spec: Partial<App["spec"]>) =>
  desiredApp(testApp({ healthCheck: { command: ["test", "-f", "/tmp/ready"] }, ...spec }), testGroup, "inst", {
    ref: "busybox:1",
    id: "sha256:aaa",
  });
const OLD = desired({ replicas: 4 }).configHash;
const rolled = (pace: { maxSurge: number; maxUnavailable: number }) =>
  desired({ replicas: 4, env: { VERSION: "2" }, strategy: pace });
const ops = (plan: ReturnType<typeof planApp>) => plan.operations.map(describeOperation);
const old = (replica: number, health: string) => observedContainer(replica, OLD, { health });

/**
 * The rollout pace against old replicas that run but are not ready when looked at: a first
 * check not passed yet, or a look older than the check that passed. Issue 18: such a replica was
 * replaced at once, outside maxUnavailable, and when it had turned healthy meanwhile the app ran
 * one or two replicas short (seen on the real engine, rollout-pace-docker.test.ts).
 */
describe("rollout pace: old replicas that run but are not ready", () => {
  it("maxSurge 1, maxUnavailable 0: starts one successor beside them and takes none down", () => {
    const seen = [old(0, "healthy"), old(1, "unhealthy"), old(2, "healthy"), old(3, "healthy")];
    assert.deepEqual(ops(planApp(rolled({ maxSurge: 1, maxUnavailable: 0 }), seen, new Map())), [
      "app:acme/web:1 create (config changed)",
    ]);
  });

  it("maxSurge 0, maxUnavailable 1: takes one down, an unready one first", () => {
    const seen = [old(0, "healthy"), old(1, "healthy"), old(2, "unhealthy"), old(3, "starting")];
    assert.deepEqual(ops(planApp(rolled({ maxSurge: 0, maxUnavailable: 1 }), seen, new Map())), [
      "app:acme/web:2 remove (rolling)",
      "app:acme/web:2 create (config changed)",
    ]);
  });

  it("still replaces exited old replicas at once: they serve nothing and cannot turn ready", () => {
    const seen = [0, 1, 2, 3].map((r) => observedContainer(r, OLD, { state: "exited" }));
    assert.deepEqual(ops(planApp(rolled({ maxSurge: 0, maxUnavailable: 1 }), seen, new Map())), [
      "app:acme/web:0 create (config changed)",
      "app:acme/web:1 create (config changed)",
      "app:acme/web:2 create (config changed)",
      "app:acme/web:3 create (config changed)",
    ]);
  });

  it("counts the successor of an exited old replica against maxSurge", () => {
    const seen = [
      old(0, "healthy"),
      old(1, "healthy"),
      old(2, "healthy"),
      observedContainer(3, OLD, { state: "exited" }),
    ];
    assert.deepEqual(ops(planApp(rolled({ maxSurge: 1, maxUnavailable: 0 }), seen, new Map())), [
      "app:acme/web:0 create (config changed)",
      "app:acme/web:3 create (config changed)",
    ]);
  });

  it("never plans below replicas - maxUnavailable that may serve, nor above replicas + maxSurge running", () => {
    // Each replica: an old container in some state, and maybe its successor, ready or not.
    const oldState = fc.constantFrom("healthy", "unhealthy", "starting", "exited", "none");
    const newState = fc.constantFrom("healthy", "starting", "none");
    const serving = (c: ObservedContainer) => !["dead", "removing", "exited"].includes(c.state);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(oldState, newState), { minLength: 4, maxLength: 4 }),
        fc.constantFrom(
          { maxSurge: 1, maxUnavailable: 0 },
          { maxSurge: 0, maxUnavailable: 1 },
          { maxSurge: 2, maxUnavailable: 1 },
        ),
        (replicas, pace) => {
          const d = rolled(pace);
          const seen = replicas.flatMap(([o, n], r) => [
            ...(o === "none" ? [] : [observedContainer(r, OLD, o === "exited" ? { state: "exited" } : { health: o })]),
            ...(n === "none" ? [] : [observedContainer(r, d.configHash, { health: n })]),
          ]);
          const plan = planApp(d, seen, new Map());
          const removed = new Set(plan.operations.flatMap((op) => (op.op === "remove" ? [op.id] : [])));
          const created = plan.operations.filter((op) => op.op === "create").length;
          // What may serve: a ready replica, or an old one that runs (its check may pass any moment).
          const mayServe = (cs: readonly ObservedContainer[]) =>
            new Set(
              cs
                .filter((c) => isReady(c, d, new Map()) || (serving(c) && c.owner.configHash === OLD))
                .map((c) => c.owner.replica),
            ).size;
          const before = mayServe(seen);
          const after = mayServe(seen.filter((c) => !removed.has(c.id)));
          assert.ok(after >= Math.min(before, 4 - pace.maxUnavailable), `${after} may serve after, ${before} before`);
          // A replica with nothing running is filled whatever the pace; nothing else goes past the surge.
          const live = seen.filter(serving).length;
          const empty = 4 - new Set(seen.filter(serving).map((c) => c.owner.replica)).size;
          const liveAfter = seen.filter((c) => serving(c) && !removed.has(c.id)).length + created;
          assert.ok(
            liveAfter <= Math.max(live + empty, 4 + pace.maxSurge),
            `${liveAfter} running after, ${live} before and ${empty} to fill`,
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
