import { strict as assert } from "node:assert";
import { DeleteRuleCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** A target group no rule forwards to has `unused` targets on AWS (the strict proxy says so too). */
describe("AWS apps without a domain (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  it("get a path rule on the load balancer's address, so their targets are used and they turn Ready", async () => {
    await aws.reset();
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { id: "default" } });
    await h.reconcileGroup();
    const app = h.app("web", { image: "example/web:1", port: 8080, replicas: 1 });
    const outcome = await h.settle(app);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    assert.equal(outcome.waiting, undefined);
    const dns = (h.group.status?.aws?.loadBalancer?.dnsName ?? "").toLowerCase();
    assert.equal(outcome.url, `http://${dns}/web/`);
    const lb = h.group.status?.aws?.loadBalancer?.arn ?? "";
    const { rules } = await h.inspect.rules(lb);
    const conditions = rules.filter((r) => !r.IsDefault).flatMap((r) => r.Conditions ?? []);
    const paths = conditions.find((c) => c.Field === "path-pattern")?.PathPatternConfig?.Values;
    const hosts = conditions.find((c) => c.Field === "host-header")?.HostHeaderConfig?.Values;
    assert.deepEqual(paths, ["/web", "/web/*"]);
    assert.deepEqual(hosts, [dns], "only requests to the load balancer's own name");
    // A second pass finds the rule it made: nothing to do.
    h.provider.forget("us-east-1");
    assert.deepEqual((await h.provider.reconcileApp(app, h.group)).operations, []);
  });

  it("whose rule was removed by hand: its targets read unused (from the rules, not moto's marks) until the rule is made again", async () => {
    await aws.reset();
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { id: "default" } });
    await h.reconcileGroup();
    const app = h.app("web", { image: "example/web:1", port: 8080, replicas: 1 });
    assert.equal((await h.settle(app)).converged, true);
    const lb = h.group.status?.aws?.loadBalancer?.arn ?? "";
    for (const rule of (await h.inspect.rules(lb)).rules.filter((r) => !r.IsDefault))
      await h.inspect.elb.send(new DeleteRuleCommand({ RuleArn: rule.RuleArn }));
    h.newProvider();
    const live = await h.provider.liveReplicas(app, h.group);
    const health = live.columns.indexOf("HEALTH");
    assert.deepEqual(
      live.rows.map((r) => r[health]),
      ["unused"],
      "no rule forwards to the target group any more",
    );
    const outcome = await h.settle(app);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    assert.equal(outcome.waiting, undefined);
    assert.equal((await h.inspect.rules(lb)).rules.filter((r) => !r.IsDefault).length, 1, "the rule is made again");
  });
});
