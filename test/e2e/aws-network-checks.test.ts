import { strict as assert } from "node:assert";
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeSubnetsCommand,
  ModifySubnetAttributeCommand,
} from "@aws-sdk/client-ec2";
import { ListTagsForResourceCommand } from "@aws-sdk/client-route-53";
import { ProviderUnavailableError, TerminalError } from "../../src/errors.js";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

/** Subnets and zones a group's network may use, and the clear refusals when it cannot. */
describe("AWS subnets and zones (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;

  before(async function () {
    aws = await requireStrictAws(this);
  });
  beforeEach(() => aws.reset());

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it("a VPC smaller than /23 is refused with a clear terminal message", async () => {
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { create: { cidr: "10.50.0.0/25" } } });
    const err = await failure(h.provider.reconcileGroup(h.group));
    assert.ok(err instanceof TerminalError, String(err));
    assert.equal(err.reason, "InvalidVpcCidr");
    assert.match(err.message, /10\.50\.0\.0\/25 must be \/16 to \/23/);
  });

  it("an existing VPC without public subnets says why the group is not ready", async () => {
    const { ec2 } = new StrictHarness(aws).inspect;
    const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: "10.60.0.0/16" }))).Vpc?.VpcId ?? "";
    for (const [i, zone] of ["us-east-1a", "us-east-1b"].entries())
      await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.60.${i}.0/24`, AvailabilityZone: zone }));
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { id: vpcId } });
    const err = await failure(h.provider.reconcileGroup(h.group));
    assert.ok(err instanceof ProviderUnavailableError, String(err));
    assert.equal(err.reason, "NoPublicSubnets");
    assert.match(err.message, /no route to an internet gateway/);
  });

  it("a CreateHostedZone whose answer is lost: the zone of its caller reference is adopted and tagged, not made twice", async () => {
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { id: "default" }, domain: "Lost.Example.com" });
    aws.proxy.loseAnswerOf = "route53:POST /2013-04-01/hostedzone";
    await h.reconcileGroup();
    const zones = (await h.inspect.zones()).filter((z) => z.Name === "lost.example.com.");
    assert.equal(zones.length, 1, JSON.stringify(zones));
    const id = zones[0]?.Id?.replace("/hostedzone/", "");
    assert.equal(h.group.status?.aws?.hostedZoneId, id);
    const tags = await h.inspect.route53.send(
      new ListTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: id }),
    );
    assert.ok(tags.ResourceTagSet?.Tags?.some((t) => t.Key === "airloft.dev/instance"));
  });

  it("own subnets are in zones that offer the instance type, and keep mapping public addresses", async () => {
    const h = new StrictHarness(aws, { region: "us-east-1", vpc: { create: { cidr: "10.70.0.0/16" } } });
    await h.reconcileGroup();
    const ids = h.group.status?.aws?.subnetIds ?? [];
    const subnets = async () =>
      (await h.inspect.ec2.send(new DescribeSubnetsCommand({ SubnetIds: ids }))).Subnets ?? [];
    const offerings = await h.inspect.ec2.send(
      new DescribeInstanceTypeOfferingsCommand({
        LocationType: "availability-zone",
        Filters: [{ Name: "instance-type", Values: ["t3.micro"] }],
      }),
    );
    const offered = new Set(offerings.InstanceTypeOfferings?.map((o) => o.Location));
    for (const s of await subnets()) {
      assert.ok(offered.has(s.AvailabilityZone), `${s.AvailabilityZone} does not offer t3.micro`);
      assert.equal(s.MapPublicIpOnLaunch, true);
    }
    // Changed outside AirLoft: the next pass sets it back.
    await h.inspect.ec2.send(
      new ModifySubnetAttributeCommand({ SubnetId: ids[0], MapPublicIpOnLaunch: { Value: false } }),
    );
    h.provider.forget("us-east-1");
    await h.reconcileGroup();
    for (const s of await subnets()) assert.equal(s.MapPublicIpOnLaunch, true, s.SubnetId);
  });
});
