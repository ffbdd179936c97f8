import { strict as assert } from "node:assert";
import { startEmbedded } from "../../src/cli/embedded.js";
import { QuotaController } from "../../src/controllers/quota.js";
import { AwsGroupRuns } from "../../src/jobs/aws-group-runs.js";
import { RunRefused } from "../../src/jobs/one-off.js";
import { runStarts } from "../../src/jobs/run-starts.js";
import { JobScheduler } from "../../src/jobs/scheduler.js";
import { CONSOLE_RETRY_MS, ConsoleCache } from "../../src/providers/aws/console-cache.js";
import type { ObservedTask, TaskInstances } from "../../src/providers/aws/task-types.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { InfraProvider } from "../../src/providers/types.js";
import { setCondition } from "../../src/resources/conditions.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import { loadTexts } from "../../src/resources/loader.js";
import { API_VERSION, type App, type Group } from "../../src/resources/types.js";
import { refusal } from "../../src/server/runs-api.js";
import type { Store } from "../../src/store/store.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { TestApi } from "../support/api.js";
import { fakeContext } from "../support/controller-context.js";
import { FakeClock } from "../support/fake-clock.js";
import { groupObject, manifest } from "../support/manifests.js";
import { useTempStore } from "../support/temp-store.js";

const group: Group = { apiVersion: API_VERSION, kind: "Group", metadata: { name: "acme" }, spec: { provider: "aws" } };
const task = (state: string): ObservedTask => ({
  instanceId: "i-1",
  taskId: "t1",
  state,
  launchTime: 0,
  owner: {
    instance: "x",
    group: "acme",
    kind: "Run",
    name: "web",
    uid: "u",
    configHash: undefined,
    replica: undefined,
  },
  tags: { "airloft.dev/run": "r1" },
});

/** Task instances of the project's own interface whose listings are counted and can be held open. */
function countingTasks() {
  const calls = { list: 0 };
  let release: (() => void) | undefined;
  const tasks = {
    list: async () => {
      calls.list++;
      if (release === undefined) return [task("running")];
      await new Promise<void>((r) => (release = r));
      return [task("running")];
    },
  } as unknown as TaskInstances;
  const free = () => {
    const r = release;
    release = undefined;
    r?.();
  };
  return { tasks, calls, hold: () => (release = () => undefined), free };
}

/** The pieces that keep reads of AWS runs bounded (src/jobs/aws-group-runs.ts, util/token-budgets.ts, aws/console-cache.ts). */
describe("AWS run reads: the shared listing, the console cache and the read budget", () => {
  it("a group's listing is shared while younger than a reader accepts, joined while in flight, and made again after a launch", async () => {
    const { tasks, calls, hold, free } = countingTasks();
    const runs = new AwsGroupRuns(tasks);
    await runs.listing(group, { maxAgeMs: 2_000, now: 0 });
    await runs.listing(group, { maxAgeMs: 2_000, now: 2_000 });
    assert.equal(calls.list, 1, "young enough");
    await runs.listing(group, { maxAgeMs: 2_000, now: 2_001 });
    assert.equal(calls.list, 2, "too old");

    hold();
    const waiting = Array.from({ length: 50 }, () => runs.listing(group, { maxAgeMs: 0, now: 9_000 }));
    free();
    await Promise.all(waiting);
    assert.equal(calls.list, 3, "fifty readers joined one listing in flight");

    const charged: string[] = [];
    const charge = () => void charged.push("x");
    await runs.listing(group, { maxAgeMs: 60_000, now: 9_000, charge });
    assert.deepEqual(charged, [], "nothing charged for a listing that is fresh");
    runs.changed(group);
    await runs.listing(group, { maxAgeMs: 60_000, now: 9_000, charge });
    assert.equal(calls.list, 4, "a terminate by this process makes the next read list again");
    assert.deepEqual(charged, ["x"]);
  });

  it("a launch counts at once until a listing shows it", async () => {
    const { tasks } = countingTasks();
    const runs = new AwsGroupRuns(tasks);
    const launched = {
      ...{ id: "i-2", name: "i-2", runId: "r2", group: "acme", app: "web", uid: "u" },
      ...{ job: undefined, scheduleTime: undefined, running: true, createdAt: 0 },
    };
    runs.launched(group, launched, 0);
    const running = await runs.running(group, { maxAgeMs: 60_000, now: 1 });
    assert.deepEqual(running.map((r) => r.runId).sort(), ["r1", "r2"]);
    assert.equal(runs.launchedRun(group, "r2", 1)?.app, "web");
  });

  it("an ended task's console is read once when its end marker is in it, again only after a while when it is not", async () => {
    const cache = new ConsoleCache();
    let reads = 0;
    const read = (text: string) => async () => {
      reads++;
      return text;
    };
    const early = "cloud-init: booting";
    assert.equal(await cache.text(task("terminated"), 0, read(early)), early);
    assert.equal(await cache.text(task("terminated"), CONSOLE_RETRY_MS - 1, read("x")), early);
    assert.equal(reads, 1);
    const done = "airloft-task t1 begin\nok\nairloft-task t1 exit=0";
    assert.equal(await cache.text(task("terminated"), CONSOLE_RETRY_MS, read(done)), done);
    for (let i = 0; i < 100; i++) await cache.text(task("terminated"), 10 ** 9, read("never"));
    assert.equal(reads, 2, "final once its marker is in");
    await cache.text(task("running"), 0, read("again"));
    assert.equal(reads, 3, "another state is read anew");
  });

  it("keeps at most 8 MiB of console text, all tenants together, dropping the oldest read first", async () => {
    const cache = new ConsoleCache();
    const big = "x".repeat(64 * 1024);
    let reads = 0;
    const read = async () => {
      reads++;
      return `${big}\nairloft-task t1 exit=0`;
    };
    const ended = (id: string) => ({ ...task("terminated"), instanceId: id });
    for (let i = 0; i < 200; i++) await cache.text(ended(`i-${i}`), 0, read);
    await cache.text(ended("i-199"), 0, read);
    assert.equal(reads, 200, "a recent one is kept");
    await cache.text(ended("i-0"), 0, read);
    assert.equal(reads, 201, "the oldest was dropped: 200 consoles of 64 KiB are more than the bound");
  });

  it("a read refused for its budget is a 429 with Retry-After in whole seconds; a refused start has none", () => {
    const over = refusal(new RunRefused(429, "TooManyRequests", "too many reads", 1_200));
    assert.deepEqual([over.status, over.reason, over.headers], [429, "TooManyRequests", { "retry-after": "2" }]);
    const quota = refusal(new RunRefused(409, "QuotaExceeded", "replicas 3 would exceed 2"));
    assert.deepEqual([quota.status, quota.headers], [409, {}]);
  });
});

