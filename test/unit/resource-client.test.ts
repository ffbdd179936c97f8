import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalClient } from "../../src/cli/client/local.js";
import { RemoteClient } from "../../src/cli/client/remote.js";
import type {
  AppliedChanges,
  ApplyOptions,
  Following,
  ManifestFiles,
  ResourceClient,
} from "../../src/cli/client/types.js";
import { waitUntil } from "../../src/cli/client/wait.js";
import type { ControlRequest } from "../../src/cli/control.js";
import { LoopHost } from "../../src/cli/host.js";
import type { AirloftError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { isReadyAt } from "../../src/resources/conditions.js";
import { keyOf } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import type { SourceView } from "../../src/server/control-api.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { app, group, TestApi } from "../support/api.js";

/**
 * The contract every command relies on, run against both clients: the local state file with
 * the loop in this process, and the API with its loop (a fake provider under each). Each case
 * asks both the same and expects the same answer.
 */
describe("ResourceClient: the local state file and the API answer alike", function () {
  this.timeout(30_000);
  let dir: string;
  let api: TestApi;
  let host: LoopHost | undefined;
  let clients: Array<{ name: string; client: ResourceClient }>;
  const files = (...names: string[]) => ({ paths: names.map((n) => join(dir, n)), recursive: false });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "airloft-clients-"));
    const remoteProviders = new ProviderRegistry({ instanceId: "r", docker: new FakeProvider() });
    // The loop needs the API's store: it is reached through `host` once made.
    const control = (req: ControlRequest) => (host ? host.control(req) : Promise.reject(new Error("no loop")));
    api = await TestApi.start({ loop: { providers: remoteProviders, control } });
    const log = createLogger({ level: "error" });
    host = new LoopHost(api.store, log, { resyncMs: 60_000, workers: 2, providers: remoteProviders });
    const localProviders = new ProviderRegistry({ instanceId: "l", docker: new FakeProvider() });
    const state = { state: join(dir, "state.json") };
    const local = await LocalClient.open(state, { write: true, command: "test" }, localProviders);
    const remote = new RemoteClient(api.url, { AIRLOFT_TOKEN: await api.adminToken() });
    clients = [
      { name: "local", client: local },
      { name: "remote", client: remote },
    ];
    writeFileSync(join(dir, "group.yaml"), group("acme"));
    writeFileSync(join(dir, "web.yaml"), app("acme", "web"));
    writeFileSync(join(dir, "web-2.yaml"), app("acme", "web", "  replicas: 2\n"));
    mkdirSync(join(dir, "set-1"));
    writeFileSync(join(dir, "set-1", "web.yaml"), app("acme", "web"));
    writeFileSync(join(dir, "set-1", "extra.yaml"), app("acme", "extra"));
  });
  after(async () => {
    for (const { client } of clients ?? []) await client.close();
    await host?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Asks each client, and checks that both answered the same. */
  async function same<T>(ask: (client: ResourceClient) => Promise<T>): Promise<T> {
    const [local, remote] = await Promise.all(clients.map(({ client }) => ask(client)));
    assert.deepEqual(remote, local);
    return local as T;
  }
  const changes = (c: AppliedChanges): string[] => [...c.changes, ...c.pruned].map((x) => `${x.display} ${x.action}`);
  const applied = async (c: ResourceClient, paths: ManifestFiles, options: ApplyOptions = {}): Promise<string[]> =>
    changes(await c.apply(paths, options));
  const readyNow = (seen: Following, k: string): boolean => {
    const o = seen.get(k);
    return o !== undefined && isReadyAt(o) && seen.reconciled(k);
  };
  const follow = (client: ResourceClient, keys: string[], done: (seen: Following) => boolean) =>
    waitUntil(client, { keys, runLoop: true, timeout: "10s" }, done, () => undefined);
  const web = { kind: "App" as const, name: "web", group: undefined };

  it("applies, and follows until Ready", async () => {
    const created = await same((c) => applied(c, files("group.yaml", "web.yaml")));
    assert.deepEqual(created, ["group/acme created", "app/acme/web created"]);
    const keys = ["Group//acme", "App/acme/web"];
    const allReady = (seen: Following): boolean => keys.every((k) => readyNow(seen, k));
    assert.equal(await same(async (c) => (await follow(c, keys, allReady)).verdict), "done");
    assert.deepEqual(await same((c) => applied(c, files("web-2.yaml"), { dryRun: true })), ["app/acme/web configured"]);
  });

  it("lists, finds, and says NotFound alike", async () => {
    await same(async (c) => (await c.list({ kind: "App" })).map(keyOf));
    await same(async (c) => (await c.list({ group: "acme" })).map(keyOf));
    assert.equal(await same(async (c) => keyOf(await c.find(web))), "App/acme/web");
    const codeOf = (answer: Promise<unknown>): Promise<string> =>
      answer.then(
        () => "found",
        (err: AirloftError) => err.code,
      );
    assert.equal(await same((c) => codeOf(c.find({ kind: "App", name: "nothing", group: undefined }))), "NotFound");
    assert.equal(await same((c) => codeOf(c.find({ kind: "App", name: "nothing", group: "acme" }))), "NotFound");
  });

  it("diffs alike", async () => {
    const entries = await same((c) => c.diff(files("web-2.yaml")));
    assert.deepEqual(
      entries.map((e) => e.title),
      ["app/acme/web"],
    );
    assert.deepEqual(await same((c) => c.diff(files("web.yaml"))), []);
  });

  it("suspends and resumes alike", async () => {
    const target = { ref: web };
    assert.equal(await same((c) => c.control("suspend", target)), "App/acme/web suspended");
    const suspended = async (c: ResourceClient) => (await c.details(await c.find(target.ref))).suspended;
    assert.equal(await same(suspended), true);
    assert.equal(await same((c) => c.control("resume", target)), "App/acme/web resumed");
  });

  it("applies a prune set, then prunes what it no longer defines", async () => {
    const set = { paths: [join(dir, "set-1")], recursive: false };
    const first = await same((c) => applied(c, set, { prune: "set" }));
    assert.deepEqual(first, ["app/acme/extra created", "app/acme/web unchanged"]);
    rmSync(join(dir, "set-1", "extra.yaml"));
    const second = await same((c) => applied(c, set, { prune: "set" }));
    assert.deepEqual(second, ["app/acme/web unchanged", "app/acme/extra deleted"]);
    assert.equal(await same(async (c) => (await c.details(await c.find(web))).source), "set");
    const shown = (list: readonly SourceView[]) => list.map((s) => [s.name, s.kind, s.inventory.map((i) => i.key)]);
    const sources = await same(async (c) => shown(await c.sources()));
    assert.deepEqual(sources, [["set", "apply", ["App/acme/web"]]]);
  });

  it("watches alike: the rows now first", async () => {
    await same(async (c) => {
      const seen: string[] = [];
      const stop = new AbortController();
      await c.watch(
        { kind: "App" },
        (type, obj: Resource) => {
          seen.push(`${type} ${keyOf(obj)}`);
          if (seen.some((s) => s.includes("web"))) stop.abort();
        },
        stop.signal,
      );
      return seen.filter((s) => s.includes("web"));
    });
  });

  it("deletes, and follows until gone", async () => {
    const target = { object: { kind: "App" as const, metadata: { name: "web", group: "acme" } }, missingOk: false };
    const deleted = await same(async (c) => (await c.delete([target], { cascade: false })).map((x) => x.display));
    assert.deepEqual(deleted, ["app/acme/web"]);
    const gone = (seen: Following): boolean => !seen.get("App/acme/web");
    assert.equal(await same(async (c) => (await follow(c, ["App/acme/web"], gone)).verdict), "done");
    const missing = { ...target, missingOk: true };
    assert.deepEqual(await same(async (c) => (await c.delete([missing], { cascade: false })).length), 0);
  });
});
