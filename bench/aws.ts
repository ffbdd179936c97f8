/**
 * The control loop on AWS (moto_server on 127.0.0.1): N apps in a few groups, applied to a store
 * and converged by the real manager and AWS provider. API calls by operation and wall time for
 * the cold converge and for a no-op reconcile pass (a resync), against a naive baseline that
 * reads each object with its own Describe calls by id or name (as a tool that keeps every
 * resource's id in its state and refreshes each on every run does), measured in the same run
 * through the same counting clients. moto's DescribeInstances slows with the number of instances
 * (seconds per call at 1,000), so wall times here are moto's more than AirLoft's.
 * moto does not throttle, so the client-side rate limits are lifted here; the figures are calls
 * and the time the loop itself takes.
 * Usage: npx tsx bench/aws.ts [apps=1000] [groups=4]
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from "@aws-sdk/client-ec2";
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ListResourceRecordSetsCommand } from "@aws-sdk/client-route-53";
import { createProgress } from "../src/controllers/context.js";
import { Manager } from "../src/controllers/manager.js";
import { createLogger } from "../src/log.js";
import { targetGroupName } from "../src/providers/aws/names.js";
import { AwsProvider } from "../src/providers/aws/provider.js";
import { ProviderRegistry } from "../src/providers/registry.js";
import { isReadyAt } from "../src/resources/conditions.js";
import { loadManifests } from "../src/resources/loader.js";
import type { Group } from "../src/resources/types.js";
import { Store } from "../src/store/store.js";
import { stopMoto, useAws } from "../support/moto.js";
import { cost, peakRssMiB, writeResults } from "./lib/measure.js";

const APPS = Number(process.argv[2] ?? 1000);
const GROUPS = Number(process.argv[3] ?? 4);
const REGION = "us-east-1";

const aws = await useAws();
await aws.reset();
const dir = mkdtempSync(join(tmpdir(), "airloft-bench-aws-"));
const folder = join(dir, "manifests");
mkdirSync(folder);
for (let g = 0; g < GROUPS; g++) {
  writeFileSync(
    join(folder, `group-${g}.yaml`),
    `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: team-${g}}\nspec: {provider: aws, aws: {region: ${REGION}, vpc: {id: default}, domain: team-${g}.example.com}}\n`,
  );
}
for (let i = 0; i < APPS; i++) {
  writeFileSync(
    join(folder, `app-${i}.yaml`),
    `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: app-${i}, group: team-${i % GROUPS}}\nspec: {image: example/app:1, port: 8080, healthCheck: {http: {path: /healthz}}}\n`,
  );
}
const store = await Store.open(join(dir, "state.json"), { write: true, command: "bench" });
const unlimited = { perSecond: 100_000, burst: 100_000 };
const provider = new AwsProvider({
  instanceId: store.instanceId,
  env: aws.env,
  rates: { ec2: unlimited, elbv2: unlimited, route53: unlimited },
});
const manager = new Manager(
  {
    store,
    providers: new ProviderRegistry({ instanceId: store.instanceId, aws: provider }),
    log: createLogger({ level: "error" }),
    progress: createProgress(),
  },
  { resyncMs: 3_600_000, workers: 8, queue: { qps: 1000, burst: 1000 } },
);

const allReady = () => store.list().every((o) => isReadyAt(o));
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 100));
}

await store.apply(loadManifests([folder], { recursive: false }));
provider.calls.reset();
const cold = await cost(async () => {
  manager.start();
  await until(() => allReady() && manager.queue.busy === 0);
});
const coldCalls = provider.calls.snapshot();
const coldTotal = provider.calls.total;
process.stderr.write(`  cold converge: ${coldTotal} calls in ${cold.cost.wallMs} ms\n`);

// A resync: every object reconciled once more, with a fresh snapshot.
provider.forget(REGION);
provider.calls.reset();
const noop = await cost(async () => {
  manager.enqueueAll();
  await new Promise((r) => setTimeout(r, 50));
  await until(() => manager.queue.busy === 0);
});
const noopCalls = provider.calls.snapshot();
const noopTotal = provider.calls.total;
process.stderr.write(`  no-op pass: ${noopTotal} calls in ${noop.cost.wallMs} ms; now the naive reader\n`);

// The naive baseline: the same facts, read object by object.
provider.calls.reset();
const clients = provider.clients(REGION);
const groups = store.list({ kind: "Group" }) as Group[];
const naive = await cost(async () => {
  for (const group of groups) {
    const facts = group.status?.aws;
    await clients.ec2.send(new DescribeVpcsCommand({ VpcIds: [facts?.vpcId ?? ""] }));
    await clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: facts?.subnetIds ?? [] }));
    await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: Object.values(facts?.securityGroups ?? {}) }));
    await clients.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [facts?.loadBalancer?.arn ?? ""] }));
    const listeners =
      (await clients.elb.send(new DescribeListenersCommand({ LoadBalancerArn: facts?.loadBalancer?.arn }))).Listeners ??
      [];
    const apps = store.list({ group: group.metadata.name, kind: "App" });
    for (const app of apps) {
      const uid = app.metadata.uid ?? "";
      // By id, as a tool that keeps every resource's id in its state reads them.
      const ids = ((app.status as { instances?: Array<{ containerId: string }> } | undefined)?.instances ?? []).map(
        (i) => i.containerId,
      );
      await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
      const tg = (
        await clients.elb.send(new DescribeTargetGroupsCommand({ Names: [targetGroupName(store.instanceId, uid)] }))
      ).TargetGroups?.[0];
      await clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg?.TargetGroupArn }));
      for (const l of listeners)
        await clients.elb.send(new DescribeRulesCommand({ ListenerArn: l.ListenerArn, PageSize: 1 }));
      await clients.route53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: facts?.hostedZoneId,
          StartRecordName: `${app.metadata.name}.${group.spec.aws?.domain}`,
          StartRecordType: "A",
          MaxItems: 1,
        }),
      );
    }
  }
});
const naiveTotal = provider.calls.total;

await manager.stop();
await store.close();
rmSync(dir, { recursive: true, force: true });
await stopMoto();

const rows = [
  { pass: "cold converge (AirLoft)", calls: coldTotal, wallMs: cold.cost.wallMs, cpuMs: cold.cost.cpuMs },
  { pass: "no-op pass (AirLoft)", calls: noopTotal, wallMs: noop.cost.wallMs, cpuMs: noop.cost.cpuMs },
  { pass: "no-op read, naive per object", calls: naiveTotal, wallMs: naive.cost.wallMs, cpuMs: naive.cost.cpuMs },
];
console.log(
  `AWS control loop benchmark: ${APPS} apps in ${GROUPS} groups on moto_server, ${cpus().length} cores, Node ${process.version}, peak RSS ${peakRssMiB()} MiB`,
);
console.table(rows);
console.log("cold converge calls by operation:", coldCalls);
console.log("no-op pass calls by operation:", noopCalls);
const ratio = naiveTotal / Math.max(1, noopTotal);
console.log(
  `no-op pass: ${noopTotal} calls vs ${naiveTotal} naive (${ratio.toFixed(0)}x fewer); targets: at most 50 calls: ${noopTotal <= 50 ? "met" : "NOT met"}; at least 20x fewer: ${ratio >= 20 ? "met" : "NOT met"}`,
);
writeResults("aws", { apps: APPS, groups: GROUPS, rows, coldCalls, noopCalls });
