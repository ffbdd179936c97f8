import { strict as assert } from "node:assert";
import { StopInstancesCommand } from "@aws-sdk/client-ec2";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";

/** A launch token stays bound to its instance after termination (the strict proxy holds AWS to it). */
describe("AWS launch tokens: relaunching a replica (strict endpoint)", function () {
  this.timeout(180_000);
  const s = useStrictGroup();

  it("a replica stopped by hand is relaunched: two running for two replicas", async () => {
    const app = s.h.app("web", webSpec(2));
    assert.equal((await s.h.settle(app)).converged, true);
    const [victim] = (await s.h.inspect.instances([{ Name: "tag:airloft.dev/replica", Values: ["1"] }])).map(
      (i) => i.id,
    );
    assert.ok(victim);
    await s.h.inspect.ec2.send(new StopInstancesCommand({ InstanceIds: [victim] }));
    s.h.provider.forget("us-east-1");
    const outcome = await s.h.settle(app);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    assert.deepEqual(await s.h.running(app), ["0", "1"]);
  });

  it("scale 3 -> 1 -> 3 ends with three running", async () => {
    const uid = s.h.app("web", webSpec(3)).metadata.uid ?? "";
    for (const replicas of [3, 1, 3]) {
      const app = s.h.app("web", webSpec(replicas), uid);
      const outcome = await s.h.settle(app);
      assert.equal(outcome.converged, true, `${replicas} replicas: ${JSON.stringify(outcome)}`);
      assert.deepEqual(await s.h.running(app), ["0", "1", "2"].slice(0, replicas));
    }
  });

  it("config A -> B -> A ends with the replicas of A running", async () => {
    const uid = s.h.app("web", webSpec(2)).metadata.uid ?? "";
    for (const version of ["a", "b", "a"]) {
      const app = s.h.app("web", webSpec(2, version), uid);
      const outcome = await s.h.settle(app);
      assert.equal(outcome.converged, true, `config ${version}: ${JSON.stringify(outcome)}`);
      assert.deepEqual(await s.h.running(app), ["0", "1"]);
    }
  });

  it("a restarted controller walks past the tokens an earlier process used", async () => {
    const uid = s.h.app("web", webSpec(1)).metadata.uid ?? "";
    for (const replicas of [1, 0]) await s.h.settle(s.h.app("web", webSpec(replicas), uid));
    s.h.newProvider();
    const app = s.h.app("web", webSpec(1), uid);
    assert.equal((await s.h.settle(app)).converged, true);
    assert.deepEqual(await s.h.running(app), ["0"]);
  });
});
