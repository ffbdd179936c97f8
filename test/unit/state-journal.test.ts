import { strict as assert } from "node:assert";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { Journal } from "../../src/store/journal.js";
import { readStateFile } from "../../src/store/state-file.js";
import { FINALIZER, Store } from "../../src/store/store.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const at = { file: "m.yaml", line: 1, column: 1 };
const group: LoadedManifest = {
  source: at,
  object: {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name: "acme" },
    spec: { provider: "docker" },
  },
};
const app = (name: string, version: number, note = ""): LoadedManifest => ({
  source: at,
  object: {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: "acme", annotations: note ? { note } : {} },
    spec: { image: "busybox", replicas: 1, env: { VERSION: String(version) } },
  } as Resource,
});

/** The VERSION an app's env holds. */
const versionOf = (obj: Resource | undefined): string | undefined =>
  (obj?.spec as { env?: Record<string, string> } | undefined)?.env?.VERSION;

/** The state file and its journal as a process killed now would leave them, in a folder of their own. */
function afterKill(path: string): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "airloft-killed-"));
  copyFileSync(path, join(dir, "state.json"));
  if (existsSync(`${path}.journal`)) copyFileSync(`${path}.journal`, join(dir, "state.json.journal"));
  return { dir, path: join(dir, "state.json") };
}

