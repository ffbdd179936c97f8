import { strict as assert } from "node:assert";
import { CloudWatchClient, type MetricDatum, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { stringify } from "yaml";
import { targetGroupName } from "../../src/providers/aws/names.js";
import { AwsProvider } from "../../src/providers/aws/provider.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { Group } from "../../src/resources/types.js";
import { readStateFile } from "../../src/store/state-file.js";
import type { TestAws } from "../../support/moto.js";
import { AppWaiter } from "../support/app-waiter.js";
import { AwsInspector } from "../support/aws-inspect.js";
import { requireAws } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "scaleaws";
/** How often the test publishes datapoints. */
const TICK_S = 2;

function manifests(): string {
  const app = (name: string, autoscale: Record<string, number>) => ({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: GROUP },
    spec: { image: "example/web:1", port: 8080, healthCheck: { http: { path: "/healthz" } }, autoscale },
  });
  return [
    {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Group",
      metadata: { name: GROUP },
      spec: { provider: "aws", aws: { region: "us-east-1", vpc: { create: { cidr: "10.33.0.0/16" } } } },
    },
    // Room for 4 instances: the CPU app may take 3 while the other keeps 1.
    {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Quota",
      metadata: { name: "q", group: GROUP },
      spec: { hard: { replicas: 4 } },
    },
    app("cpu", { min: 1, max: 6, targetCPUUtilization: 30, scaleDownStabilizationSeconds: 5 }),
    app("api", { min: 1, max: 2, targetRequestsPerSecond: 5, scaleDownStabilizationSeconds: 5 }),
  ]
    .map((d) => stringify(d))
    .join("---\n");
}

/**
 * Autoscaling on AWS, on moto_server: moto's instances run nothing and publish no metrics, so the
 * test puts the datapoints into moto's CloudWatch (PutMetricData, AWS's own API) as EC2 and the
 * load balancer would, for the instances and the target group AirLoft made; the server reads them
 * with GetMetricData and scales through the same HPA maths and rollout path as on Docker.
 */
