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

  it("deleting a group waits out the load balancer's lingering interfaces and leaves nothing tagged", async () => {
    const app = h.app("web", spec(1));
    assert.equal((await h.settle(app)).converged, true);
    for (let i = 0; i < 8 && !(await h.provider.finalizeApp(app, h.group)); i++) h.provider.forget("us-east-1");
    let done = false;
    let refused = 0;
    for (let i = 0; i < 12 && !done; i++) {
      h.provider.forget("us-east-1");
      done = await h.provider.finalizeGroup(h.group).catch((err: { name?: string; message?: string }) => {
        if (!/DependencyViolation/.test(`${err.name} ${err.message}`)) throw err;
        refused++;
        return false;
      });
    }
    assert.equal(done, true);
    assert.ok(refused >= 1, "the endpoint refused a delete while interfaces lingered");
    const left = await h.inspect.leftovers();
    assert.deepEqual(
      Object.entries(left).filter(([, n]) => n > 0),
      [],
      JSON.stringify(left),
    );
  });

  it("a health check timeout above AWS's 120 s is clamped, not refused", async () => {
    const app = h.app("slow", {
      ...spec(1),
      healthCheck: { http: { path: "/" }, intervalSeconds: 300, timeoutSeconds: 200 },
    });
    assert.equal((await h.settle(app)).converged, true);
  });
});