const MANIFESTS = `
{apiVersion: airloft.dev/v1alpha1, kind: Group, metadata: {name: acme}, spec: {provider: docker}}
---
{apiVersion: airloft.dev/v1alpha1, kind: Quota, metadata: {name: q, group: acme}, spec: {hard: {replicas: 10}}}
`;

/** A one-off run's start recounts its group's quota at once, not at the next resync (src/jobs/run-starts.ts). */
describe("quota: a one-off start recounts it at once", () => {
  let store: Store;

  useTempStore("airloft-run-starts-", async (opened) => {
    store = opened;
    await store.apply(loadTexts([{ name: "m.yaml", content: MANIFESTS, baseDir: "." }]));
  });

  it("enqueues the group's Quota when a run starts through the loop's provider registry", async () => {
    const { ctx } = fakeContext(store);
    const options = { controllers: [new QuotaController(ctx)], resyncMs: 3_600_000 };
    const loop = startEmbedded(store, ctx.log, () => undefined, options, ctx.providers);
    const reconciled: string[] = [];
    loop.manager.events.on("reconciled", (key) => reconciled.push(key));
    const settle = async () => {
      for (let i = 0; i < 50 && loop.manager.queue.length > 0; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 20));
    };
    try {
      await settle();
      reconciled.length = 0;
      runStarts(ctx.providers).emit("started", "acme");
      await settle();
      assert.deepEqual(reconciled, ["Quota/acme/q"]);
      runStarts(ctx.providers).emit("started", "other");
      await settle();
      assert.deepEqual(reconciled, ["Quota/acme/q"], "another group's start recounts nothing here");
    } finally {
      await loop.stop();
    }
    assert.equal(runStarts(ctx.providers).listenerCount("started"), 0, "the loop stops listening when it stops");
  });
});

const TWO_AWS_GROUPS = ["broken", "fine"]
  .map(
    (g) => `
{apiVersion: airloft.dev/v1alpha1, kind: Group, metadata: {name: ${g}}, spec: {provider: aws}}
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata: {name: web, group: ${g}}
spec: {image: example/web:1, jobs: [{name: report, schedule: "* * * * *", command: [./r]}]}
`,
  )
  .join("---\n");

