import { strict as assert } from "node:assert";
import { createProgress, type Progress } from "../../src/controllers/context.js";
import { Manager, type ManagerOptions } from "../../src/controllers/manager.js";
import { ProviderUnavailableError, TerminalError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { getCondition, isReadyAt } from "../../src/resources/conditions.js";
import { type LoadedManifest, loadTexts } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { FakeClock } from "../support/fake-clock.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const at = { file: "m.yaml", line: 1, column: 1 };
const manifest = (object: Resource): LoadedManifest => ({ source: at, object });
const group = manifest({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: "acme" },
  spec: { provider: "docker" },
});
const app = (replicas: number) =>
  manifest({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme" },
    spec: { image: "busybox", replicas },
  });

/** Lets the manager's promise chains run, and fake time pass in small steps. */
async function run(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t <= ms; t += 50) {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    clock.advance(50);
  }
}

interface Loop {
  store: Store;
  provider: FakeProvider;
  clock: FakeClock;
  manager: Manager;
  progress: Progress[];
  stop(): Promise<void>;
}

/** A store in a temp folder and a manager on a fake clock and the fake provider. */
async function startLoop(options: ManagerOptions = {}): Promise<Loop> {
  const { dir, store } = await openTempStore("airloft-ctl-", { groupCommitMs: 0 });
  const provider = new FakeProvider();
  const clock = new FakeClock(Date.now());
  const progress: Progress[] = [];
  const events = createProgress();
  events.on("progress", (p) => progress.push(p));
  const ctx = {
    store,
    providers: new ProviderRegistry({ instanceId: "i", docker: provider, swarm: provider }),
    log: createLogger({ level: "error" }),
    progress: events,
  };
  const manager = new Manager(ctx, { clock, resyncMs: 10_000, jitter: 0, ...options });
  manager.start();
  return {
    store,
    provider,
    clock,
    manager,
    progress,
    async stop() {
      await manager.stop();
      await removeTempStore(store, dir);
    },
  };
}

