import { strict as assert } from "node:assert";
import { requireSwarm } from "../support/e2e.js";

describe("the test swarm (support/swarm.ts)", () => {
  it("has one manager and two workers, all ready", async function () {
    const swarm = await requireSwarm(this);
    const manager = swarm.nodes[0];
    assert.ok(manager);
    const nodes = (await manager.docker.listNodes()) as Array<{ Status: { State: string }; Spec: { Role: string } }>;
    assert.deepEqual(
      nodes.map((n) => n.Status.State),
      ["ready", "ready", "ready"],
    );
    assert.deepEqual(nodes.map((n) => n.Spec.Role).sort(), ["manager", "worker", "worker"]);
  });
});
