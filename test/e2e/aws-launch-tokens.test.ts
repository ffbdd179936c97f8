import { strict as assert } from "node:assert";
import { StopInstancesCommand } from "@aws-sdk/client-ec2";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** A launch token stays bound to its instance after termination (the strict proxy holds AWS to it). */
describe("AWS launch tokens: relaunching a replica (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;
  let h: StrictHarness;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  beforeEach(async () => {
    await aws.reset();
    h = new StrictHarness(aws);
    await h.reconcileGroup();
  });

  const spec = (replicas: number, version = "a") => ({
    image: "example/web:1",
    port: 8080,
    replicas,
    env: { VERSION: version },
  });

  it("a replica stopped by hand is relaunched: two running for two replicas", async () => {
    const app = h.app("web", spec(2));
    assert.equal((await h.settle(app)).converged, true);
    const [victim] = (await h.inspect.instances([{ Name: "tag:airloft.dev/replica", Values: ["1"] }])).map((i) => i.id);
    assert.ok(victim);
    await h.inspect.ec2.send(new StopInstancesCommand({ InstanceIds: [victim] }));
    h.provider.forget("us-east-1");
    const outcome = await h.settle(app);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    assert.deepEqual(await h.running(app), ["0", "1"]);
  });

  it("scale 3 -> 1 -> 3 ends with three running", async () => {
    const uid = h.app("web", spec(3)).metadata.uid ?? "";
    for (const replicas of [3, 1, 3]) {
      const app = h.app("web", spec(replicas), uid);
      const outcome = await h.settle(app);
      assert.equal(outcome.converged, true, `${replicas} replicas: ${JSON.stringify(outcome)}`);
      assert.deepEqual(await h.running(app), ["0", "1", "2"].slice(0, replicas));
    }
  });

  it("config A -> B -> A ends with the replicas of A running", async () => {
    const uid = h.app("web", spec(2)).metadata.uid ?? "";
    for (const version of ["a", "b", "a"]) {
      const app = h.app("web", spec(2, version), uid);
      const outcome = await h.settle(app);
      assert.equal(outcome.converged, true, `config ${version}: ${JSON.stringify(outcome)}`);
      assert.deepEqual(await h.running(app), ["0", "1"]);
    }
  });

  it("a restarted controller walks past the tokens an earlier process used", async () => {
    const uid = h.app("web", spec(1)).metadata.uid ?? "";
    for (const replicas of [1, 0]) await h.settle(h.app("web", spec(replicas), uid));
    h.newProvider();
    const app = h.app("web", spec(1), uid);
    assert.equal((await h.settle(app)).converged, true);
    assert.deepEqual(await h.running(app), ["0"]);
  });
});
