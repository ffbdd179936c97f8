import { strict as assert } from "node:assert";
import {
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteLoadBalancerCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AL2023_PARAMETER } from "../../src/providers/aws/lookups.js";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { AwsInspector } from "../support/aws-inspect.js";
import { requireStrictAws } from "../support/e2e.js";

/** The strict proxy itself: each AWS rule it adds to moto, called with plain SDK clients. */
describe("the strict AWS test endpoint (moto behind support/strict-aws.ts)", function () {
  this.timeout(60_000);
  let aws: StrictTestAws;
  let ec2: EC2Client;
  let elb: ElasticLoadBalancingV2Client;
  const config = () => ({
    endpoint: aws.endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: { name?: string }) => e.name ?? "?",
    );
  const run = (token: string, type = "t3.micro") =>
    ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-12345678",
        InstanceType: type as never,
        MinCount: 1,
        MaxCount: 1,
        ClientToken: token,
      }),
    );

  before(async function () {
    aws = await requireStrictAws(this);
    ec2 = new EC2Client(config());
    elb = new ElasticLoadBalancingV2Client(config());
  });
  beforeEach(() => aws.reset());

  it("binds a ClientToken to its instance, also after termination", async () => {
    const first = (await run("token-1")).Instances?.[0]?.InstanceId;
    assert.equal((await run("token-1")).Instances?.[0]?.InstanceId, first, "the same instance again");
    assert.equal(await code(run("token-1", "t3.small")), "IdempotentParameterMismatch");
    await new AwsInspector(aws.moto).ec2.send(new TerminateInstancesCommand({ InstanceIds: [first ?? ""] }));
    assert.equal(await code(run("token-1")), "IdempotentInstanceTerminated");
  });

  it("does not show a just-launched instance by id at once", async () => {
    const id = (await run("token-2")).Instances?.[0]?.InstanceId ?? "";
    const describe = () => ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    assert.equal(await code(describe()), "InvalidInstanceID.NotFound");
    assert.equal(await code(describe()), "ok");
  });

  it("holds target groups, names and tags to AWS's limits; targets without a rule are unused", async () => {
    const vpcId = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? "";
    const tg = (timeout: number, name = "strict-tg") =>
      elb.send(
        new CreateTargetGroupCommand({
          Name: name,
          Protocol: "HTTP",
          Port: 80,
          VpcId: vpcId,
          HealthCheckTimeoutSeconds: timeout,
          HealthCheckIntervalSeconds: 30,
        }),
      );
    assert.equal(await code(tg(1)), "ValidationError");
    assert.equal(await code(tg(121)), "ValidationError");
    assert.equal(await code(tg(5, "a-name-longer-than-thirty-two-characters")), "ValidationError");
    const long = [{ Key: "k".repeat(129), Value: "v" }];
    assert.equal(
      await code(
        ec2.send(
          new RunInstancesCommand({
            ImageId: "ami-12345678",
            MinCount: 1,
            MaxCount: 1,
            TagSpecifications: [{ ResourceType: "instance", Tags: long }],
          }),
        ),
      ),
      "InvalidParameterValue",
    );
    const arn = (await tg(5)).TargetGroups?.[0]?.TargetGroupArn ?? "";
    const id = (await run("token-3")).Instances?.[0]?.InstanceId ?? "";
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: id }] }));
    const health = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    assert.equal(health.TargetHealthDescriptions?.[0]?.TargetHealth?.State, "unused");
  });

  it("caps rules per load balancer, and refuses deletes while a deleted load balancer's interfaces linger", async () => {
    aws.proxy.rules = { ...aws.proxy.rules, rulesPerLoadBalancer: 1 };
    const inspect = new AwsInspector(aws.moto);
    const subnets = (await inspect.ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? "";
    const { DescribeSubnetsCommand, CreateSecurityGroupCommand } = await import("@aws-sdk/client-ec2");
    const ids = (
      (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [subnets] }] }))).Subnets ?? []
    ).map((s) => s.SubnetId ?? "");
    const lb =
      (await elb.send(new CreateLoadBalancerCommand({ Name: "strict-lb", Subnets: ids.slice(0, 2) })))
        .LoadBalancers?.[0]?.LoadBalancerArn ?? "";
    const listener =
      (
        await elb.send(
          new CreateListenerCommand({
            LoadBalancerArn: lb,
            Protocol: "HTTP",
            Port: 80,
            DefaultActions: [{ Type: "fixed-response", FixedResponseConfig: { StatusCode: "404" } }],
          }),
        )
      ).Listeners?.[0]?.ListenerArn ?? "";
    const rule = (priority: number) =>
      elb.send(
        new CreateRuleCommand({
          ListenerArn: listener,
          Priority: priority,
          Conditions: [{ Field: "host-header", HostHeaderConfig: { Values: [`h${priority}.example.com`] } }],
          Actions: [{ Type: "fixed-response", FixedResponseConfig: { StatusCode: "200" } }],
        }),
      );
    assert.equal(await code(rule(1)), "ok");
    assert.match(await code(rule(2)), /^TooManyRules/);
    const sg =
      (
        await ec2.send(
          new CreateSecurityGroupCommand({ GroupName: "strict-sg", Description: "strict", VpcId: subnets }),
        )
      ).GroupId ?? "";
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb }));
    assert.equal(await code(ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg }))), "DependencyViolation");
    assert.equal(await code(ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg }))), "DependencyViolation");
    assert.equal(await code(ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg }))), "ok");
  });

  it("serves the Amazon Linux 2023 parameter, with the image a test sets", async () => {
    const ssm = new SSMClient(config());
    const value = async () => (await ssm.send(new GetParameterCommand({ Name: AL2023_PARAMETER }))).Parameter?.Value;
    assert.match((await value()) ?? "", /^ami-/);
    aws.proxy.latestAmi = "ami-0aaaaaaaaaaaaaaa1";
    assert.equal(await value(), "ami-0aaaaaaaaaaaaaaa1");
  });
});
