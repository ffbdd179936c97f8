import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { controlSocketPath, sendControl } from "../../src/cli/control.js";
import { LoopHost } from "../../src/cli/host.js";
import { getSource } from "../../src/gitops/sources.js";
import { PRUNE_ANNOTATION, SourceSync, type SyncResult } from "../../src/gitops/sync.js";
import { FolderWatcher, isIgnoredPath } from "../../src/gitops/watcher.js";
import { createLogger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { isReadyAt } from "../../src/resources/conditions.js";
import type { Resource } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { FakeProvider } from "../../support/fake-provider.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const GROUP = "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: acme}\nspec: {provider: docker}\n";
const appYaml = (name: string, replicas = 1, extra = "") =>
  `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: ${name}, group: acme${extra}}\nspec: {image: busybox, replicas: ${replicas}}\n`;

/** Resolves on the next call of a callback, with its argument. */
function nextCall<T>(): { fn: (v: T) => void; next: (timeoutMs?: number) => Promise<T> } {
  let waiters: Array<(v: T) => void> = [];
  return {
    fn: (v) => {
      const w = waiters;
      waiters = [];
      for (const r of w) r(v);
    },
    next: (timeoutMs = 5000) =>
      new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no call within the time limit")), timeoutMs);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      }),
  };
}