describe("controllers and manager (fake provider)", () => {
  let loop: Loop;
  let store: Store;
  let provider: FakeProvider;
  let clock: FakeClock;
  let progress: Progress[];

  beforeEach(async () => {
    loop = await startLoop({ queue: { baseDelayMs: 100, maxDelayMs: 800 } });
    ({ store, provider, clock, progress } = loop);
  });
  afterEach(() => loop.stop());

  it("converges a group then its app, with Ready conditions at the current generation", async () => {
    await store.apply([group, app(2)]);
    await run(clock, 3000);
    const g = store.get("Group//acme");
    const a = store.get("App/acme/web");
    assert.ok(g && isReadyAt(g), JSON.stringify(g?.status));
    assert.ok(a && isReadyAt(a), JSON.stringify(a?.status));
    assert.equal(a?.status?.observedGeneration, 1);
    assert.equal(getCondition(a?.status, "Reconciling"), undefined);
    assert.deepEqual(
      progress.filter((p) => p.kind === "operation").map((p) => p.message),
      ["app:acme/web:0 create (missing)", "app:acme/web:1 create (missing)"],
    );
    assert.ok(store.eventsOf(a as Resource).some((e) => e.reason === "Configured"));
  });

  it("retries a transient error with growing delays and a condition that says why", async () => {
    await store.apply([group]);
    provider.failWith = new ProviderUnavailableError(
      "EngineUnreachable",
      "cannot reach the Docker engine at fake://engine",
    );
    await run(clock, 1600);
    const attempts = provider.calls.length;
    assert.ok(attempts >= 3 && attempts <= 6, `attempts in 1.6 s with 100 ms doubling: ${attempts}`);
    const ready = getCondition(store.get("Group//acme")?.status, "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, "EngineUnreachable");
    provider.failWith = undefined;
    await run(clock, 1000);
    assert.ok(isReadyAt(store.get("Group//acme") as Resource));
  });

  it("stops on a terminal error with Stalled until the spec changes", async () => {
    await store.apply([group, app(1)]);
    await run(clock, 1000);
    provider.failWith = new TerminalError("InvalidConfig", "bad parameter");
    provider.failWhen = (call) => call.startsWith("app");
    await store.apply([app(2)]);
    await run(clock, 1000);
    const stalled = getCondition(store.get("App/acme/web")?.status, "Stalled");
    assert.equal(stalled?.status, "True");
    assert.equal(stalled?.observedGeneration, 2);
    const calls = provider.calls.filter((c) => c === "app web").length;
    await run(clock, 25_000); // two resyncs
    assert.equal(provider.calls.filter((c) => c === "app web").length, calls, "no retries of a stalled generation");
    provider.failWith = undefined;
    await store.apply([app(3)]);
    await run(clock, 1000);
    const a = store.get("App/acme/web") as Resource;
    assert.ok(isReadyAt(a));
    assert.equal(getCondition(a.status, "Stalled"), undefined);
  });

  it("resyncs every object periodically, catching drift", async () => {
    await store.apply([group, app(2)]);
    await run(clock, 1000);
    provider.running.set("web", 0); // containers removed behind AirLoft's back
    await run(clock, 12_000);
    assert.equal(provider.running.get("web"), 2);
  });

  it("deletes through the finalizer; a group is held while it owns objects", async () => {
    await store.apply([group, app(1)]);
    await run(clock, 1000);
    await store.markDeleted("Group//acme");
    await run(clock, 1000);
    const held = store.get("Group//acme");
    assert.equal(getCondition(held?.status, "Ready")?.reason, "DeletionBlocked");
    assert.match(getCondition(held?.status, "Ready")?.message ?? "", /app\/acme\/web/);
    await store.markDeleted("App/acme/web");
    await run(clock, 3000);
    assert.equal(store.get("App/acme/web"), undefined);
    assert.equal(store.get("Group//acme"), undefined);
    assert.deepEqual(
      provider.calls.filter((c) => c.startsWith("finalize")),
      ["finalize app web", "finalize group acme"],
    );
  });

  it("does not reconcile on its own status writes", async () => {
    await store.apply([group, app(1)]);
    await run(clock, 2000);
    const calls = provider.calls.length;
    await run(clock, 5000);
    assert.equal(provider.calls.length, calls, "idle between resyncs");
  });
});

describe("services, bindings and quotas in the loop (fake provider)", () => {
  let loop: Loop;
  let store: Store;
  let provider: FakeProvider;
  let clock: FakeClock;

  const service = manifest({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Service",
    metadata: { name: "cache", group: "acme" },
    spec: { template: "redis" },
  });
  const bound = (replicas: number) =>
    manifest({
      apiVersion: "airloft.dev/v1alpha1",
      kind: "App",
      metadata: { name: "web", group: "acme" },
      spec: { image: "busybox", replicas, services: [{ name: "cache" }] },
    });
  const quota = (replicas: number) =>
    manifest({
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Quota",
      metadata: { name: "default", group: "acme" },
      spec: { hard: { replicas } },
    });

  beforeEach(async () => {
    loop = await startLoop();
    ({ store, provider, clock } = loop);
  });
  afterEach(() => loop.stop());

  it("starts a bound app only once its service is ready, with the service's variables", async () => {
    provider.unreadyServices.add("cache");
    await store.apply([group, service, bound(1)]);
    await run(clock, 3000);
    const waiting = getCondition(store.get("App/acme/web")?.status, "Ready");
    assert.equal(waiting?.reason, "WaitingForServices");
    assert.equal(provider.calls.includes("app web"), false);
    provider.unreadyServices.delete("cache");
    await run(clock, 3000);
    assert.ok(isReadyAt(store.get("App/acme/web") as Resource));
    const password = store.secretsOf(store.get("Service/acme/cache") as Resource).password;
    assert.equal(provider.bindings.get("web")?.REDIS_URL, `redis://default:${password}@cache:6379/0`);
    assert.ok(!JSON.stringify(store.get("App/acme/web")).includes(password ?? "-"), "no secret in the app object");
  });

  it("says so when a bound service does not exist", async () => {
    await store.apply([group, bound(1)]);
    await run(clock, 3000);
    const ready = getCondition(store.get("App/acme/web")?.status, "Ready");
    assert.equal(ready?.reason, "ServiceNotFound");
    assert.match(ready?.message ?? "", /service cache not found in group acme/);
  });

  it("keeps quota usage in status, and caps scale-up of an app over a lowered quota", async () => {
    provider.failWith = new Error("engine hiccup");
    provider.failWhen = (c) => c === "app web";
    await store.apply([group, service, quota(5), bound(2)]);
    await run(clock, 2000);
    assert.deepEqual((store.get("Quota/acme/default")?.status as { used?: unknown }).used, { replicas: 2 });
    await store.apply([quota(1)]); // lowered below use: allowed, nothing deleted
    provider.failWith = undefined;
    await run(clock, 5000);
    const ready = getCondition(store.get("App/acme/web")?.status, "Ready");
    assert.equal(ready?.reason, "QuotaExceeded");
    assert.match(ready?.message ?? "", /quota acme\/default: replicas 2 exceeds 1; not scaling up beyond 0/);
    assert.equal(provider.running.get("web"), 0);
    assert.equal(getCondition(store.get("Quota/acme/default")?.status, "Ready")?.reason, "Exceeded");
  });
});

describe("registry credentials in the loop (fake provider)", () => {
  const texts = (user: string) => `apiVersion: airloft.dev/v1alpha1
kind: Group
metadata: {name: acme}
spec: {provider: swarm, swarm: {registry: "10.0.0.1:5000", registryAuth: {secret: regcreds, usernameKey: u, passwordKey: p}}}
---
apiVersion: airloft.dev/v1alpha1
kind: Secret
metadata: {name: regcreds, group: acme}
stringData: {u: ${user}, p: pass-${user}}
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata: {name: web, group: acme}
spec: {image: "10.0.0.1:5000/web:1"}
`;
  const load = (user: string) => loadTexts([{ name: "m.yaml", content: texts(user), baseDir: "." }]);

  it("reconciles the apps that pull with their swarm group's credentials as soon as that Secret changes", async () => {
    // No resync within the test: only the Secret's change can bring the app back.
    const loop = await startLoop({ resyncMs: 3_600_000 });
    try {
      await loop.store.apply(await load("first"));
      await run(loop.clock, 2000);
      assert.equal(loop.provider.pullUsers.get("web"), "first");
      await loop.store.apply((await load("second")).filter((m) => m.object.kind === "Secret"));
      await run(loop.clock, 2000);
      assert.equal(loop.provider.pullUsers.get("web"), "second");
    } finally {
      await loop.stop();
    }
  });
});
