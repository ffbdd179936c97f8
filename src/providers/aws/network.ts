import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteInternetGatewayCommand,
  DeleteRouteTableCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeRouteTablesCommand,
  DetachInternetGatewayCommand,
  DisassociateRouteTableCommand,
  type IpPermission,
  ModifySubnetAttributeCommand,
  type ResourceType,
  type TagSpecification,
} from "@aws-sdk/client-ec2";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  DeleteLoadBalancerCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { DeleteHostedZoneCommand } from "@aws-sdk/client-route-53";
import type { Group } from "../../resources/types.js";
import { ownerLabels } from "../ownership.js";
import type { AwsClients } from "./clients.js";
import { classifyAwsError } from "./errors.js";
import { loadBalancerName, securityGroupName, toTags } from "./names.js";
import { type AwsSnapshot, type ObservedLoadBalancer, ROLE_TAG } from "./observe.js";
import type { DuplicatePart, GroupOp, ObservedGroupNetwork, SecurityRole } from "./plan.js";
import { allowsPort } from "./plan-routing.js";

export function groupTags(group: Group, instanceId: string, role: string): Record<string, string> {
  return {
    ...ownerLabels({
      instance: instanceId,
      group: group.metadata.name,
      kind: "Group",
      name: group.metadata.name,
      uid: group.metadata.uid ?? "",
    }),
    [ROLE_TAG]: role,
    Name: `airloft-${group.metadata.name}-${role}`,
  };
}

function tagSpec(type: ResourceType, tags: Record<string, string>): TagSpecification[] {
  return [{ ResourceType: type, Tags: toTags(tags) }];
}

/** Ingress from anywhere on 80 and 443: the load balancer's security group. */
const PUBLIC_WEB: IpPermission[] = [80, 443].map((port) => ({
  IpProtocol: "tcp",
  FromPort: port,
  ToPort: port,
  IpRanges: [{ CidrIp: "0.0.0.0/0", Description: "AirLoft: public web" }],
}));

/** The part of a snapshot that belongs to one group's network. */
export function observedNetwork(
  snapshot: AwsSnapshot,
  group: Group,
  instanceId: string,
): ObservedGroupNetwork & { lb: ObservedLoadBalancer | undefined } {
  const uid = group.metadata.uid ?? "";
  const mine = <T extends { owner: { uid: string }; id: string }>(items: readonly T[]): T[] =>
    items.filter((i) => i.owner.uid === uid).sort((a, b) => a.id.localeCompare(b.id));
  // A create retried after a crash can leave two of a part: keep the one in use, remove the rest.
  const duplicates: DuplicatePart[] = [];
  const subnets = mine(snapshot.subnets);
  const vpcs = mine(snapshot.vpcs).filter((v) => v.role === "vpc");
  const vpc = vpcs.find((v) => subnets.some((s) => s.vpcId === v.id)) ?? vpcs[0];
  const keptSubnets = new Map<string, string>();
  const publicIp = new Map(subnets.map((s) => [s.id, s.mapPublicIp]));
  for (const s of subnets) {
    if (s.vpcId === vpc?.id && s.role && !keptSubnets.has(s.role)) keptSubnets.set(s.role, s.id);
    else duplicates.push({ kind: "subnet", id: s.id });
  }
  for (const v of vpcs)
    if (v !== vpc && !subnets.some((s) => s.vpcId === v.id)) duplicates.push({ kind: "vpc", id: v.id });
  const gateways = mine(snapshot.internetGateways);
  const igw = gateways.find((g) => vpc && g.vpcIds.includes(vpc.id)) ?? gateways[0];
  for (const g of gateways) if (g !== igw) duplicates.push({ kind: "internet-gateway", id: g.id, vpcIds: g.vpcIds });
  const tables = mine(snapshot.routeTables);
  const table = tables.find((t) => t.subnetIds.length > 0) ?? tables[0];
  for (const t of tables) if (t !== table) duplicates.push({ kind: "route-table", id: t.id });
  const lb = snapshot.loadBalancers.find((l) => l.name === loadBalancerName(instanceId, uid));
  const securityGroups: Partial<Record<SecurityRole, { id: string; open: boolean }>> = {};
  for (const sg of mine(snapshot.securityGroups)) {
    const role = sg.role as SecurityRole | undefined;
    if (role === "lb" || role === "instances" || role === "services") {
      securityGroups[role] = {
        id: sg.id,
        open: role !== "lb" || [80, 443].every((p) => allowsPort(sg.ingress, p, { cidr: "0.0.0.0/0" })),
      };
    }
  }
  return {
    vpcId: vpc?.id,
    subnets: [...keptSubnets.entries()].map(([role, id]) => ({ id, role, mapPublicIp: publicIp.get(id) ?? false })),
    duplicates,
    internetGateway: igw ? { id: igw.id, vpcIds: igw.vpcIds } : undefined,
    routeTable: table
      ? {
          id: table.id,
          hasDefaultRoute: table.routes.some((r) => r.destination === "0.0.0.0/0" && r.gatewayId === igw?.id),
          subnetIds: table.subnetIds,
        }
      : undefined,
    securityGroups,
    loadBalancer: lb ? { arn: lb.arn, listenerPorts: lb.listeners.map((l) => l.port) } : undefined,
    lb,
  };
}

