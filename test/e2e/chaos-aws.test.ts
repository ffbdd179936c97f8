import { strict as assert } from "node:assert";
import { namePrefix, targetGroupName } from "../../src/providers/aws/names.js";
import { LABEL } from "../../src/providers/ownership.js";
import { getCondition } from "../../src/resources/conditions.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import { type Fault, FaultProxy } from "../../support/fault-proxy.js";
import type { TestAws } from "../../support/moto.js";
import { AwsInspector } from "../support/aws-inspect.js";
import { chaosKills, chaosRandom, sleep } from "../support/chaos.js";
import { ChaosDriver, chaosApp, type StateFile } from "../support/chaos-driver.js";
import { requireAws } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "chaos";
const DOMAIN = "chaos.example.com";
const groupManifest = `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${GROUP}\nspec:\n  provider: aws\n  aws:\n    region: us-east-1\n    vpc:\n      id: default\n    domain: ${DOMAIN}\n`;
const appManifest = (name: string, replicas: number, version: number): string =>
  chaosApp(
    GROUP,
    name,
    `  image: example/${name}:1\n  replicas: ${replicas}\n  port: 8080\n  env:\n    VERSION: "${version}"\n`,
  );

/** Faults on a share of calls: mostly throttling, some 500 and 503. */
function faultsOn(
  share: number,
  random: () => number,
): (call: { service: string; action: string }) => Fault | undefined {
  return () => {
    if (random() >= share) return undefined;
    const pick = random();
    return pick < 0.6 ? "throttle" : pick < 0.8 ? "unavailable" : "internal";
  };
}

/**
 * Exactly the desired instances per app, each replica once; the load balancer's targets are the
 * app's instances; nothing tagged for an object the state file does not hold.
 */
async function checkAws(inspect: AwsInspector, driver: ChaosDriver, state: StateFile): Promise<number> {
  const instances = (await inspect.instances()).filter((i) => i.tags[LABEL.instance] === state.instanceId);
  const uids = ChaosDriver.uids(state);
  assert.deepEqual(
    instances.filter((i) => !uids.has(i.tags[LABEL.uid] ?? "")).map((i) => i.id),
    [],
    "instances no object owns",
  );
  // The group's network, once: one load balancer and its three security groups, no copies.
  const balancers = (await inspect.loadBalancers()).filter((b) =>
    (b.LoadBalancerName ?? "").startsWith(namePrefix(state.instanceId)),
  );
  assert.equal(balancers.length, 1, "load balancers");
  const securityGroups = (await inspect.securityGroups()).filter((g) =>
    g.Tags?.some((t) => t.Key === LABEL.instance && t.Value === state.instanceId),
  );
  assert.equal(securityGroups.length, 3, "security groups");
  const balancer = balancers[0];
  const rules = balancer?.LoadBalancerArn ? (await inspect.rules(balancer.LoadBalancerArn)).rules : [];
  const live = [...driver.expected].filter(([, want]) => !want.deleted);
  for (const [name, want] of driver.expected) {
    const mine = instances.filter((i) => i.tags[LABEL.kind] === "App" && i.tags[LABEL.name] === name);
    const replicas = want.deleted ? 0 : want.replicas;
    assert.equal(mine.length, replicas, `${name}: ${mine.length} instances for ${replicas} replicas`);
    assert.deepEqual(
      mine.map((i) => i.tags[LABEL.replica]).sort(),
      Array.from({ length: replicas }, (_, r) => String(r)),
      `${name}: replica numbers`,
    );
    if (want.deleted) continue;
    const rule = rules.find((r) =>
      r.Conditions?.some((c) => c.HostHeaderConfig?.Values?.includes(`${name}.${DOMAIN}`)),
    );
    const targetGroup = rule?.Actions?.[0]?.TargetGroupArn;
    assert.ok(targetGroup, `${name}: no host rule`);
    const targets = [...(await inspect.targets(targetGroup))]
      .filter(([, health]) => health !== "draining")
      .map(([id]) => id)
      .sort();
    assert.deepEqual(targets, mine.map((i) => i.id).sort(), `${name}: the targets are the app's instances`);
  }
  // One target group per live app, and none for a deleted one.
  const ours = (await inspect.targetGroups())
    .map((t) => t.TargetGroupName ?? "")
    .filter((n) => n.startsWith(namePrefix(state.instanceId)))
    .sort();
  const liveUids = live.map(([name]) => state.objects[`App/${GROUP}/${name}`]?.metadata.uid ?? "");
  assert.deepEqual(ours, liveUids.map((uid) => targetGroupName(state.instanceId, uid)).sort(), "target groups");
  return instances.length;
}

