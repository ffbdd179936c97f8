import { strict as assert } from "node:assert";
import { createLogger } from "../../src/log.js";
import { UsageSampler } from "../../src/metrics/usage-sampler.js";
import { ownerLabels } from "../../src/providers/ownership.js";
import type { ProviderRegistry } from "../../src/providers/registry.js";
import { ManagerNodes } from "../../src/providers/swarm/manager-node.js";
import type { ObservedService, ObservedTask, SwarmSnapshot } from "../../src/providers/swarm/observe.js";
import { swarmReplicas, swarmUsage } from "../../src/providers/swarm/usage.js";
import type { InfraProvider, ReplicaPlacement, ReplicaUsage } from "../../src/providers/types.js";
import { API_VERSION, type Group } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { observedService } from "../support/swarm-service.js";

function service(id: string, group: string, kind: string, name: string): ObservedService {
  const labels = ownerLabels({ instance: "i", group, kind, name, uid: `u-${name}` });
  return observedService({ id, name: `${group}_${name}`, labels, replicas: 2 });
}

function task(serviceId: string, slot: number, node: string, over: Partial<ObservedTask> = {}): ObservedTask {
  return {
    id: `${serviceId}-${slot}-${node}-${over.state ?? "running"}`,
    serviceId,
    slot,
    nodeId: node,
    state: "running",
    desiredState: "running",
    error: undefined,
    containerId: `c-${serviceId}-${slot}`,
    configHash: undefined,
    createdAt: "2026-11-30T00:00:05Z",
    ...over,
  };
}

const snapshot: SwarmSnapshot = {
  address: "unix:///m",
  services: [
    service("s1", "acme", "App", "web"),
    service("s2", "other", "App", "web"),
    service("s3", "", "Edge", "edge"),
  ],
  tasks: [
    task("s1", 1, "n1"),
    task("s1", 1, "n2", { state: "failed", desiredState: "shutdown", createdAt: "2026-11-30T00:00:01Z" }),
    task("s1", 1, "n3", { state: "failed", desiredState: "shutdown", createdAt: "2026-11-30T00:00:02Z" }),
    task("s1", 2, "n2", { state: "starting" }),
    task("s2", 1, "n1"),
    task("s3", 1, "n1"),
  ],
  networks: [],
  nodes: [
    { id: "n1", name: "alsw1", state: "ready", availability: "active" },
    { id: "n2", name: "alsw2", state: "ready", availability: "active" },
  ],
  secrets: [],
};

describe("airloft top on swarm", () => {
  it("places each live replica of the group's apps and services on its node, restarts from its slot's failed tasks", () => {
    assert.deepEqual(
      swarmReplicas(snapshot, new Set(["acme"])).map((r) => [r.name, r.replica, r.node, r.state, r.restarts, r.nodeId]),
      [
        ["web", "0", "alsw1", "running", 2, "n1"],
        ["web", "1", "alsw2", "starting", 0, "n2"],
      ],
    );
  });

  it("reads places and figures from one listing: a manager that cannot be asked leaves the places all the same", async () => {
    // No engine answers at this address: the manager's node id cannot be asked, so no figures.
    const read = await swarmUsage(
      "unix:///nonexistent/airloft.sock",
      new ManagerNodes(),
      snapshot,
      new Set(["acme"]),
      4,
    );
    assert.deepEqual(read.figures, []);
    assert.deepEqual(
      read.placements.map((p) => [p.name, p.replica, p.node, p.state, p.restarts]),
      [
        ["web", "0", "alsw1", "running", 2],
        ["web", "1", "alsw2", "starting", 0],
      ],
    );
    assert.ok(
      read.placements.every((p) => !("containerId" in p) && !("nodeId" in p)),
      "no engine ids in a placement",
    );
  });

  it("shows measured replicas with their node, and the others with their node and state but no figures", async () => {
    const group: Group = {
      apiVersion: API_VERSION,
      kind: "Group",
      metadata: { name: "acme", uid: "g" },
      spec: { provider: "swarm" },
    };
    const placed = (replica: string, node: string): ReplicaPlacement => ({
      group: "acme",
      kind: "App",
      name: "web",
      uid: "u-web",
      replica,
      node,
      state: "running",
      restarts: 1,
    });
    const measured: ReplicaUsage = {
      group: "acme",
      kind: "App",
      name: "web",
      uid: "u-web",
      replica: "0",
      cpuSeconds: 1,
      readAt: 1000,
      memoryBytes: 2 ** 20,
      restarts: 1,
    };
    const provider = {
      usage: async () => ({ figures: [measured], placements: [placed("0", "alsw1"), placed("1", "alsw2")] }),
    } as unknown as InfraProvider;
    const sampler = new UsageSampler({
      store: { view: () => [group] } as unknown as Store,
      providers: { for: async () => provider } as unknown as ProviderRegistry,
      log: createLogger({ level: "error" }),
    });
    await sampler.pass();
    assert.deepEqual(sampler.groupUsage("acme").replicas, [
      {
        kind: "App",
        name: "web",
        replica: "0",
        cpuCores: null,
        memoryBytes: 2 ** 20,
        restarts: 1,
        node: "alsw1",
        state: "running",
      },
      {
        kind: "App",
        name: "web",
        replica: "1",
        cpuCores: null,
        memoryBytes: null,
        restarts: 1,
        node: "alsw2",
        state: "running",
      },
    ]);
    assert.equal(sampler.latest().length, 1, "an unmeasured replica is no figure for the metrics or the autoscaler");
  });
});
