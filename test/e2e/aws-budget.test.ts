import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { AwsProvider } from "../../src/providers/aws/provider.js";
import { API_VERSION, type App, type Group } from "../../src/resources/types.js";
import type { TestAws } from "../../support/moto.js";
import { requireAws } from "../support/e2e.js";

const GROUPS = 3;
const APPS_PER_GROUP = 20;
/** A no-op pass reads one snapshot: a fixed number of list calls plus a few per group, never one per app. */
const BUDGET = 8 + 3 * GROUPS;

const group = (i: number): Group => ({
  apiVersion: API_VERSION,
  kind: "Group",
  metadata: { name: `team${i}`, uid: randomUUID(), generation: 1 },
  spec: { provider: "aws", aws: { region: "us-east-1", vpc: { id: "default" }, domain: `team${i}.example.com` } },
});
const app = (g: Group, i: number): App => ({
  apiVersion: API_VERSION,
  kind: "App",
  metadata: { name: `app${i}`, group: g.metadata.name, uid: randomUUID(), generation: 1 },
  spec: { image: `example/app${i}:1`, port: 8080, replicas: 1 },
});

/** The apps of the first group read a secret: their parameters and the group's role are read from caches. */
const secretsOf = (a: App) => ({
  env: { TOKEN: `token-of-${a.metadata.name}` },
  files: [],
  digest: "d1",
  hashes: { "env/TOKEN": `h-${a.metadata.name}` },
  missing: [],
});

async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

describe("AWS API budget of a no-op reconcile pass (moto_server, an SDK middleware counts)", () => {
  let aws: TestAws;

  before(async function () {
    aws = await requireAws(this);
    await aws.reset();
  });

  it(`stays within ${BUDGET} calls for ${GROUPS * APPS_PER_GROUP} apps in ${GROUPS} groups`, async function () {
    this.timeout(300_000);
    // The limits of the real API would make this cold start take minutes; the budget is about counts.
    const fast = { perSecond: 1000, burst: 1000 };
    const provider = new AwsProvider({
      instanceId: `budget-${randomUUID()}`,
      env: aws.env,
      snapshotMaxAgeMs: 60_000,
      rates: { ec2: fast, elbv2: fast, route53: fast, ssm: fast, iam: fast },
    });
    const groups = Array.from({ length: GROUPS }, (_, i) => group(i));
    for (const g of groups) g.status = await provider.reconcileGroup(g);
    const apps = groups.flatMap((g) => Array.from({ length: APPS_PER_GROUP }, (_, i) => ({ g, a: app(g, i) })));
    const pass = async () => {
      const operations: string[] = [];
      let converged = 0;
      await eachLimited(apps, 8, async ({ g, a }) => {
        const outcome = await provider.reconcileApp(a, g, g === groups[0] ? { secrets: secretsOf(a) } : {});
        operations.push(...outcome.operations);
        if (outcome.converged) converged++;
      });
      return { operations, converged };
    };
    const started = Date.now();
    const cold = await pass();
    process.stdout.write(
      `      cold pass over ${apps.length} apps: ${provider.calls.total} calls in ${Date.now() - started} ms\n`,
    );
    assert.ok(cold.operations.length >= apps.length * 3, "the cold pass creates target groups, rules and instances");
    assert.equal(cold.operations.filter((op) => / parameter .* put$/.test(op)).length, APPS_PER_GROUP);
    // Converged apps whose health was read during the cold pass.
    let settle = await pass();
    for (let i = 0; i < 3 && settle.converged < apps.length; i++) settle = await pass();
    assert.equal(settle.converged, apps.length);

    // A resync: the pass observes afresh, as it would once the snapshot has aged out.
    provider.forget("us-east-1");
    provider.calls.reset();
    const noop = await pass();
    assert.deepEqual(noop.operations, []);
    assert.equal(noop.converged, apps.length);
    const calls = provider.calls.snapshot();
    process.stdout.write(
      `      no-op pass over ${apps.length} apps: ${provider.calls.total} calls ${JSON.stringify(calls)}\n`,
    );
    assert.ok(
      provider.calls.total <= BUDGET,
      `${provider.calls.total} calls > budget ${BUDGET}: ${JSON.stringify(calls)}`,
    );
    assert.ok(
      !Object.keys(calls).some((k) => /Run|Create|Register|Change|Modify|Delete|Terminate|Put|Add/.test(k)),
      JSON.stringify(calls),
    );
  });
});
