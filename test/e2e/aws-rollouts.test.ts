import { strict as assert } from "node:assert";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";

/** Rollouts and scale-downs within AWS's limits: an instance goes only once its target has drained. */
describe("AWS limits and rollouts (strict endpoint)", function () {
  this.timeout(180_000);
  const s = useStrictGroup();

  it("scaling down and rolling out terminate no instance that its target group still serves", async () => {
    const uid = s.h.app("web", webSpec(2)).metadata.uid ?? "";
    for (const [replicas, version] of [
      [2, "a"],
      [1, "a"],
      [1, "b"],
    ] as const) {
      const app = s.h.app("web", webSpec(replicas, version), uid);
      const outcome = await s.h.settle(app);
      assert.equal(outcome.converged, true, JSON.stringify(outcome));
      assert.deepEqual(await s.h.running(app), ["0", "1"].slice(0, replicas));
    }
    assert.ok(s.h.calls(/TerminateInstances/) >= 2, "instances were terminated");
    assert.deepEqual(s.aws.proxy.terminatedInService, [], "terminated while registered or draining");
  });

  it("deleting a group waits out the load balancer's lingering interfaces and leaves nothing tagged", async () => {
    const app = s.h.app("web", webSpec(1));
    assert.equal((await s.h.settle(app)).converged, true);
    for (let i = 0; i < 8 && !(await s.h.provider.finalizeApp(app, s.h.group)); i++) s.h.provider.forget("us-east-1");
    let done = false;
    let refused = 0;
    for (let i = 0; i < 12 && !done; i++) {
      s.h.provider.forget("us-east-1");
      done = await s.h.provider.finalizeGroup(s.h.group).catch((err: { name?: string; message?: string }) => {
        if (!/DependencyViolation/.test(`${err.name} ${err.message}`)) throw err;
        refused++;
        return false;
      });
    }
    assert.equal(done, true);
    assert.ok(refused >= 1, "the endpoint refused a delete while interfaces lingered");
    const left = await s.h.inspect.leftovers();
    assert.deepEqual(
      Object.entries(left).filter(([, n]) => n > 0),
      [],
      JSON.stringify(left),
    );
  });

  it("a health check timeout above AWS's 120 s is clamped, not refused", async () => {
    const app = s.h.app("slow", {
      ...webSpec(1),
      healthCheck: { http: { path: "/" }, intervalSeconds: 300, timeoutSeconds: 200 },
    });
    assert.equal((await s.h.settle(app)).converged, true);
  });
});