describe("git-ops: a watched folder on real files", function () {
  this.timeout(20_000);
  let dir: string;
  let repo: string;
  let store: Store;

  beforeEach(async () => {
    ({ dir, store } = await openTempStore("airloft-watch-"));
    repo = join(dir, "repo");
    mkdirSync(repo);
  });
  afterEach(() => removeTempStore(store, dir));

  const sync = () => new SourceSync(store, "repo", [repo], "watch", { recursive: true, cwd: repo });

  it("applies adds, changes, deletes and renames; prunes only what it applied", async () => {
    writeFileSync(join(repo, "group.yaml"), GROUP);
    writeFileSync(join(repo, "a.yaml"), appYaml("a"));
    writeFileSync(join(repo, "b.yaml"), appYaml("b"));
    const source = sync();
    let r = await source.sync();
    assert.deepEqual(
      r.changes.map((c) => `${c.display} ${c.action}`),
      ["group/acme created", "app/acme/a created", "app/acme/b created"],
    );
    assert.deepEqual(r.source.inventory.sort(), ["App/acme/a", "App/acme/b", "Group//acme"]);

    // An object applied by someone else is not the source's to prune.
    await store.apply([
      {
        source: { file: "x", line: 1, column: 1 },
        object: {
          apiVersion: "airloft.dev/v1alpha1",
          kind: "App",
          metadata: { name: "manual", group: "acme" },
          spec: { image: "x" },
        },
      },
    ]);
    writeFileSync(join(repo, "a.yaml"), appYaml("a", 3));
    renameSync(join(repo, "b.yaml"), join(repo, "renamed.yaml"));
    r = await source.sync();
    assert.deepEqual(
      r.changes.filter((c) => c.action !== "unchanged").map((c) => `${c.display} ${c.action}`),
      ["app/acme/a configured"],
    );
    assert.deepEqual(r.pruned, [], "a rename is not a delete");

    unlinkSync(join(repo, "renamed.yaml"));
    r = await source.sync();
    assert.deepEqual(
      r.pruned.map((c) => c.display),
      ["app/acme/b"],
    );
    assert.ok(
      store.get("App/acme/b")?.metadata.deletionTimestamp,
      "pruned objects are deleted through their finalizer",
    );
    assert.ok(!store.get("App/acme/manual")?.metadata.deletionTimestamp);
  });

  it("keeps an invalid file's objects at their last good version and applies the rest", async () => {
    writeFileSync(join(repo, "group.yaml"), GROUP);
    writeFileSync(join(repo, "a.yaml"), appYaml("a", 2));
    const source = sync();
    await source.sync();
    writeFileSync(join(repo, "a.yaml"), appYaml("a", 2).replace("replicas: 2", "replicas: -5"));
    writeFileSync(join(repo, "c.yaml"), appYaml("c"));
    const r = await source.sync();
    assert.deepEqual(r.errors, ["a.yaml:4:34 spec.replicas: must be >= 0"]);
    assert.equal(r.source.lastResult, "Partial");
    assert.equal(
      (store.get("App/acme/a") as { spec: { replicas: number } }).spec.replicas,
      2,
      "last good version kept",
    );
    assert.ok(!store.get("App/acme/a")?.metadata.deletionTimestamp, "not pruned");
    assert.ok(store.get("App/acme/c"), "the valid file applied");
  });

  it("leaves objects annotated airloft.dev/prune: disabled when their file goes", async () => {
    writeFileSync(join(repo, "group.yaml"), GROUP);
    writeFileSync(join(repo, "keep.yaml"), appYaml("keep", 1, `, annotations: {${PRUNE_ANNOTATION}: disabled}`));
    const source = sync();
    await source.sync();
    unlinkSync(join(repo, "keep.yaml"));
    const r = await source.sync();
    assert.deepEqual(r.pruned, []);
    assert.ok(store.get("App/acme/keep") && !store.get("App/acme/keep")?.metadata.deletionTimestamp);
  });

  it("records the git commit of a checkout", async () => {
    writeFileSync(join(repo, "group.yaml"), GROUP);
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", repo, "-c", "user.email=t@t", "-c", "user.name=t", ...args])
        .toString()
        .trim();
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "one");
    const r = await sync().sync();
    assert.equal(r.source.revision, git("rev-parse", "HEAD"));
  });

  it("turns a burst of many files, and an atomic save, into one sync each", async () => {
    writeFileSync(join(repo, "group.yaml"), GROUP);
    const source = sync();
    await source.sync();
    const synced = nextCall<readonly string[]>();
    let calls = 0;
    const watcher = new FolderWatcher(
      repo,
      async (paths) => {
        calls++;
        await source.sync();
        synced.fn(paths);
      },
      { debounceMs: 150 },
    );
    await watcher.start();
    try {
      for (let i = 0; i < 60; i++) writeFileSync(join(repo, `app-${i}.yaml`), appYaml(`app-${i}`));
      await synced.next();
      assert.equal(calls, 1, "one sync for the burst");
      assert.equal(store.list({ kind: "App" }).length, 60);

      // An editor's atomic save: a dot temp file renamed over the manifest.
      writeFileSync(join(repo, ".app-0.yaml.swp"), "garbage: [");
      writeFileSync(join(repo, ".app-0.yaml.tmp"), appYaml("app-0", 4));
      renameSync(join(repo, ".app-0.yaml.tmp"), join(repo, "app-0.yaml"));
      const paths = await synced.next();
      assert.equal(calls, 2);
      assert.deepEqual(
        paths.map((p) => p.slice(repo.length + 1)),
        ["app-0.yaml"],
      );
      assert.equal((store.get("App/acme/app-0") as { spec: { replicas: number } }).spec.replicas, 4);
      assert.deepEqual(getSource(store, "repo")?.lastErrors, [], "the swap file was never read");
    } finally {
      await watcher.stop();
    }
  });

  it("ignores dot-files, .git, editor files and the state file", () => {
    const root = "/w";
    for (const p of ["/w/.git/HEAD", "/w/a/.hidden.yaml", "/w/a.yaml~", "/w/#a.yaml#", "/w/a.yaml.swp", "/w/4913"])
      assert.ok(isIgnoredPath(root, p), p);
    assert.ok(isIgnoredPath(root, "/w/state.json.tmp", ["/w/state.json"]));
    assert.ok(!isIgnoredPath(root, "/w/apps/web.yaml"));
  });

  it("a watch host applies changes, reconciles them, and obeys suspend and resume of its source", async () => {
    writeFileSync(join(repo, "group.yaml"), GROUP);
    writeFileSync(join(repo, "a.yaml"), appYaml("a"));
    const provider = new FakeProvider();
    const host = new LoopHost(store, createLogger({ level: "error" }), {
      resyncMs: 60_000,
      workers: 2,
      providers: new ProviderRegistry({ instanceId: "i", docker: provider }),
      debounceMs: 50,
    });
    const synced = nextCall<SyncResult>();
    host.onSync = (_name, result) => synced.fn(result);
    try {
      await host.listen();
      await host.watch(repo, { intervalMs: 60_000 });
      const ready = async (key: string) => {
        for (let i = 0; i < 100 && !isReadyAt(store.get(key) as Resource); i++)
          await new Promise((r) => setTimeout(r, 50));
        return isReadyAt(store.get(key) as Resource);
      };
      assert.ok(await ready("App/acme/a"));

      const socket = controlSocketPath(store.path);
      assert.deepEqual(await sendControl(socket, { op: "suspend", target: "source/repo" }), {
        ok: true,
        message: "source/repo suspended",
      });
      writeFileSync(join(repo, "b.yaml"), appYaml("b"));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(store.get("App/acme/b"), undefined, "a suspended source does not sync");
      const resumed = synced.next();
      await sendControl(socket, { op: "resume", target: "source/repo" });
      await resumed;
      assert.ok(await ready("App/acme/b"));

      await sendControl(socket, { op: "suspend", target: "App/acme/a" });
      writeFileSync(join(repo, "a.yaml"), appYaml("a", 5));
      await synced.next();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(provider.running.get("a"), 1, "a suspended object is not reconciled");
      await sendControl(socket, { op: "resume", target: "App/acme/a" });
      for (let i = 0; i < 100 && provider.running.get("a") !== 5; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(provider.running.get("a"), 5);
    } finally {
      await host.stop();
    }
  });
});