describe("the state file's journal", () => {
  let dir: string;
  let path: string;
  let store: Store;
  const copies: string[] = [];

  beforeEach(async () => {
    ({ dir, path, store } = await openTempStore("airloft-journal-", { groupCommitMs: 0 }));
  });
  afterEach(async () => {
    await removeTempStore(store, dir);
    for (const copy of copies.splice(0)) rmSync(copy, { recursive: true, force: true });
  });

  it("writes an apply's change, not the whole file, however large the state", async () => {
    await store.apply([group, ...Array.from({ length: 2000 }, (_, i) => app(`app-${i}`, 1))]);
    await store.flush();
    const before = store.stats.bytesWritten;
    await store.apply([app("app-7", 2)]);
    const written = store.stats.bytesWritten - before;
    const stateBytes = JSON.stringify(await readStateFile(path)).length;
    assert.ok(stateBytes > 500_000, `the state is ${stateBytes} bytes`);
    assert.ok(written < 4000, `one changed app wrote ${written} bytes of a ${stateBytes}-byte state`);
    assert.equal(versionOf((await readStateFile(path)).objects["App/acme/app-7"]), "2");
  });

  it("loses no acknowledged change to a kill: a new writer replays the journal, then the file alone is whole", async () => {
    await store.apply([group, app("web", 1), app("api", 1), app("old", 1)]);
    await store.apply([app("web", 2)]);
    await store.markDeleted("App/acme/old");
    await store.removeFinalizer("App/acme/old", FINALIZER);
    await store.updateStatus("App/acme/api", (s) => ({ ...s, readyReplicas: 1 }));
    await store.recordEvent("App/acme/api", { type: "Normal", reason: "Ready", message: "1/1" });
    await store.flush();
    const killed = afterKill(path);
    copies.push(killed.dir);
    const reopened = await Store.open(killed.path, { write: true, command: "test" });
    try {
      assert.equal(versionOf(reopened.get("App/acme/web")), "2");
      assert.equal(reopened.get("App/acme/old"), undefined);
      assert.equal((reopened.get("App/acme/api")?.status as { readyReplicas?: number } | undefined)?.readyReplicas, 1);
      const api = reopened.get("App/acme/api") as Resource;
      assert.equal(reopened.eventsOf(api).at(-1)?.message, "1/1");
      assert.equal(statSync(`${killed.path}.journal`).size, 0, "the journal is emptied once the file holds it");
      const file = JSON.parse(readFileSync(killed.path, "utf8")) as { objects: Record<string, Resource> };
      assert.equal(versionOf(file.objects["App/acme/web"]), "2");
    } finally {
      await reopened.close();
    }
  });

  it("replays to exactly the state in memory, whatever the store did (objects, status, events, a password, deletions)", async () => {
    const service = (name: string): LoadedManifest => ({
      source: at,
      object: {
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Service",
        metadata: { name, group: "acme" },
        spec: { type: "redis" },
      } as unknown as Resource,
    });
    await store.apply([group, app("web", 1), app("api", 1), app("old", 1), service("cache")]);
    await store.apply([app("web", 2), app("api", 1, "note")]);
    await store.updateStatus("App/acme/web", (s) => ({ ...s, observedGeneration: 2 }));
    await store.recordEvent("App/acme/web", { type: "Warning", reason: "Slow", message: "slow" });
    await store.markDeleted("App/acme/old");
    await store.removeFinalizer("App/acme/old", FINALIZER);
    await store.markDeletedAll(["App/acme/api"]);
    await store.flush();
    const killed = afterKill(path);
    copies.push(killed.dir);
    const inMemory = structuredClone((store as unknown as { state: { data: Record<string, unknown> } }).state.data);
    const replayed = (await readStateFile(killed.path)) as unknown as Record<string, unknown>;
    delete inMemory.journalSeq;
    delete replayed.journalSeq;
    assert.deepEqual(replayed, inMemory);
    assert.equal(Object.keys(inMemory.secrets as object).length, 1, "the service's password");
    assert.ok(statSync(`${killed.path}.journal`).size > 0, "replayed from the journal, not a rewritten file");
  });

  it("leaves out a last line cut short by a kill, and names the file and line of a bad line before others", async () => {
    await store.apply([group, app("web", 1)]);
    await store.apply([app("web", 2)]);
    await store.flush();
    const killed = afterKill(path);
    copies.push(killed.dir);
    const journal = `${killed.path}.journal`;
    writeFileSync(journal, `${readFileSync(journal, "utf8")}{"seq":99,"set":{"obj`);
    assert.equal(versionOf((await readStateFile(killed.path)).objects["App/acme/web"]), "2");
    writeFileSync(journal, `{"seq":1,"set":{"obj\n${readFileSync(journal, "utf8")}`);
    await assert.rejects(readStateFile(killed.path), /state\.json\.journal: line 1 is not JSON/);
  });

  it("rewrites the file once the journal outgrows it, and drops the entries the file then holds", async () => {
    await store.apply([group]);
    const note = "x".repeat(100_000);
    for (let i = 0; i < 60; i++) await store.apply([app(`big-${i % 3}`, i, note)]);
    await store.flush();
    const journalBytes = statSync(`${path}.journal`).size;
    assert.ok(journalBytes < 4 * 2 ** 20 + 200_000, `the journal grew to ${journalBytes} bytes`);
    const state = await readStateFile(path);
    assert.equal(versionOf(state.objects["App/acme/big-2"]), "59");
    assert.ok((state.journalSeq ?? 0) > 0, "the file was rewritten with the journal's position");
  });

  it("does not replay a journal left beside a state file that was removed", async () => {
    await store.apply([group, app("web", 1)]);
    await store.flush();
    const killed = afterKill(path);
    copies.push(killed.dir);
    rmSync(killed.path);
    assert.deepEqual(Object.keys((await readStateFile(killed.path)).objects), []);
  });

  it("reads again, then fails clearly, when the journal does not follow the file", async () => {
    await store.apply([group, app("web", 1)]);
    await store.apply([app("web", 2)]);
    await store.flush();
    const killed = afterKill(path);
    copies.push(killed.dir);
    const journal = `${killed.path}.journal`;
    const lines = readFileSync(journal, "utf8").trim().split("\n");
    assert.ok(lines.length >= 2, "two entries to take one out of");
    writeFileSync(journal, `${lines.slice(1).join("\n")}\n`);
    await assert.rejects(readStateFile(killed.path), /does not follow .*journal entries are missing/);
  });
});

describe("dropping a journal's entries once the state file holds them", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "airloft-journal-drop-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const line = (seq: number, pad = 0) => [Buffer.from(`${JSON.stringify({ seq, pad: "x".repeat(pad) })}\n`)];

  it("lets appends go on while it copies what stays, and keeps them all", async () => {
    const journal = Journal.of(join(dir, "state.json"));
    await journal.append(line(1));
    const held = await journal.append(line(2));
    for (let seq = 3; seq <= 40; seq++) await journal.append(line(seq, 64 * 1024));
    const order: string[] = [];
    const drop = journal.dropBefore(held).then(() => order.push("drop"));
    // Asked after the drop: it used to wait for the copy and sync of the 2.5 MB that stay.
    const append = journal.append(line(41)).then(() => order.push("append"));
    await Promise.all([drop, append]);
    assert.deepEqual(order, ["append", "drop"]);
    assert.deepEqual(
      journal.read().map((e) => e.seq),
      Array.from({ length: 39 }, (_, i) => i + 3),
    );
    await journal.append(line(42));
    assert.equal(journal.read().at(-1)?.seq, 42, "appends after the drop go to the new file");
    assert.equal(journal.position, statSync(journal.path).size + held);
    await journal.close();
  });
});