/** The job scheduler on AWS groups (src/jobs/scheduler.ts), through the provider contract's task capability. */
describe("job scheduler: AWS groups", () => {
  let store: Store;

  useTempStore("airloft-aws-scheduler-", async (opened) => {
    store = opened;
    await store.apply(loadTexts([{ name: "m.yaml", content: TWO_AWS_GROUPS, baseDir: "." }]));
    for (const g of ["broken", "fine"])
      await store.updateStatus(`Group//${g}`, (st) =>
        setCondition({ ...st }, { type: "Ready", status: "True", reason: "Converged", message: "" }, 1),
      );
  });

  it("a group whose listing fails holds no other group's jobs", async () => {
    const started: string[] = [];
    const tasks = {
      list: async (group: Group) => {
        if (group.metadata.name === "broken") throw new Error("RequestTimeout");
        return [];
      },
      start: async (_app: App, group: Group) => {
        started.push(group.metadata.name);
        return "i-1";
      },
    } as unknown as TaskInstances;
    const aws = Object.assign(new FakeProvider(), { name: "aws", tasks }) as unknown as InfraProvider;
    const { ctx } = fakeContext(store);
    const providers = new ProviderRegistry({ instanceId: "i", aws });
    const created = Date.parse(store.get("App/fine/web")?.metadata.creationTimestamp ?? "");
    const clock = new FakeClock(Math.ceil((created + 1) / 60_000) * 60_000 + 65_000);
    await new JobScheduler({ ...ctx, providers }, { clock }).tick();
    assert.deepEqual(started, ["fine"]);
  });
});

/** Each group's ended task instances, whose console is read (and charged) once each, as the provider's console cache has it. */
function endedRuns(count: number): TaskInstances {
  const read = new Set<string>();
  const ended = (group: string, i: number): ObservedTask => ({
    ...task("terminated"),
    instanceId: `i-${group}-${i}`,
    owner: { ...task("terminated").owner, group },
    tags: { "airloft.dev/run": `${group}-run-${i}` },
  });
  return {
    list: async (of: Group) => Array.from({ length: count }, (_, i) => ended(of.metadata.name, i)),
    result: async (_group: Group, t: ObservedTask, options: { beforeRead?: () => void }) => {
      if (!read.has(t.instanceId)) options.beforeRead?.();
      read.add(t.instanceId);
      return { phase: "succeeded", exitCode: 0, output: [] };
    },
  } as unknown as TaskInstances;
}

/** The AWS provider's tasks capability, on the fake of the project's own provider interface. */
class FakeAwsTasks extends FakeProvider {
  constructor(readonly tasks: TaskInstances) {
    super();
  }
}

describe("AWS run reads through the API server: a tenant past its read budget", () => {
  let api: TestApi;

  beforeEach(async () => {
    const providers = new ProviderRegistry({ instanceId: "t", aws: new FakeAwsTasks(endedRuns(20)) });
    api = await TestApi.start({ loop: { providers, control: async () => ({ ok: true, message: "" }) } });
    await api.store.apply([manifest(groupObject("acme", "aws")), manifest(groupObject("globex", "aws"))]);
  });
  afterEach(() => api.stop());

  /** A token of the group's own account. */
  const login = async (name: string) => {
    const admin = await api.adminToken();
    await api.call("PUT", `/api/accounts/groups/${name}`, { token: admin, body: { password: `${name}-password-1` } });
    return api.login({ group: name }, `${name}-password-1`);
  };

  it("answers 429 with Retry-After in whole seconds over HTTP, while another tenant reads on", async () => {
    const [acme, globex] = [await login("acme"), await login("globex")];
    const read = (group: string, i: number, token: string) =>
      api.call("GET", `${API_PREFIX}/groups/${group}/runs/${group}-run-${i}`, { token });
    // Each ended run's console is an EC2 read, charged to the reader: a burst of 10, then one each 2 s.
    const answers = [];
    for (let i = 0; i < 15; i++) {
      const answer = await read("acme", i, acme);
      answers.push(answer.status);
      if (answer.status !== 200) {
        assert.equal(answer.status, 429, answer.text);
        assert.equal(answer.body.reason, "TooManyRequests");
        const retryAfter = answer.headers.get("retry-after") ?? "";
        assert.match(retryAfter, /^[12]$/, "whole seconds, until the next read is free");
        break;
      }
    }
    assert.equal(answers.at(-1), 429, `answers: ${answers.join(" ")}`);
    assert.ok(answers.length >= 5, `a burst goes first: ${answers.join(" ")}`);
    const neighbour = await read("globex", 0, globex);
    assert.equal(neighbour.status, 200, neighbour.text);
    assert.equal((await read("globex", 0, acme)).status, 403, "another group's runs are not the tenant's to read");
  });
});
