import { strict as assert } from "node:assert";
import { CreateHostedZoneCommand, ListResourceRecordSetsCommand } from "@aws-sdk/client-route-53";
import { ProviderUnavailableError, TerminalError } from "../../src/errors.js";
import { CallCounter, createClients, createLimiters } from "../../src/providers/aws/clients.js";
import { RecordBatcher } from "../../src/providers/aws/routing.js";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** What a controller sees of AWS's errors: the reason, and whether it is retried. */
describe("AWS errors: classified, retried where they pass (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;
  let h: StrictHarness;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  beforeEach(async () => {
    await aws.reset();
    aws.proxy.policy = () => undefined;
    h = new StrictHarness(aws);
    await h.reconcileGroup();
  });
  after(() => {
    aws.proxy.policy = () => undefined;
  });

  const spec = { image: "example/web:1", port: 8080, replicas: 1 };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it("ExpiredToken is retried (temporary credentials renew), not a terminal permission error", async () => {
    aws.proxy.policy = ({ action }) => (action === "RunInstances" ? "expired" : undefined);
    const app = h.app("web", spec);
    const err = await failure(h.provider.reconcileApp(app, h.group));
    assert.ok(err instanceof ProviderUnavailableError, String(err));
    assert.equal(err.reason, "CredentialsExpired");
    aws.proxy.policy = () => undefined;
    assert.equal((await h.settle(app)).converged, true);
  });

  it("a refused ELBv2 call names the IAM action elasticloadbalancing:", async () => {
    aws.proxy.policy = ({ action }) => (action === "CreateRule" ? "denied" : undefined);
    const err = await failure(h.provider.reconcileApp(h.app("web", spec), h.group));
    assert.ok(err instanceof TerminalError, String(err));
    assert.match(err.message, /grant elasticloadbalancing:CreateRule/);
  });

  it("TooManyRules is an account limit, retried with backoff", async () => {
    aws.proxy.rules = { ...aws.proxy.rules, rulesPerLoadBalancer: 1 };
    assert.equal((await h.settle(h.app("one", spec))).converged, true);
    const err = await failure(h.provider.reconcileApp(h.app("two", spec), h.group));
    assert.ok(err instanceof ProviderUnavailableError, String(err));
    assert.equal(err.reason, "LimitExceeded");
  });

  it("a Route 53 batch refused for one record is sent again change by change", async () => {
    const clients = createClients({
      region: "us-east-1",
      env: aws.env,
      counter: new CallCounter(),
      limiters: createLimiters(),
    });
    const zone = await clients.route53.send(
      new CreateHostedZoneCommand({ Name: "batch.example.com", CallerReference: "batch" }),
    );
    const zoneId = (zone.HostedZone?.Id ?? "").replace("/hostedzone/", "");
    aws.proxy.policy = ({ service, body }) =>
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
