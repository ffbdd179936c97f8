import { strict as assert } from "node:assert";
import type { ObservedNetwork } from "../../src/providers/docker/observe.js";
import { describeOperation, type Operation } from "../../src/providers/docker/plan.js";
import { GroupNetworkStep } from "../../src/providers/group-network-step.js";
import type { Group } from "../../src/resources/types.js";

const group: Group = {
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: "acme", uid: "g-1" },
  spec: { provider: "swarm", swarm: { network: { subnet: "10.9.0.0/24" } } },
};

/** A network as observed, owned by group acme of incarnation `uid`. */
function network(id: string, name: string, uid: string): ObservedNetwork {
  const owner = {
    instance: "inst",
    group: "acme",
    kind: "Group",
    name: "acme",
    uid,
    configHash: undefined,
    replica: undefined,
  };
  return { id, name, subnets: [], gateways: [], owner };
}

/** An engine of the project's own step interface: networks in a list, operations applied to it. */
function engine() {
  const networks: ObservedNetwork[] = [];
  const executed: Operation[] = [];
  const step = new GroupNetworkStep<{ networks: readonly ObservedNetwork[] }, Operation>({
    provider: "swarm",
    instanceId: "inst",
    address: () => "unix:///engine.sock",
    network: (g) => ({ name: `net-${g.metadata.name}`, subnet: "10.9.0.0/24", driver: "overlay" }),
    operations: (planned) => planned.filter((op) => op.op === "create-network"),
    steps: (_address, plan) => ({
      maxRounds: 2,
      observe: async () => ({ networks: [...networks] }),
      plan,
      execute: async (ops, done) => {
        for (const op of ops) {
          executed.push(op);
          if (op.op === "create-network") networks.push(network("0123456789abcdef", op.name, "g-1"));
          done(op);
        }
      },
      describe: describeOperation,
    }),
  });
  return { step, networks, executed };
}

describe("the group network step (docker and swarm providers)", () => {
  it("plans and makes the group's network with the provider's options, then reports it in the status", async () => {
    const { step, executed } = engine();
    assert.deepEqual(await step.plan(group), ["group:acme create-network (missing)"]);
    const status = await step.reconcile(group);
    assert.deepEqual(status, {
      provider: "swarm",
      engine: "unix:///engine.sock",
      network: { name: "net-acme", id: "0123456789ab" },
    });
    const [made] = executed;
    assert.equal(made?.op, "create-network");
    if (made?.op === "create-network") {
      assert.equal(made.driver, "overlay");
      assert.equal(made.subnet, "10.9.0.0/24");
      assert.equal(made.labels["airloft.dev/uid"], "g-1");
    }
    assert.deepEqual(await step.plan(group), [], "a second pass does nothing");
  });

  it("keeps only the operations the provider runs", async () => {
    const { step, networks } = engine();
    networks.push(network("old", "net-old", "g-0"));
    // planNetwork would also remove the earlier incarnation's network; this provider's filter keeps creates only.
    assert.deepEqual(await step.plan(group), ["group:acme create-network (missing)"]);
  });
});
