import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CreateVpcCommand,
  DescribeInstanceAttributeCommand,
  DescribeVpcsCommand,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { CreateRuleCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import { stringify } from "yaml";
import type { App, Group, Resource, Service } from "../../src/resources/types.js";
import type { TestAws } from "../../support/moto.js";
import { AwsInspector } from "../support/aws-inspect.js";
import { airloft } from "../support/cli.js";
import { requireAws } from "../support/e2e.js";
import { Workspace } from "../support/workspace.js";

const meta = (kind: string, name: string, group?: string) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind,
  metadata: group ? { name, group } : { name },
});
const groupDoc = {
  ...meta("Group", "shop"),
  spec: {
    provider: "aws",
    aws: { region: "us-east-1", vpc: { create: { cidr: "10.30.0.0/16" } }, domain: "shop.example.com" },
  },
};
const webDoc = (replicas: number, image = "example/web:1") => ({
  ...meta("App", "web", "shop"),
  spec: { image, port: 8080, replicas, env: { GREETING: "hello" }, healthCheck: { http: { path: "/healthz" } } },
});
const cacheDoc = { ...meta("Service", "cache", "shop"), spec: { template: "redis" } };
const apiDoc = {
  ...meta("App", "api", "shop"),
  spec: {
    runtime: "node",
    source: { url: "https://git.example.invalid/shop/api.git", ref: "main" },
    port: 3000,
    services: [{ name: "cache" }],
  },
};

