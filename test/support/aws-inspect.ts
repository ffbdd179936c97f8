import {
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Filter,
} from "@aws-sdk/client-ec2";
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ListHostedZonesCommand, ListResourceRecordSetsCommand, Route53Client } from "@aws-sdk/client-route-53";
import { tagRecord } from "../../src/providers/aws/names.js";
import type { TestAws } from "../../support/moto.js";

// The SDK warns on Node 20 about releases after the pinned one; noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** Reads the endpoint with plain SDK clients, independent of the provider under test. */
export class AwsInspector {
  readonly ec2: EC2Client;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly route53: Route53Client;

  constructor(aws: TestAws) {
    const config = {
      endpoint: aws.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    };
    this.ec2 = new EC2Client(config);
    this.elb = new ElasticLoadBalancingV2Client(config);
    this.route53 = new Route53Client(config);
  }

  /** Instances not terminated, with their tags as a record. */
  async instances(
    filters: Filter[] = [{ Name: "tag-key", Values: ["airloft.dev/uid"] }],
  ): Promise<Array<{ id: string; state: string; tags: Record<string, string>; subnetId: string; groups: string[] }>> {
    const out = await this.ec2.send(
      new DescribeInstancesCommand({
        Filters: [...filters, { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] }],
      }),
    );
    return (out.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .map((i) => ({
        id: i.InstanceId ?? "",
        state: i.State?.Name ?? "",
        tags: tagRecord(i.Tags),
        subnetId: i.SubnetId ?? "",
        groups: (i.SecurityGroups ?? []).map((g) => g.GroupId ?? ""),
      }));
  }

  async securityGroups() {
    return (
      (
        await this.ec2.send(
          new DescribeSecurityGroupsCommand({ Filters: [{ Name: "tag-key", Values: ["airloft.dev/uid"] }] }),
        )
      ).SecurityGroups ?? []
    );
  }

  async loadBalancers() {
    return (await this.elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? [];
  }

  async targetGroups() {
    return (await this.elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? [];
  }

  async targets(targetGroupArn: string): Promise<Map<string, string>> {
    const out = await this.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
    return new Map((out.TargetHealthDescriptions ?? []).map((d) => [d.Target?.Id ?? "", d.TargetHealth?.State ?? ""]));
  }

  async rules(loadBalancerArn: string) {
    const listeners =
      (await this.elb.send(new DescribeListenersCommand({ LoadBalancerArn: loadBalancerArn }))).Listeners ?? [];
    const rules = await Promise.all(
      listeners.map(
        async (l) => (await this.elb.send(new DescribeRulesCommand({ ListenerArn: l.ListenerArn }))).Rules ?? [],
      ),
    );
    return { listeners, rules: rules.flat() };
  }

  async zones() {
    return (await this.route53.send(new ListHostedZonesCommand({}))).HostedZones ?? [];
  }

  async records(zoneId: string) {
    return (
      (await this.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }))).ResourceRecordSets ?? []
    );
  }

  /** Everything that still carries an AirLoft tag, by kind: empty after a full delete. */
  async leftovers(): Promise<Record<string, number>> {
    const tagged: Filter[] = [{ Name: "tag-key", Values: ["airloft.dev/uid"] }];
    return {
      instances: (await this.instances()).length,
      vpcs: ((await this.ec2.send(new DescribeVpcsCommand({ Filters: tagged }))).Vpcs ?? []).length,
      subnets: ((await this.ec2.send(new DescribeSubnetsCommand({ Filters: tagged }))).Subnets ?? []).length,
      securityGroups: (await this.securityGroups()).length,
      internetGateways: (
        (await this.ec2.send(new DescribeInternetGatewaysCommand({ Filters: tagged }))).InternetGateways ?? []
      ).length,
      routeTables: ((await this.ec2.send(new DescribeRouteTablesCommand({ Filters: tagged }))).RouteTables ?? [])
        .length,
      loadBalancers: (await this.loadBalancers()).length,
      targetGroups: (await this.targetGroups()).length,
      hostedZones: (await this.zones()).length,
    };
  }
}
