import { strict as assert } from "node:assert";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** Rollouts and scale-downs within AWS's limits: an instance goes only once its target has drained. */
describe("AWS limits and rollouts (strict endpoint)", function () {
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

  it("scaling down and rolling out terminate no instance that its target group still serves", async () => {
    const uid = h.app("web", spec(2)).metadata.uid ?? "";
    for (const [replicas, version] of [
      [2, "a"],
      [1, "a"],
      [1, "b"],
    ] as const) {
      const app = h.app("web", spec(replicas, version), uid);
      const outcome = await h.settle(app);
      assert.equal(outcome.converged, true, JSON.stringify(outcome));
      assert.deepEqual(await h.running(app), ["0", "1"].slice(0, replicas));
    }
    assert.ok(h.calls(/TerminateInstances/) >= 2, "instances were terminated");
    assert.deepEqual(aws.proxy.terminatedInService, [], "terminated while registered or draining");
  });

  it("a health check timeout above AWS's 120 s is clamped, not refused", async () => {
    const app = h.app("slow", {
      ...spec(1),
      healthCheck: { http: { path: "/" }, intervalSeconds: 300, timeoutSeconds: 200 },
    });
    assert.equal((await h.settle(app)).converged, true);
  });
});
