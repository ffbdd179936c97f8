import { strict as assert } from "node:assert";
import { desiredApp } from "../../src/providers/docker/desired.js";
import type { ObservedContainer, ObservedNetwork } from "../../src/providers/docker/observe.js";
import { describeOperation, planApp, planGarbage, planNetwork } from "../../src/providers/docker/plan.js";
import type { App, Group } from "../../src/resources/types.js";

const group: Group = { apiVersion: "airloft.dev/v1alpha1", kind: "Group", metadata: { name: "acme", uid: "g-1" }, spec: { provider: "docker" } };

function app(spec: Partial<App["spec"]> = {}): App {
  return { apiVersion: "airloft.dev/v1alpha1", kind: "App", metadata: { name: "web", group: "acme", uid: "u-1", generation: 1 }, spec: { image: "busybox:1", port: 8080, replicas: 2, ...spec } };
}

const desired = (spec: Partial<App["spec"]> = {}) => desiredApp(app(spec), group, "inst", { ref: "busybox:1", id: "sha256:aaa" });

function container(replica: number, hash: string, over: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id: `c-${replica}-${hash}`, name: `airloft-acme-web-${replica}-${hash}`, state: "running", health: undefined, imageId: "sha256:aaa", ports: [],
    owner: { instance: "inst", group: "acme", kind: "App", name: "web", uid: "u-1", configHash: hash, replica },
    ...over,
  };
}

const ops = (plan: { operations: readonly Parameters<typeof describeOperation>[0][] }) => plan.operations.map(describeOperation);
const noProbe = new Map<string, boolean>();

describe("docker planner", () => {
  it("creates every missing replica", () => {
    const plan = planApp(desired(), [], noProbe);
    assert.deepEqual(ops(plan), ["app:acme/web:0 create (missing)", "app:acme/web:1 create (missing)"]);
    assert.equal(plan.converged, false);
  });

  it("does nothing when every replica runs at the desired hash", () => {
    const d = desired();
    const plan = planApp(d, [container(0, d.configHash), container(1, d.configHash)], noProbe);
    assert.deepEqual(ops(plan), []);
    assert.equal(plan.readyReplicas, 2);
    assert.equal(plan.converged, true);
  });

  it("leaves replicas out of the config hash, so scaling touches only the extra replicas", () => {
    const d2 = desired({ replicas: 2 });
    const d3 = desired({ replicas: 3 });
    assert.equal(d2.configHash, d3.configHash);
    assert.deepEqual(ops(planApp(d3, [container(0, d2.configHash), container(1, d2.configHash)], noProbe)), ["app:acme/web:2 create (missing)"]);
    const d1 = desired({ replicas: 1 });
    assert.deepEqual(ops(planApp(d1, [container(0, d2.configHash), container(1, d2.configHash)], noProbe)), ["app:acme/web:1 remove (scaled down)"]);
  });

  it("changes the hash with env, image id, command or resources", () => {
    const base = desired().configHash;
    assert.notEqual(desired({ env: { A: "1" } }).configHash, base);
    assert.notEqual(desired({ command: ["sh"] }).configHash, base);
    assert.notEqual(desired({ resources: { memory: "64Mi" } }).configHash, base);
    assert.notEqual(desiredApp(app(), group, "inst", { ref: "busybox:1", id: "sha256:bbb" }).configHash, base);
  });

  it("rolls a changed config: new replica first, the old one removed once the new is ready", () => {
    const old = desired().configHash;
    const d = desired({ env: { A: "2" }, healthCheck: { http: { path: "/" } } });
    const first = planApp(d, [container(0, old), container(1, old)], noProbe);
    assert.deepEqual(ops(first), ["app:acme/web:0 create (config changed)", "app:acme/web:1 create (config changed)"]);

    const both = [container(0, old), container(1, old), container(0, d.configHash), container(1, d.configHash)];
    const notReady = planApp(d, both, new Map([[`c-0-${d.configHash}`, false], [`c-1-${d.configHash}`, true]]));
    assert.deepEqual(ops(notReady), ["app:acme/web:1 remove (replaced)"], "replica 0 keeps its old container until the new one is ready");
    assert.equal(notReady.updatedReplicas, 2);
    assert.equal(notReady.readyReplicas, 1);
  });

  it("with Recreate, removes the old container at once", () => {
    const old = desired().configHash;
    const d = desired({ env: { A: "2" }, strategy: { type: "Recreate" } });
    assert.deepEqual(ops(planApp(d, [container(0, old)], noProbe)), ["app:acme/web:0 remove (recreate)", "app:acme/web:0 create (config changed)", "app:acme/web:1 create (missing)"]);
  });

  it("starts a stopped replica and replaces a dead one", () => {
    const d = desired();
    const plan = planApp(d, [container(0, d.configHash, { state: "exited" }), container(1, d.configHash, { state: "dead" })], noProbe);
    assert.deepEqual(ops(plan), ["app:acme/web:0 start (stopped)", "app:acme/web:1 create (dead)"]);
  });

  it("counts a command health check from Docker's own health status", () => {
    const d = desired({ healthCheck: { command: ["true"] } });
    const plan = planApp(d, [container(0, d.configHash, { health: "healthy" }), container(1, d.configHash, { health: "starting" })], noProbe);
    assert.equal(plan.readyReplicas, 1);
    assert.equal(plan.converged, false);
  });

  it("removes a duplicate and containers of an earlier incarnation of the app", () => {
    const d = desired();
    const stranger = container(0, d.configHash, { id: "old-uid", owner: { ...container(0, d.configHash).owner, uid: "u-0" } });
    const plan = planApp(d, [container(0, d.configHash), container(0, d.configHash, { id: "dup" }), container(1, d.configHash), stranger], noProbe);
    assert.deepEqual(ops(plan), ["app:acme/web:0 remove (belongs to a deleted incarnation)", "app:acme/web:0 remove (duplicate)"]);
  });

  it("plans the group network, and garbage whose owner is gone", () => {
    const network: ObservedNetwork = { id: "n1", name: "airloft-acme", owner: { instance: "inst", group: "acme", kind: "Group", name: "acme", uid: "g-1", configHash: undefined, replica: undefined } };
    const want = { group: "acme", uid: "g-1", name: "airloft-acme", labels: {}, subnet: undefined };
    assert.deepEqual(planNetwork(want, []).map(describeOperation), ["group:acme create-network (missing)"]);
    assert.deepEqual(planNetwork(want, [network]), []);
    const orphan = container(0, "h", { owner: { ...container(0, "h").owner, uid: "gone" } });
    assert.deepEqual(planGarbage(new Set(["g-1", "u-1"]), [container(1, "h"), orphan], [network]).map(describeOperation), ["app:acme/web:0 remove (owner gone)"]);
    assert.deepEqual(planGarbage(new Set(), [], [network]).map(describeOperation), ["group:acme remove-network (owner gone)"]);
  });
});