describe("AWS provider end to end on moto_server", () => {
  let aws: TestAws;
  let inspect: AwsInspector;
  let ws: Workspace;
  let dir: string;

  const cli = (...args: string[]) => airloft(["--state", ws.state, ...args], { env: aws.env, cwd: ws.dir });
  const apply = async (docs: object[]) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "shop.yaml"), docs.map((d) => stringify(d)).join("---\n"));
    const r = await cli("apply", "-f", dir, "--timeout", "90s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return r;
  };
  const getJson = async <T extends Resource>(ref: string): Promise<T> => {
    const r = await cli("get", ref, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  const webInstances = async () => (await inspect.instances()).filter((i) => i.tags["airloft.dev/name"] === "web");
  const webTargetGroup = async (app: App) => {
    const tgs = await inspect.targetGroups();
    const rules = (await inspect.rules((await inspect.loadBalancers())[0]!.LoadBalancerArn!)).rules;
    const rule = rules.find((r) =>
      r.Conditions?.some((c) => c.HostHeaderConfig?.Values?.includes("web.shop.example.com")),
    );
    assert.ok(rule, `no host rule for web in ${JSON.stringify(rules)}`);
    const tg = tgs.find((t) => t.TargetGroupArn === rule.Actions?.[0]?.TargetGroupArn);
    assert.ok(tg, `rule for ${app.metadata.name} forwards to no target group`);
    return tg;
  };

  before(async function () {
    aws = await requireAws(this);
    await aws.reset();
    inspect = new AwsInspector(aws);
    ws = new Workspace();
    dir = join(ws.dir, "aws");
  });

  after(() => ws?.remove());

  it("converges a group with its own VPC and domain, three web replicas behind the load balancer, and a bound service", async function () {
    this.timeout(120_000);
    const r = await apply([groupDoc, webDoc(3), cacheDoc, apiDoc]);
    assert.match(r.stdout, /group:shop create-vpc/);

    const group = await getJson<Group>("group/shop");
    const facts = group.status?.aws;
    assert.ok(facts?.vpcId && facts.loadBalancer?.dnsName && facts.hostedZoneId, JSON.stringify(group.status));
    assert.equal(facts.subnetIds?.length, 2);

    // Instances: three, tagged at launch with the ownership keys, spread over both subnets.
    const instances = await webInstances();
    assert.equal(instances.length, 3);
    const web = await getJson<App>("app/shop/web");
    for (const i of instances) {
      assert.equal(i.tags["airloft.dev/group"], "shop");
      assert.equal(i.tags["airloft.dev/kind"], "App");
      assert.equal(i.tags["airloft.dev/uid"], web.metadata.uid);
      assert.match(i.tags["airloft.dev/config-hash"] ?? "", /^[0-9a-f]{12}$/);
      assert.deepEqual(i.groups, [facts.securityGroups?.instances]);
    }
    assert.deepEqual(instances.map((i) => i.tags["airloft.dev/replica"]).sort(), ["0", "1", "2"]);
    assert.deepEqual(new Set(instances.map((i) => i.subnetId)), new Set(facts.subnetIds));

    // Security groups: the web from anywhere to the load balancer, the app port only from it, the service only from instances.
    const sgs = new Map((await inspect.securityGroups()).map((g) => [g.GroupId, g]));
    const lbRules = sgs.get(facts.securityGroups?.loadBalancer)?.IpPermissions ?? [];
    assert.deepEqual(lbRules.map((p) => [p.FromPort, p.IpRanges?.[0]?.CidrIp]).sort(), [
      [443, "0.0.0.0/0"],
      [80, "0.0.0.0/0"],
    ]);
    const appRules = sgs.get(facts.securityGroups?.instances)?.IpPermissions ?? [];
    assert.deepEqual(
      appRules.map((p) => [p.FromPort, p.UserIdGroupPairs?.map((g) => g.GroupId), p.IpRanges ?? []]).sort(),
      [
        [3000, [facts.securityGroups?.loadBalancer], []],
        [8080, [facts.securityGroups?.loadBalancer], []],
      ],
    );
    const serviceRules = sgs.get(facts.securityGroups?.services)?.IpPermissions ?? [];
    assert.deepEqual(
      serviceRules.map((p) => [p.FromPort, p.UserIdGroupPairs?.map((g) => g.GroupId), p.IpRanges ?? []]),
      [[6379, [facts.securityGroups?.instances], []]],
    );

    // Load balancer, listener, host rule, target group with its health check and three healthy targets.
    const [lb] = await inspect.loadBalancers();
    assert.equal(lb?.DNSName, facts.loadBalancer.dnsName);
    const { listeners } = await inspect.rules(lb!.LoadBalancerArn!);
    assert.deepEqual(
      listeners.map((l) => [l.Port, l.Protocol]),
      [[80, "HTTP"]],
    );
    const tg = await webTargetGroup(web);
    assert.equal(tg.HealthCheckPath, "/healthz");
    assert.equal(tg.Port, 8080);
    const targets = await inspect.targets(tg.TargetGroupArn!);
    assert.deepEqual([...targets.keys()].sort(), instances.map((i) => i.id).sort());
    assert.ok([...targets.values()].every((s) => s === "healthy"));

    // Route 53: the group's zone and an alias for the app's host to the load balancer.
    const zone = (await inspect.zones()).find((z) => z.Name === "shop.example.com.");
    assert.ok(zone);
    const record = (await inspect.records(zone.Id!)).find(
      (rec) => rec.Name === "web.shop.example.com." && rec.Type === "A",
    );
    assert.equal(record?.AliasTarget?.DNSName?.replace(/\.$/, "").toLowerCase(), lb!.DNSName!.toLowerCase());

    // Status: instance ids and states, target health, the public URL.
    assert.deepEqual(web.status?.endpoints, ["http://web.shop.example.com"]);
    assert.equal(web.status?.readyReplicas, 3);
    assert.ok(
      web.status?.instances?.every(
        (i) => i.health === "healthy" && i.state === "running" && i.containerId.startsWith("i-"),
      ),
    );

    // The bound app's instance gets REDIS_URL aimed at the service instance's private address, as
    // an SSM parameter of its own folder: its user data holds the folder's path, not the value.
    const cache = await getJson<Service>("service/shop/cache");
    const cacheHost = cache.status?.host;
    assert.match(cacheHost ?? "", /^10\.30\.\d+\.\d+$/);
    const api = await getJson<App>("app/shop/api");
    const [apiInstance] = (await inspect.instances()).filter((i) => i.tags["airloft.dev/name"] === "api");
    const attr = await inspect.ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: apiInstance!.id, Attribute: "userData" }),
    );
    const userData = Buffer.from(attr.UserData?.Value ?? "", "base64").toString();
    assert.match(userData, /git clone --depth 1 --branch main https:\/\/git\.example\.invalid\/shop\/api\.git/);
    const ssm = new SSMClient({
      region: "us-east-1",
      endpoint: aws.endpoint,
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    });
    const params = await ssm.send(
      new GetParametersByPathCommand({ Path: "/airloft/", Recursive: true, WithDecryption: true }),
    );
    ssm.destroy();
    const param = (params.Parameters ?? []).find((p) => p.Name?.endsWith(`/shop/${api.metadata.uid}/env/REDIS_URL`));
    assert.ok(userData.includes(`--path ${param?.Name?.replace(/env\/REDIS_URL$/, "")} `));
    const url = Buffer.from((param?.Value ?? "").replace(/^v1:/, ""), "base64").toString();
    assert.match(url, new RegExp(`^redis://default:[^@"]+@${cacheHost!.replace(/\./g, "\\.")}:6379/0$`));
    // The password is in the parameter, never in the user data or AirLoft's output.
    const password = /redis:\/\/default:([^@"]+)@/.exec(url)?.[1] ?? "";
    assert.ok(password.length >= 16);
    assert.ok(!userData.includes(password));
    for (const out of [
      r.stdout,
      r.stderr,
      (await cli("get", "-o", "yaml")).stdout,
      (await cli("describe", "app/shop/api")).stdout,
    ])
      assert.ok(!out.includes(password));
  });

  it("a no-op re-apply changes nothing", async function () {
    this.timeout(60_000);
    const before = (await webInstances()).map((i) => i.id).sort();
    const r = await apply([groupDoc, webDoc(3), cacheDoc, apiDoc]);
    assert.doesNotMatch(r.stdout, /run-instance|terminate|create-/);
    assert.deepEqual((await webInstances()).map((i) => i.id).sort(), before);
  });

  it("diff plans nothing for the converged group, service and apps, and the first steps of a change", async function () {
    this.timeout(60_000);
    writeFileSync(
      join(dir, "shop.yaml"),
      [groupDoc, webDoc(3), cacheDoc, apiDoc].map((d) => stringify(d)).join("---\n"),
    );
    const same = await cli("diff", "-f", dir);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /^no changes$/m);
    writeFileSync(
      join(dir, "shop.yaml"),
      [
        {
          ...groupDoc,
          spec: {
            ...groupDoc.spec,
            aws: { ...groupDoc.spec.aws, certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/x" },
          },
        },
        webDoc(4),
        { ...cacheDoc, spec: { template: "redis", version: "6" } },
        apiDoc,
      ]
        .map((d) => stringify(d))
        .join("---\n"),
    );
    const changed = await cli("diff", "-f", dir);
    assert.equal(changed.code, 1, changed.stdout + changed.stderr);
    assert.match(changed.stdout, /^\s+~ group:shop create-listener 443$/m);
    assert.match(changed.stdout, /^\s+~ app:shop\/web:3 run-instance \(missing\)$/m);
    assert.match(changed.stdout, /^\s+~ service:shop\/cache:0 run-instance \(config changed\)$/m);
    assert.doesNotMatch(changed.stdout, /not compared/);
  });

  it("describe shows the instances as AWS has them now; logs reads each instance's console output", async () => {
    const described = await cli("describe", "app/shop/web");
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Instances \(on aws us-east-1 at http:\/\/127\.0\.0\.1:\d+ now\):$/m);
    assert.equal(described.stdout.match(/^\s+\d\s+i-\S+\s+running\s+healthy\s/gm)?.length, 3, described.stdout);
    const logs = await cli("logs", "app/shop/web");
    assert.equal(logs.code, 0, logs.stderr);
    // moto's console output is a fixed kernel boot log: each replica's, prefixed with its name.
    for (const replica of [0, 1, 2]) assert.match(logs.stdout, new RegExp(`^web-${replica} \\| Linux version `, "m"));
    const tail = await cli("logs", "app/shop/web", "--tail", "2");
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(tail.stdout.trim().split("\n").length, 6, tail.stdout);
    const cache = await cli("logs", "service/shop/cache", "--tail", "1");
    assert.equal(cache.code, 0, cache.stderr);
    assert.match(cache.stdout, /^cache-0 \| Enabling fast FPU save and restore\.\.\. done\.$/m);
    const later = await cli("logs", "app/shop/web", "--since", "2999-01-01T00:00:00Z");
    assert.equal(later.code, 0, later.stderr);
    assert.equal(later.stdout, "", "an output last updated before since is left out");
  });

  it("after a crash's leftovers: removes a second VPC, a second rule and a second instance of a replica, an orphan too; leaves what it did not tag alone", async function () {
    this.timeout(60_000);
    const [first] = await webInstances();
    const group = await getJson<Group>("group/shop");
    const web = await getJson<App>("app/shop/web");
    // What a crash between a create and its acknowledgement can leave: copies with the same tags.
    const vpc = (await inspect.ec2.send(new DescribeVpcsCommand({ VpcIds: [group.status!.aws!.vpcId!] }))).Vpcs![0]!;
    const copy = await inspect.ec2.send(
      new CreateVpcCommand({ CidrBlock: "10.31.0.0/16", TagSpecifications: [{ ResourceType: "vpc", Tags: vpc.Tags }] }),
    );
    const tg = await webTargetGroup(web);
    const [listener] = (await inspect.rules(group.status!.aws!.loadBalancer!.arn)).listeners;
    await inspect.elb.send(
      new CreateRuleCommand({
        ListenerArn: listener!.ListenerArn,
        Priority: 90,
        Conditions: [{ Field: "host-header", HostHeaderConfig: { Values: ["web.shop.example.com"] } }],
        Actions: [{ Type: "forward", TargetGroupArn: tg.TargetGroupArn }],
      }),
    );
    // An instance this installation labelled for an object that no longer exists.
    const orphanTags = { ...first!.tags, "airloft.dev/uid": "no-such-uid", "airloft.dev/name": "gone" };
    const orphan = await inspect.ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-12c6146b",
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [
          { ResourceType: "instance", Tags: Object.entries(orphanTags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    const foreign = await inspect.ec2.send(
      new RunInstancesCommand({ ImageId: "ami-12c6146b", MinCount: 1, MaxCount: 1 }),
    );
    // What a crash between a launch and its acknowledgement leaves: a second instance of replica 0.
    await inspect.ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-12c6146b",
        MinCount: 1,
        MaxCount: 1,
        SubnetId: first!.subnetId,
        TagSpecifications: [
          { ResourceType: "instance", Tags: Object.entries(first!.tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    assert.equal((await webInstances()).length, 4);
    const r = await apply([groupDoc, webDoc(3), cacheDoc, apiDoc]);
    assert.match(r.stdout, /terminate i-\S+ \(duplicate of replica 0\)/);
    const after = await webInstances();
    assert.equal(after.length, 3);
    assert.deepEqual(after.map((i) => i.tags["airloft.dev/replica"]).sort(), ["0", "1", "2"]);
    const foreignId = foreign.Instances?.[0]?.InstanceId ?? "";
    assert.equal((await inspect.instances([{ Name: "instance-id", Values: [foreignId] }])).length, 1);
    assert.equal(
      (await inspect.instances([{ Name: "instance-id", Values: [orphan.Instances![0]!.InstanceId!] }])).length,
      0,
      "the orphan is terminated",
    );
    const vpcs =
      (
        await inspect.ec2.send(
          new DescribeVpcsCommand({ Filters: [{ Name: "tag:airloft.dev/uid", Values: [group.metadata.uid!] }] }),
        )
      ).Vpcs ?? [];
    assert.deepEqual(
      vpcs.map((v) => v.VpcId),
      [group.status!.aws!.vpcId],
      `the copy ${copy.Vpc?.VpcId} is removed`,
    );
    const rules = (await inspect.rules(group.status!.aws!.loadBalancer!.arn)).rules.filter((r) =>
      r.Actions?.some((a) => a.TargetGroupArn === tg.TargetGroupArn),
    );
    assert.equal(rules.length, 1);
  });

  it("scales down, deregistering before terminating", async function () {
    this.timeout(60_000);
    const r = await apply([groupDoc, webDoc(2), cacheDoc, apiDoc]);
    assert.match(r.stdout, /app:shop\/web deregister i-\S+\n.*app:shop\/web terminate i-\S+ \(scale down\)/);
    const instances = await webInstances();
    assert.deepEqual(instances.map((i) => i.tags["airloft.dev/replica"]).sort(), ["0", "1"]);
    const tg = await webTargetGroup(await getJson<App>("app/shop/web"));
    assert.deepEqual([...(await inspect.targets(tg.TargetGroupArn!)).keys()].sort(), instances.map((i) => i.id).sort());
  });

  it("rolls an image change: new instances registered and healthy before the old ones go", async function () {
    this.timeout(60_000);
    const old = (await webInstances()).map((i) => i.id);
    const r = await apply([groupDoc, webDoc(2, "example/web:2"), cacheDoc, apiDoc]);
    const lines = r.stdout.split("\n");
    const registered = lines.findIndex((l) => /app:shop\/web register /.test(l));
    const deregistered = lines.findIndex((l) => /app:shop\/web deregister /.test(l));
    assert.ok(registered >= 0 && deregistered > registered, r.stdout);
    assert.ok(old.every((id) => lines[deregistered]!.includes(id)));
    const now = await webInstances();
    assert.equal(now.length, 2);
    assert.ok(now.every((i) => !old.includes(i.id)));
    const web = await getJson<App>("app/shop/web");
    assert.equal(web.status?.image, "example/web:2");
    const tg = await webTargetGroup(web);
    assert.deepEqual([...(await inspect.targets(tg.TargetGroupArn!)).keys()].sort(), now.map((i) => i.id).sort());
  });

  it("deleting the group removes everything AirLoft tagged, in dependency order", async function () {
    this.timeout(120_000);
    const r = await cli("delete", "group/shop", "--cascade", "--timeout", "90s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await inspect.leftovers(), {
      instances: 0,
      vpcs: 0,
      subnets: 0,
      securityGroups: 0,
      internetGateways: 0,
      routeTables: 0,
      loadBalancers: 0,
      targetGroups: 0,
      hostedZones: 0,
    });
    // The instance AirLoft never tagged is still there.
    assert.equal(
      (await inspect.instances([{ Name: "image-id", Values: ["ami-12c6146b"] }])).filter(
        (i) => !i.tags["airloft.dev/uid"],
      ).length,
      1,
    );
  });
});