/** Removes a surplus copy of a network part, after what holds it in place. */
async function removeDuplicate(clients: AwsClients, part: DuplicatePart): Promise<void> {
  const { ec2 } = clients;
  switch (part.kind) {
    case "subnet":
      await ec2.send(new DeleteSubnetCommand({ SubnetId: part.id }));
      return;
    case "vpc":
      await ec2.send(new DeleteVpcCommand({ VpcId: part.id }));
      return;
    case "internet-gateway":
      for (const vpcId of part.vpcIds ?? [])
        if (vpcId) await ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: part.id, VpcId: vpcId }));
      await ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: part.id }));
      return;
    case "route-table":
      await deleteRouteTable(clients, part.id);
      return;
  }
}

async function deleteRouteTable(clients: AwsClients, id: string): Promise<void> {
  const table = (await clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [id] }))).RouteTables?.[0];
  for (const a of table?.Associations ?? [])
    if (a.RouteTableAssociationId && !a.Main)
      await clients.ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId }));
  await clients.ec2.send(new DeleteRouteTableCommand({ RouteTableId: id }));
}

/**
 * Runs one step of a group's network plan. A duplicate from a retried create is not an error:
 * the next observation adopts it; nor is a part already gone when the teardown removes it. A
 * part still in use when it is removed is (DependencyViolation): the reconcile retries later.
 */
export async function executeGroupOp(
  clients: AwsClients,
  group: Group,
  instanceId: string,
  op: GroupOp,
): Promise<void> {
  const teardown = op.op.startsWith("delete-");
  try {
    await (teardown ? removePart(clients, op) : buildPart(clients, group, instanceId, op));
  } catch (err) {
    const kind = classifyAwsError(err);
    if (kind === (teardown ? "not-found" : "conflict")) return;
    throw err;
  }
}

/** A teardown step: the group is being deleted. */
async function removePart(clients: AwsClients, op: GroupOp): Promise<void> {
  const { ec2, elb } = clients;
  switch (op.op) {
    case "delete-load-balancer":
      await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: op.arn }));
      return;
    case "delete-security-group":
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId: op.id }));
      return;
    case "delete-route-table":
      await deleteRouteTable(clients, op.id);
      return;
    case "delete-internet-gateway":
      await removeDuplicate(clients, { kind: "internet-gateway", id: op.id, vpcIds: op.vpcIds });
      return;
    case "delete-subnet":
      await ec2.send(new DeleteSubnetCommand({ SubnetId: op.id }));
      return;
    case "delete-vpc":
      await ec2.send(new DeleteVpcCommand({ VpcId: op.id }));
      return;
    case "delete-hosted-zone":
      await clients.route53.send(new DeleteHostedZoneCommand({ Id: op.id }));
      return;
    default:
      throw new Error(`${op.op} is not a removal`);
  }
}