describe("autoscale on AWS (moto_server): CloudWatch's CPU and request figures, under the quota", function () {
  this.timeout(600_000);
  let aws: TestAws;
  let server: ServeProcess;
  let apps: AppWaiter;
  let admin: string;
  let cloudwatch: CloudWatchClient;
  let inspect: AwsInspector;
  /** What the publisher puts for each app now: CPU percent per instance, requests per second per target. */
  const load = new Map<string, { cpu?: number; requestsPerSecond?: number }>();
  let publishing: Promise<void> | undefined;
  let stopped = false;

  /**
   * As EC2 and ELB do, every TICK_S here: one datapoint per instance and per target group; the
   * request count is the tick's, so that CloudWatch's one-minute Sum is the minute's requests.
   */
  const publish = async (): Promise<void> => {
    const instanceId = (await readStateFile(server.state)).instanceId;
    const groups = await inspect.targetGroups();
    while (!stopped) {
      for (const [name, figures] of load) {
        const app = await apps.get(name);
        const data: MetricDatum[] = [];
        const now = new Date();
        if (figures.cpu !== undefined)
          for (const i of app.status?.instances ?? [])
            data.push({
              MetricName: "CPUUtilization",
              Dimensions: [{ Name: "InstanceId", Value: i.containerId }],
              Value: figures.cpu,
              Unit: "Percent",
              Timestamp: now,
            });
        if (data.length > 0)
          await cloudwatch.send(new PutMetricDataCommand({ Namespace: "AWS/EC2", MetricData: data }));
        if (figures.requestsPerSecond !== undefined) {
          const tgName = targetGroupName(instanceId, app.metadata.uid ?? "");
          let arn = groups.find((g) => g.TargetGroupName === tgName)?.TargetGroupArn;
          if (!arn) {
            groups.splice(0, groups.length, ...(await inspect.targetGroups()));
            arn = groups.find((g) => g.TargetGroupName === tgName)?.TargetGroupArn;
          }
          if (arn)
            await cloudwatch.send(
              new PutMetricDataCommand({
                Namespace: "AWS/ApplicationELB",
                MetricData: [
                  {
                    MetricName: "RequestCountPerTarget",
                    Dimensions: [{ Name: "TargetGroup", Value: arn.slice(arn.indexOf(":targetgroup/") + 1) }],
                    Value: figures.requestsPerSecond * TICK_S,
                    Unit: "Count",
                    Timestamp: now,
                  },
                ],
              }),
            );
        }
      }
      await new Promise((r) => setTimeout(r, TICK_S * 1000));
    }
  };

  before(async function () {
    aws = await requireAws(this);
    await aws.reset();
    inspect = new AwsInspector(aws);
    cloudwatch = new CloudWatchClient({
      endpoint: aws.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    });
    server = new ServeProcess(aws.env);
    await server.start(["--stats-interval", "1s"]);
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    apps = new AppWaiter(server, admin, GROUP);
    const applied = await server.api("POST", `${API_PREFIX}/apply`, admin, manifests());
    assert.equal(applied.status, 200, JSON.stringify(applied.json));
    await apps.until("cpu", (a) => a.status?.readyReplicas === 1, "ready instance");
    await apps.until("api", (a) => a.status?.readyReplicas === 1, "ready instance");
    publishing = publish();
  });

  after(async function () {
    this.timeout(240_000);
    stopped = true;
    await publishing?.catch(() => undefined);
    cloudwatch?.destroy();
    if (server?.url) await server.deleteGroups([GROUP]).catch((err: unknown) => console.error(String(err)));
    await server?.stop();
    server?.remove();
  });

  it("scales an app from 1 to 3 instances on their CPUUtilization, held by the quota, and back to 1 after the window", async () => {
    load.set("cpu", { cpu: 95 });
    const scaled = await apps.until("cpu", (a) => (a.status?.autoscale?.desiredReplicas ?? 0) >= 3, "scale-up to 3");
    assert.ok((scaled.status?.autoscale?.currentCPUUtilization ?? 0) > 30, JSON.stringify(scaled.status?.autoscale));
    const capped = await apps.until(
      "cpu",
      (a) => a.status?.conditions?.some((c) => c.type === "ScalingLimited" && c.reason === "QuotaExceeded") === true,
      "QuotaExceeded",
    );
    assert.equal(capped.status?.autoscale?.desiredReplicas, 3, "the quota leaves 3 of 4 instances");
    await apps.until("cpu", (a) => a.status?.readyReplicas === 3, "3 ready instances");
    const running = (await inspect.instances()).filter(
      (i) => i.tags["airloft.dev/name"] === "cpu" && i.state === "running",
    );
    assert.equal(running.length, 3, "three instances run on EC2");

    load.set("cpu", { cpu: 3 });
    const down = await apps.until("cpu", (a) => a.status?.autoscale?.desiredReplicas === 1, "scale-down to 1");
    assert.ok(down.status?.autoscale?.lastScaleTime);
    await apps.until("cpu", (a) => a.status?.instances?.length === 1, "one instance left");
    const log = await apps.events("cpu");
    assert.ok(
      log.some((e) => e.reason === "Scaled" && /scaled from 1 to 3 replicas: cpu \d+% of the instance/.test(e.message)),
      JSON.stringify(log),
    );
    assert.ok(
      log.some((e) => e.reason === "QuotaExceeded"),
      JSON.stringify(log),
    );
  });

  it("scales on the target group's RequestCountPerTarget", async () => {
    // 10/s per target against a target of 5/s per replica: 2 (the max).
    load.set("api", { requestsPerSecond: 10 });
    const scaled = await apps.until("api", (a) => a.status?.autoscale?.desiredReplicas === 2, "scale-up on requests");
    assert.ok((scaled.status?.autoscale?.currentRequestsPerSecond ?? 0) >= 5, JSON.stringify(scaled.status));
    load.set("api", { requestsPerSecond: 0.1 });
    await apps.until("api", (a) => a.status?.autoscale?.desiredReplicas === 1, "scale-down on requests");
  });

  it("reads all of a group's figures in one GetMetricData call, never one per instance, at most once a minute", async () => {
    const instanceId = (await readStateFile(server.state)).instanceId;
    const provider = new AwsProvider({ instanceId, env: aws.env });
    const group = (await server.api("GET", `${API_PREFIX}/groups/${GROUP}`, admin)).json as Group;
    const both = [await apps.get("cpu"), await apps.get("api")];
    const figures = await provider.scalingFigures(group, both);
    const calls = provider.calls.snapshot();
    assert.equal(calls["cloudwatch:GetMetricData"], 1, JSON.stringify(calls));
    assert.deepEqual(
      Object.keys(calls).filter((c) => !/^(cloudwatch:GetMetricData|elbv2:DescribeTargetGroups)$/.test(c)),
      [],
      JSON.stringify(calls),
    );
    const [cpu, api] = both;
    for (const i of cpu?.status?.instances ?? [])
      assert.ok(figures.get(cpu?.metadata.uid ?? "")?.cpuPercent.has(i.containerId), `a figure for ${i.containerId}`);
    assert.ok((figures.get(api?.metadata.uid ?? "")?.requestsPerSecondPerReplica ?? -1) >= 0);
    // Again within the minute, for the same instances: CloudWatch has no newer datapoint, nothing is asked.
    provider.calls.reset();
    assert.equal(await provider.scalingFigures(group, both), figures);
    assert.deepEqual(provider.calls.snapshot(), {});
  });
});
