import {
  DescribeAvailabilityZonesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type Filter,
} from "@aws-sdk/client-ec2";
import type { ResourceRecordSet } from "@aws-sdk/client-route-53";
import {
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  ListTagsForResourceCommand,
} from "@aws-sdk/client-route-53";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
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

/** The hosted zone whose name is exactly `domain`, if any. */
export async function findZone(clients: AwsClients, domain: string): Promise<string | undefined> {
  const name = domain.endsWith(".") ? domain : `${domain}.`;
  const out = await clients.route53.send(new ListHostedZonesByNameCommand({ DNSName: name, MaxItems: 1 }));
  const zone = out.HostedZones?.find((z) => z.Name === name);
  return zone?.Id?.replace(/^\/hostedzone\//, "");
}

/** A VPC AirLoft does not own (the default one or one given by id) and its subnets. */
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
  const subnets =
    (await clients.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpc.VpcId] }] })))
      .Subnets ?? [];
  // One subnet per availability zone, so instances and the load balancer spread across zones.
  const byZone = new Map<string, string>();
  for (const s of subnets.sort((a, b) => (a.SubnetId ?? "").localeCompare(b.SubnetId ?? "")))
    if (s.AvailabilityZone && s.SubnetId && !byZone.has(s.AvailabilityZone)) byZone.set(s.AvailabilityZone, s.SubnetId);
  return { vpcId: vpc.VpcId, subnetIds: [...byZone.values()].sort() };
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

/** The region's availability zones that are up, sorted. */
export async function availabilityZones(clients: AwsClients): Promise<string[]> {
  const out = await clients.ec2.send(
    new DescribeAvailabilityZonesCommand({ Filters: [{ Name: "state", Values: ["available"] }] }),
  );
  return (out.AvailabilityZones ?? [])
    .map((z) => z.ZoneName ?? "")
    .filter(Boolean)
    .sort();
}
