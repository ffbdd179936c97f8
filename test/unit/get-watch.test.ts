import assert from "node:assert/strict";
import { join } from "node:path";
import type { Resource } from "../../src/resources/types.js";
import { sleep, spawnScript } from "../support/chaos.js";
import { REPO_ROOT } from "../support/cli.js";
import { appObject, groupObject, manifest } from "../support/manifests.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

describe("airloft get --watch on the local state file", function () {
  this.timeout(30_000);

  it("prints the objects, then each change another process writes, in order", async () => {
    const { dir, path, store } = await openTempStore("airloft-get-watch-", { groupCommitMs: 0 });
    const lines: Array<{ type: string; object: Resource }> = [];
    const watcher = spawnScript(
      join(REPO_ROOT, "src/cli/index.ts"),
      ["--state", path, "get", "app", "--watch", "-o", "json"],
      (line) => lines.push(JSON.parse(line) as { type: string; object: Resource }),
    );
    const until = async (predicate: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 200 && !predicate(); i++) await sleep(50);
      assert.ok(
        predicate(),
        `${what}: ${JSON.stringify(lines.map((l) => `${l.type} ${l.object.metadata.name}`))} ${watcher.stderr()}`,
      );
    };
    try {
      await store.apply([manifest(groupObject("acme", "docker"))]);
      const app = (replicas: number): Resource => appObject("acme", "web", { image: "example/web:1", replicas });
      await store.apply([manifest(app(1))]);
      await until(() => lines.some((l) => l.type === "ADDED"), "the app first");
      await store.apply([manifest(app(3))]);
      await until(() => lines.some((l) => l.type === "MODIFIED"), "the change");
      await store.markDeleted("App/acme/web");
      await store.removeFinalizer("App/acme/web", "airloft.dev/infrastructure");
      await until(() => lines.some((l) => l.type === "DELETED"), "the deletion");
      assert.deepEqual(
        lines.map((l) => l.type).filter((t, i, all) => t !== all[i - 1]),
        ["ADDED", "MODIFIED", "DELETED"],
      );
      assert.ok(
        lines.every((l) => l.object.kind === "App"),
        "only apps, as asked",
      );
      const modified = lines.find((l) => l.type === "MODIFIED")?.object;
      assert.equal(modified?.kind === "App" ? modified.spec.replicas : 0, 3);
    } finally {
      watcher.child.kill("SIGINT");
      assert.equal(await watcher.exited, 0, "Ctrl-C ends it cleanly");
      await removeTempStore(store, dir);
    }
  });
});
