import { strict as assert } from "node:assert";
import { DescribeSubnetsCommand, DescribeVpcsCommand } from "@aws-sdk/client-ec2";
import { Registry } from "prom-client";
import { observeAws } from "../../src/metrics/aws.js";
import { AwsProvider } from "../../src/providers/aws/provider.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { FaultProxy } from "../../support/fault-proxy.js";
import { requireAws } from "../support/e2e.js";

describe("metrics: AWS calls by operation and result, and throttles, against moto", function () {
  this.timeout(60_000);
  let proxy: FaultProxy;
  let provider: AwsProvider;
  let registry: Registry;

  before(async function () {
    const aws = await requireAws(this);
    proxy = new FaultProxy(aws.endpoint);
    await proxy.start();
    provider = new AwsProvider({ instanceId: "metrics", env: { ...aws.env, AWS_ENDPOINT_URL: proxy.url } });
    registry = new Registry();
    observeAws(registry, new ProviderRegistry({ instanceId: "metrics", aws: provider }));
  });

  after(() => proxy?.stop());

  it("counts a call throttled twice then answered as one ok call and two throttles", async () => {
    let throttled = 0;
    proxy.policy = ({ action }) => (action === "DescribeVpcs" && throttled++ < 2 ? "throttle" : undefined);
    await provider.clients("us-east-1").ec2.send(new DescribeVpcsCommand({}));
    const text = await registry.metrics();
    assert.match(text, /^airloft_aws_calls_total\{operation="ec2:DescribeVpcs",result="ok"\} 1$/m);
    assert.match(text, /^airloft_aws_throttles_total\{operation="ec2:DescribeVpcs"\} 2$/m);
  });

  it("counts a refused call under its error's class", async () => {
    proxy.policy = ({ action }) => (action === "DescribeSubnets" ? "denied" : undefined);
    await assert.rejects(provider.clients("us-east-1").ec2.send(new DescribeSubnetsCommand({})));
    const text = await registry.metrics();
    assert.match(text, /^airloft_aws_calls_total\{operation="ec2:DescribeSubnets",result="permission"\} 1$/m);
    assert.doesNotMatch(text, /airloft_aws_throttles_total\{operation="ec2:DescribeSubnets"\}/);
  });
});