describe("chaos on AWS (moto_server behind a fault-injecting proxy)", function () {
  this.timeout(1_800_000);
  let aws: TestAws;
  let proxy: FaultProxy;
  let inspect: AwsInspector;
  let server: ServeProcess | undefined;

  before(async function () {
    aws = await requireAws(this);
    proxy = new FaultProxy(aws.endpoint);
    await proxy.start();
    inspect = new AwsInspector(aws);
  });

  beforeEach(async () => {
    await aws.reset();
    proxy.reset();
    proxy.policy = () => undefined;
  });

  afterEach(async () => {
    await server?.stop();
    server?.remove();
    server = undefined;
  });

  after(() => proxy?.stop());

  const serve = async (): Promise<ServeProcess> => {
    server = new ServeProcess({ ...aws.env, AWS_ENDPOINT_URL: proxy.url });
    await server.start();
    return server;
  };

  it("converges through throttling and 5xx answers, with no duplicate, in a bounded multiple of the calls", async () => {
    const random = chaosRandom("AWS faults");
    const clean = new ChaosDriver(await serve(), GROUP, appManifest, random);
    await clean.setUp(groupManifest, 3);
    await clean.converged(300_000);
    const faultFree = proxy.total();
    await checkAws(inspect, clean, await clean.checkStateFile());
    await server?.stop();

    await aws.reset();
    proxy.reset();
    proxy.policy = faultsOn(0.25, random);
    const faulted = new ChaosDriver(await serve(), GROUP, appManifest, random);
    await faulted.setUp(groupManifest, 3);
    await faulted.converged(600_000);
    const withFaults = proxy.total();
    proxy.policy = () => undefined;
    await checkAws(inspect, faulted, await faulted.checkStateFile());
    process.stdout.write(
      `      fault-free: ${faultFree} calls; with 25% faults: ${withFaults} calls, ${proxy.totalInjected()} faults injected (${JSON.stringify(Object.fromEntries(proxy.injected))}); ratio ${(withFaults / faultFree).toFixed(2)}\n`,
    );
    assert.ok(proxy.totalInjected() > 10, "faults were injected");
    assert.ok(withFaults <= 4 * faultFree, `calls with faults ${withFaults} > 4 x ${faultFree}`);
  });

  const kills = chaosKills(3);
  it(`survives ${kills} SIGKILLs with faults on: exact instances, targets, no leak, no lost write`, async () => {
    const random = chaosRandom("AWS kills");
    proxy.policy = faultsOn(0.1, random);
    const driver = new ChaosDriver(await serve(), GROUP, appManifest, random);
    await driver.setUp(groupManifest, 3);
    for (let i = 0; i < kills; i++) {
      await driver.change();
      await driver.killAfter(random() * 3000);
      await driver.checkStateFile();
    }
    await driver.restoreAll(300_000);
    await driver.killAfter(random() * 3000);
    await driver.converged(600_000);
    proxy.policy = () => undefined;
    const instances = await checkAws(inspect, driver, await driver.checkStateFile());
    process.stdout.write(
      `      ${driver.kills} kills survived across ${driver.changes} changes, ${proxy.totalInjected()} faults injected; ${instances} instances, all owned and as desired\n`,
    );

    // Killed during the deletion of the whole group: once gone, nothing tagged is left.
    proxy.policy = faultsOn(0.1, random);
    await driver.deleteGroupUnderKill(random() * 3000);
    const left = await inspect.leftovers();
    assert.deepEqual(
      Object.entries(left).filter(([, n]) => n > 0),
      [],
      JSON.stringify(left),
    );
  });

  it("an endpoint that throttles everything: the objects say Throttled, the loop backs off, and converges once it stops", async () => {
    proxy.policy = () => "throttle";
    const driver = new ChaosDriver(await serve(), GROUP, appManifest, chaosRandom("AWS throttled"));
    await driver.setUp(groupManifest, 1);
    const token = await driver.server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    let reason = "";
    for (let i = 0; i < 600 && reason !== "Throttled"; i++) {
      const group = (await driver.server.api("GET", `${API_PREFIX}/groups/${GROUP}`, token)).json as Resource;
      reason = getCondition(group.status, "Ready")?.reason ?? "";
      await sleep(250);
    }
    assert.equal(reason, "Throttled");
    // Backoff: the calls made while everything is refused grow slowly, not in a tight loop.
    const before = proxy.total();
    await sleep(5000);
    const during = proxy.total() - before;
    assert.ok(during < 40, `${during} calls in 5 s while throttled`);
    process.stdout.write(
      `      throttled: ${during} calls in 5 s while every call was refused (the SDK's retries and the queue's backoff)\n`,
    );
    proxy.policy = () => undefined;
    await driver.converged(300_000);
    await checkAws(inspect, driver, await driver.checkStateFile());
  });

  it("stops on a permission error without retrying it", async () => {
    proxy.policy = ({ action }) => (action === "RunInstances" ? "denied" : undefined);
    const driver = new ChaosDriver(await serve(), GROUP, appManifest, chaosRandom("AWS permission"));
    await driver.setUp(groupManifest, 1);
    const token = await driver.server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    let app: Resource | undefined;
    for (let i = 0; i < 600; i++) {
      app = (await driver.server.api("GET", `${API_PREFIX}/groups/${GROUP}/apps/app-0`, token)).json as Resource;
      if (getCondition(app.status, "Stalled")?.status === "True") break;
      await sleep(250);
    }
    const stalled = getCondition(app?.status, "Stalled");
    assert.equal(stalled?.reason, "PermissionDenied", JSON.stringify(app?.status));
    assert.match(stalled?.message ?? "", /RunInstances/);
    const attempts = proxy.calls.get("ec2:RunInstances") ?? 0;
    assert.ok(attempts >= 1 && attempts <= 2, `${attempts} RunInstances calls`);
    // Past a resync (5 s here): still no new attempt.
    await sleep(7000);
    assert.equal(proxy.calls.get("ec2:RunInstances") ?? 0, attempts, "a permission error was retried");
  });
});
