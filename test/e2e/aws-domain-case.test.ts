import { strict as assert } from "node:assert";
import { ChangeTagsForResourceCommand, ListTagsForResourceCommand } from "@aws-sdk/client-route-53";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** DNS names are case-blind; AWS answers them in lower case, so a mixed-case domain must not churn. */
describe("AWS domains in mixed case (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  it("routes, records and finds its zone in lower case, and a second pass has nothing to do", async () => {
    await aws.reset();
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { id: "default" }, domain: "Strict.Example.COM" });
    await h.reconcileGroup();
    await h.reconcileGroup();
    const zones = (await h.inspect.zones()).filter((z) => z.Name?.toLowerCase() === "strict.example.com.");
    assert.equal(zones.length, 1, `one zone for the domain, not one per spelling: ${JSON.stringify(zones)}`);
    const app = h.app("web", { image: "example/web:1", port: 8080, replicas: 1 });
    const outcome = await h.settle(app);
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    const lb = h.group.status?.aws?.loadBalancer?.arn ?? "";
    const hosts = (await h.inspect.rules(lb)).rules
      .flatMap((r) => r.Conditions ?? [])
      .flatMap((c) => c.HostHeaderConfig?.Values ?? []);
    assert.deepEqual(hosts, ["web.strict.example.com"]);
    const names = (await h.inspect.records(zones[0]?.Id ?? "")).filter((r) => r.Type === "A").map((r) => r.Name);
    assert.deepEqual(names, ["web.strict.example.com."]);
    h.provider.forget("us-east-1");
    assert.deepEqual((await h.provider.reconcileApp(app, h.group)).operations, []);
  });
});

/** A kill between CreateHostedZone and its tagging leaves an untagged zone: the next pass tags it. */
describe("AWS hosted zone left untagged by a kill (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  it("is found by its caller reference and tagged on the next pass, not made twice", async () => {
    await aws.reset();
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { id: "default" }, domain: "untagged.example.com" });
    await h.reconcileGroup();
    const [zone] = (await h.inspect.zones()).filter((z) => z.Name === "untagged.example.com.");
    const id = (zone?.Id ?? "").replace("/hostedzone/", "");
    // What the kill leaves: the zone, without the tags its create would have added next.
    const keys = ["airloft.dev/instance", "airloft.dev/group", "airloft.dev/uid", "airloft.dev/role", "Name"];
    await h.inspect.route53.send(
      new ChangeTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: id, RemoveTagKeys: keys }),
    );
    assert.equal(await zoneTag(h, id), undefined);
    h.newProvider();
    const operations: string[] = [];
    await h.provider.reconcileGroup(h.group, { onOperation: (op) => operations.push(op) });
    assert.deepEqual(
      operations.filter((op) => op.includes("hosted-zone")),
      ["group:strict tag-hosted-zone untagged.example.com"],
    );
    assert.equal(await zoneTag(h, id), h.instanceId);
    assert.equal((await h.inspect.zones()).filter((z) => z.Name === "untagged.example.com.").length, 1);
    // Tagged now: a further pass (and a restarted one) has nothing to do for the zone.
    h.newProvider();
    const again: string[] = [];
    await h.provider.reconcileGroup(h.group, { onOperation: (op) => again.push(op) });
    assert.deepEqual(again, []);
  });
});

async function zoneTag(h: StrictHarness, id: string): Promise<string | undefined> {
  const out = await h.inspect.route53.send(
    new ListTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: id }),
  );
  return out.ResourceTagSet?.Tags?.find((t) => t.Key === "airloft.dev/instance")?.Value;
}
