import { strict as assert } from "node:assert";
import { CreateHostedZoneCommand, ListResourceRecordSetsCommand } from "@aws-sdk/client-route-53";
import { ProviderUnavailableError, TerminalError } from "../../src/errors.js";
import { CallCounter, createClients, createLimiters } from "../../src/providers/aws/clients.js";
import { RecordBatcher } from "../../src/providers/aws/routing.js";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";

/** What a controller sees of AWS's errors: the reason, and whether it is retried. */
describe("AWS errors: classified, retried where they pass (strict endpoint)", function () {
  this.timeout(180_000);
  const s = useStrictGroup();
  after(() => {
    s.aws.proxy.policy = () => undefined;
  });

  const spec = { image: "example/web:1", port: 8080, replicas: 1 };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it("ExpiredToken is retried (temporary credentials renew), not a terminal permission error", async () => {
    s.aws.proxy.policy = ({ action }) => (action === "RunInstances" ? "expired" : undefined);
    const app = s.h.app("web", spec);
    const err = await failure(s.h.provider.reconcileApp(app, s.h.group));
    assert.ok(err instanceof ProviderUnavailableError, String(err));
    assert.equal(err.reason, "CredentialsExpired");
    s.aws.proxy.policy = () => undefined;
    assert.equal((await s.h.settle(app)).converged, true);
  });

  it("a refused ELBv2 call names the IAM action elasticloadbalancing:", async () => {
    s.aws.proxy.policy = ({ action }) => (action === "CreateRule" ? "denied" : undefined);
    const err = await failure(s.h.provider.reconcileApp(s.h.app("web", spec), s.h.group));
    assert.ok(err instanceof TerminalError, String(err));
    assert.match(err.message, /grant elasticloadbalancing:CreateRule/);
  });

  it("TooManyRules leaves the app running, waiting with RuleLimitReached, and its rule is made once one is free", async () => {
    s.aws.proxy.rules = { ...s.aws.proxy.rules, rulesPerLoadBalancer: 1 };
    const one = s.h.app("one", spec);
    assert.equal((await s.h.settle(one)).converged, true);
    const two = s.h.app("two", spec);
    const limited = await s.h.settle(two, 3);
    assert.equal(limited.converged, false);
    assert.equal(limited.waiting?.reason, "RuleLimitReached", JSON.stringify(limited.waiting));
    assert.match(limited.waiting?.message ?? "", /remove an app of this group/);
    // The rest of its plan went on: its instance runs, so a freed rule is all it needs.
    assert.deepEqual(await s.h.running(two), ["0"]);
    for (let pass = 0; pass < 8 && !(await s.h.provider.finalizeApp(one, s.h.group)); pass++)
      s.h.provider.forget("us-east-1");
    s.h.provider.forget("us-east-1");
    const freed = await s.h.settle(two);
    assert.equal(freed.converged, true, JSON.stringify(freed.waiting));
    assert.equal(freed.waiting, undefined);
  });

  it("a Route 53 batch refused for one record is sent again change by change", async () => {
    const clients = createClients({
      region: "us-east-1",
      env: s.aws.env,
      counter: new CallCounter(),
      limiters: createLimiters(),
    });
    const zone = await clients.route53.send(
      new CreateHostedZoneCommand({ Name: "batch.example.com", CallerReference: "batch" }),
    );
    const zoneId = (zone.HostedZone?.Id ?? "").replace("/hostedzone/", "");
    s.aws.proxy.policy = ({ service, body }) =>
      service === "route53" && body.includes("bad.batch") ? "invalid-change" : undefined;
    const batcher = new RecordBatcher(() => clients, 10);
    const record = (name: string) => ({
      Action: "UPSERT" as const,
      ResourceRecordSet: {
        Name: `${name}.batch.example.com.`,
        Type: "A" as const,
        TTL: 60,
        ResourceRecords: [{ Value: "192.0.2.1" }],
      },
    });
    const [good, bad] = await Promise.allSettled([
      batcher.change(zoneId, record("good")),
      batcher.change(zoneId, record("bad")),
    ]);
    assert.equal(good?.status, "fulfilled", JSON.stringify(good));
    assert.equal(bad?.status, "rejected");
    const names = (
      await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }))
    ).ResourceRecordSets?.map((r) => r.Name);
    assert.ok(names?.includes("good.batch.example.com."), JSON.stringify(names));
  });
});
