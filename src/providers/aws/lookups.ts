import {
  DescribeAvailabilityZonesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type Filter,
  type RouteTable,
  type Subnet,
} from "@aws-sdk/client-ec2";
import type { ResourceRecordSet } from "@aws-sdk/client-route-53";
import {
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  ListTagsForResourceCommand,
} from "@aws-sdk/client-route-53";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { ProviderUnavailableError } from "../../errors.js";
import type { AwsClients } from "./clients.js";
import { tagRecord } from "./names.js";

// One-off reads of AWS facts a group needs: DNS zones and records, a foreign VPC, the AMI, the zones.

export async function listRecords(clients: AwsClients, zoneId: string): Promise<ResourceRecordSet[]> {
  const records: ResourceRecordSet[] = [];
  let start: {
    StartRecordName?: string | undefined;
    StartRecordType?: ResourceRecordSet["Type"] | undefined;
    StartRecordIdentifier?: string;
  } = {};
  for (;;) {
    const page = await clients.route53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, MaxItems: 300, ...start }),
    );
    records.push(...(page.ResourceRecordSets ?? []));
    if (!page.IsTruncated) return records;
    start = {
      StartRecordName: page.NextRecordName,
      StartRecordType: page.NextRecordType,
      ...(page.NextRecordIdentifier ? { StartRecordIdentifier: page.NextRecordIdentifier } : {}),
    };
  }
}

/** The hosted zone's ownership tags. */
export async function hostedZoneTags(clients: AwsClients, zoneId: string): Promise<Record<string, string>> {
  const request = new ListTagsForResourceCommand({ ResourceType: "hostedzone", ResourceId: zoneId });
  const out = await clients.route53.send(request);
  return tagRecord(out.ResourceTagSet?.Tags);
}

/**
 * The public hosted zone whose name is exactly `domain`, if any (a private zone of the same name
 * answers only inside its VPCs: the load balancer's record must be public). With `callerReference`,
 * only the zone that a create with that reference made.
 */
export async function findZone(
  clients: AwsClients,
  domain: string,
  callerReference?: string,
): Promise<string | undefined> {
  const lower = domain.toLowerCase();
  const name = lower.endsWith(".") ? lower : `${lower}.`;
  const out = await clients.route53.send(new ListHostedZonesByNameCommand({ DNSName: name, MaxItems: 20 }));
  const zone = out.HostedZones?.find(
    (z) =>
      z.Name?.toLowerCase() === name &&
      z.Config?.PrivateZone !== true &&
      (callerReference === undefined || z.CallerReference === callerReference),
  );
  return zone?.Id?.replace(/^\/hostedzone\//, "");
}

/** A VPC AirLoft does not own (the default one or one given by id) and its public subnets, one per zone. */
export async function describeForeignVpc(
  clients: AwsClients,
  vpcId: string | "default",
): Promise<{ vpcId: string; subnetIds: string[] }> {
  const filters: Filter[] =
    vpcId === "default" ? [{ Name: "is-default", Values: ["true"] }] : [{ Name: "vpc-id", Values: [vpcId] }];
  const vpc = (await clients.ec2.send(new DescribeVpcsCommand({ Filters: filters }))).Vpcs?.[0];
  if (!vpc?.VpcId)
    throw Object.assign(
      new Error(
        vpcId === "default"
          ? "the region has no default VPC; set spec.aws.vpc.create or an id"
          : `VPC ${vpcId} does not exist`,
      ),
      { name: "InvalidVpcID.NotFound" },
    );
  const inVpc = [{ Name: "vpc-id", Values: [vpc.VpcId] }];
  const [subnets, tables] = await Promise.all([
    clients.ec2.send(new DescribeSubnetsCommand({ Filters: inVpc })).then((o) => o.Subnets ?? []),
    clients.ec2.send(new DescribeRouteTablesCommand({ Filters: inVpc })).then((o) => o.RouteTables ?? []),
  ]);
  const why = new Map<string, string>();
  // One public subnet per availability zone, so instances and the load balancer spread across zones.
  const byZone = new Map<string, string>();
  for (const s of subnets.sort((a, b) => (a.SubnetId ?? "").localeCompare(b.SubnetId ?? ""))) {
    const reason = privateReason(s, tables);
    if (reason) why.set(s.SubnetId ?? "", reason);
    else if (s.AvailabilityZone && s.SubnetId && !byZone.has(s.AvailabilityZone))
      byZone.set(s.AvailabilityZone, s.SubnetId);
  }
  if (byZone.size < 2) {
    const detail = [...why].map(([id, reason]) => `${id} ${reason}`).join("; ");
    throw new ProviderUnavailableError(
      "NoPublicSubnets",
      `VPC ${vpc.VpcId} has public subnets in ${byZone.size} availability zone(s); the load balancer needs two` +
        `${detail ? ` (${detail})` : ""}; AirLoft creates no NAT gateway, so instances need public subnets`,
    );
  }
  return { vpcId: vpc.VpcId, subnetIds: [...byZone.values()].sort() };
}

/** Why a subnet is not public: no route to an internet gateway, or no public address for instances. */
export function privateReason(subnet: Subnet, tables: readonly RouteTable[]): string | undefined {
  const id = subnet.SubnetId;
  const own = tables.find((t) => t.Associations?.some((a) => a.SubnetId === id));
  const table = own ?? tables.find((t) => t.Associations?.some((a) => a.Main));
  const toGateway = table?.Routes?.some(
    (r) => r.DestinationCidrBlock === "0.0.0.0/0" && (r.GatewayId ?? "").startsWith("igw-") && r.State !== "blackhole",
  );
  if (!toGateway) return "has no route to an internet gateway";
  if (!subnet.MapPublicIpOnLaunch) return "gives instances no public address (MapPublicIpOnLaunch)";
  return undefined;
}

/** The public parameter AWS keeps pointed at the newest Amazon Linux 2023 image for x86_64. */
export const AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

/** The newest Amazon Linux 2023 image, the default AMI of every runtime template. */
export async function defaultAmi(clients: AwsClients): Promise<string> {
  const out = await clients.ssm.send(new GetParameterCommand({ Name: AL2023_PARAMETER }));
  const id = out.Parameter?.Value;
  if (!id?.startsWith("ami-"))
    throw Object.assign(new Error(`${AL2023_PARAMETER} names no image; set spec.ami`), {
      name: "InvalidAMIID.NotFound",
    });
  return id;
}

/**
 * The region's availability zones that are up and offer the instance type, sorted. Local and
 * Wavelength Zones are left out: they sort first and hold neither load balancers nor most types.
 */
export async function availabilityZones(clients: AwsClients, instanceType = "t3.micro"): Promise<string[]> {
  const [zones, offerings] = await Promise.all([
    clients.ec2.send(
      new DescribeAvailabilityZonesCommand({
        Filters: [
          { Name: "state", Values: ["available"] },
          { Name: "zone-type", Values: ["availability-zone"] },
        ],
      }),
    ),
    clients.ec2.send(
      new DescribeInstanceTypeOfferingsCommand({
        LocationType: "availability-zone",
        Filters: [{ Name: "instance-type", Values: [instanceType] }],
      }),
    ),
  ]);
  const offered = new Set((offerings.InstanceTypeOfferings ?? []).map((o) => o.Location ?? ""));
  return (zones.AvailabilityZones ?? [])
    .filter((z) => z.ZoneType === undefined || z.ZoneType === "availability-zone")
    .map((z) => z.ZoneName ?? "")
    .filter((name) => name && offered.has(name))
    .sort();
}