/** A step that builds the network, or removes a surplus copy of one of its parts. */
async function buildPart(clients: AwsClients, group: Group, instanceId: string, op: GroupOp): Promise<void> {
  const { ec2, elb } = clients;
  const tags = (role: string) => groupTags(group, instanceId, role);
  switch (op.op) {
    case "remove-duplicate":
      await removeDuplicate(clients, op.part);
      return;
    case "create-vpc":
      await ec2.send(new CreateVpcCommand({ CidrBlock: op.cidr, TagSpecifications: tagSpec("vpc", tags("vpc")) }));
      return;
    case "create-subnet": {
      const out = await ec2.send(
        new CreateSubnetCommand({
          VpcId: op.vpcId,
          CidrBlock: op.cidr,
          AvailabilityZone: op.zone,
          TagSpecifications: tagSpec("subnet", tags(`subnet-${op.index}`)),
        }),
      );
      if (!out.Subnet?.SubnetId) throw new Error(`CreateSubnet ${op.cidr} returned no subnet`);
      return;
    }
    case "map-public-ip":
      // Public subnets: instances get an address to fetch their image or runtime.
      await ec2.send(new ModifySubnetAttributeCommand({ SubnetId: op.subnetId, MapPublicIpOnLaunch: { Value: true } }));
      return;
    case "create-internet-gateway":
      await ec2.send(new CreateInternetGatewayCommand({ TagSpecifications: tagSpec("internet-gateway", tags("igw")) }));
      return;
    case "attach-internet-gateway":
      await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: op.gatewayId, VpcId: op.vpcId }));
      return;
    case "create-route-table":
      await ec2.send(
        new CreateRouteTableCommand({ VpcId: op.vpcId, TagSpecifications: tagSpec("route-table", tags("routes")) }),
      );
      return;
    case "create-default-route":
      await ec2.send(
        new CreateRouteCommand({
          RouteTableId: op.routeTableId,
          DestinationCidrBlock: "0.0.0.0/0",
          GatewayId: op.gatewayId,
        }),
      );
      return;
    case "associate-route-table":
      await ec2.send(new AssociateRouteTableCommand({ RouteTableId: op.routeTableId, SubnetId: op.subnetId }));
      return;
    case "create-security-group":
      await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: securityGroupName(group.metadata.name, group.metadata.uid ?? "", op.role),
          Description: `AirLoft group ${group.metadata.name}: ${op.role}`,
          VpcId: op.vpcId,
          TagSpecifications: tagSpec("security-group", tags(op.role)),
        }),
      );
      return;
    case "open-load-balancer":
      await ec2.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: op.securityGroupId, IpPermissions: PUBLIC_WEB }),
      );
      return;
    case "create-load-balancer":
      await elb.send(
        new CreateLoadBalancerCommand({
          Name: loadBalancerName(instanceId, group.metadata.uid ?? ""),
          Subnets: [...op.subnetIds],
          SecurityGroups: [op.securityGroupId],
          Scheme: "internet-facing",
          Type: "application",
          Tags: toTags(tags("lb")),
        }),
      );
      return;
    case "create-listener": {
      const https = op.port === 443;
      const certificateArn = group.spec.aws?.certificateArn;
      await elb.send(
        new CreateListenerCommand({
          LoadBalancerArn: op.loadBalancerArn,
          Protocol: https ? "HTTPS" : "HTTP",
          Port: op.port,
          ...(https && certificateArn
            ? { Certificates: [{ CertificateArn: certificateArn }], SslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" }
            : {}),
          DefaultActions: [
            {
              Type: "fixed-response",
              FixedResponseConfig: {
                StatusCode: "404",
                ContentType: "text/plain",
                MessageBody: "no AirLoft app has this host name",
              },
            },
          ],
          Tags: toTags(tags(`listener-${op.port}`)),
        }),
      );
      return;
    }
    default:
      throw new Error(`${op.op} is not handled here`);
  }
}
