import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSuspended, setSuspended } from "../../src/controllers/suspension.js";
import { getSource, saveSource } from "../../src/gitops/sources.js";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { accountOf, accountsOf, listAccounts } from "../../src/server/account-records.js";
import { Accounts } from "../../src/server/accounts.js";
import { DurableJSONFile } from "../../src/store/durable-file.js";
import { readStateFile } from "../../src/store/state-file.js";
import { Store } from "../../src/store/store.js";
import { FakeClock } from "../support/fake-clock.js";

const at = { file: "m.yaml", line: 1, column: 1 };
const manifest = (object: Resource): LoadedManifest => ({ source: at, object });
const group = manifest({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: "acme" },
  spec: { provider: "docker" },
});

/** App `a{i}` of group acme, carrying `pad` bytes of env: a state of some MB in few objects. */
const paddedApp = (i: number, pad: number): LoadedManifest =>
  manifest({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: `a${i}`, group: "acme" },
    spec: { image: "x", env: { PAD: "p".repeat(pad) } },
  } as Resource);

/** A state file as the store wrote it when it kept sources, suspensions and accounts itself. */
const earlier = {
  version: 1,
  instanceId: "0b8f4e0e-5d1c-4c57-9a57-1f0a3a1c2b3d",
  lastResourceVersion: 0,
  objects: {},
  events: {},
  sources: {
    repo: {
      name: "repo",
      paths: ["/srv/repo"],
      kind: "watch" as const,
      lastSyncTime: "2026-01-01T00:00:00.000Z",
      lastResult: "Succeeded" as const,
      lastErrors: [],
      inventory: ["App/acme/web"],
      files: { "web.yaml": ["App/acme/web"] },
    },
  },
  suspended: { "App/acme/web": true },
  accounts: {
    admin: { admin: { uid: "u-1", passwordHash: "scrypt$x", tokenVersion: 1, updated: "2026-01-01T00:00:00.000Z" } },
    group: {
      acme: {
        uid: "u-2",
        passwordHash: "scrypt$y",
        locked: true,
        tokenVersion: 3,
        updated: "2026-01-01T00:00:00.000Z",
      },
    },
  },
};

describe("the state file", () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "airloft-state-"));
    path = join(dir, "state.json");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the sections another module keeps from a file of the earlier layout, and writes them back as they were", async () => {
    writeFileSync(path, JSON.stringify(earlier));
    const store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    try {
      assert.deepEqual(getSource(store, "repo"), earlier.sources.repo);
      assert.equal(getSource(store, "constructor"), undefined, "a name, not Object's constructor");
      assert.deepEqual(accountOf(store, "group", "acme"), earlier.accounts.group.acme);
      assert.deepEqual(
        listAccounts(store, "admin").map((a) => a.name),
        ["admin"],
      );
      assert.ok(isSuspended(store, "App/acme/web"));
      await store.apply([group]);
    } finally {
      await store.close();
    }
    // Closed, the file alone is complete: read it as an earlier version would.
    const written = JSON.parse(readFileSync(path, "utf8")) as typeof earlier & { journalSeq?: number };
    assert.equal(typeof written.journalSeq, "number", "the one key added since");
    assert.deepEqual(
      Object.keys(written)
        .filter((k) => k !== "journalSeq")
        .sort(),
      Object.keys(earlier).sort(),
    );
    assert.deepEqual(written.sources, earlier.sources);
    assert.deepEqual(written.accounts, earlier.accounts);
    assert.deepEqual(written.suspended, earlier.suspended);
  });

  it("keeps a source and an account in the file's sections, by name", async () => {
    const store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    const accounts = new Accounts(store);
    try {
      await saveSource(store, { ...earlier.sources.repo, kind: "apply" });
      await accounts.update("group", "acme", { password: "acme-password-1" });
    } finally {
      accounts.close();
      await store.close();
    }
    const written = JSON.parse(readFileSync(path, "utf8")) as {
      sources: Record<string, { kind: string }>;
      accounts: { admin: object; group: Record<string, { tokenVersion: number }> };
    };
    assert.equal(written.sources.repo?.kind, "apply");
    assert.deepEqual(written.accounts.admin, {});
    assert.equal(written.accounts.group.acme?.tokenVersion, 1);
  });

  it("writes an entry set again after a change in place as it is then, in the journal and the file", async () => {
    let store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    const map = store.stateMap<{ outcome: string }>("revisions");
    const entry = { outcome: "Progressing" };
    await map.set("u1", entry);
    entry.outcome = "Failed"; // as a caller that keeps its entry does, then sets it again
    await map.set("u1", entry);
    await store.flush();
    const lines = readFileSync(`${path}.journal`, "utf8").trim().split("\n");
    assert.match(lines.at(-1) ?? "", /"u1":\{"outcome":"Failed"\}/, "the journal's last line");
    await store.close();
    store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    try {
      assert.deepEqual(store.stateMap("revisions").get("u1"), { outcome: "Failed" }, "the file after a compaction");
    } finally {
      await store.close();
    }
  });

  it("journals a batch whole and never an object newer than the line's lastResourceVersion, however its objects change meanwhile", async () => {
    const store = await Store.open(path, { write: true, command: "test" });
    const app = (i: number) => paddedApp(i, 3000);
    try {
      await store.apply([group, ...Array.from({ length: 2000 }, (_, i) => app(i))]);
      await store.flush();
      const keys = Array.from({ length: 2000 }, (_, i) => `App/acme/a${i}`);
      // A status on every app in one turn, then one more on each turn while the write runs.
      // Half of them: a line of some MB, less than the file, so no compaction empties the journal.
      for (const key of keys.slice(0, 1000)) await store.updateStatus(key, (s) => ({ ...s, observedGeneration: 1 }));
      let running = true;
      let n = 0;
      const poke = (): void => {
        if (!running) return;
        // From the end of the line being written: entries not encoded yet, if it were encoded in turns.
        void store.updateStatus(keys[999 - (n++ % 1000)] as string, (s) => ({ ...s, observedGeneration: n }));
        setImmediate(poke);
      };
      setImmediate(poke);
      await store.persist();
      running = false;
      await store.flush();
      const lines = readFileSync(`${path}.journal`, "utf8").trim().split("\n");
      let last = 0;
      for (const text of lines) {
        const line = JSON.parse(text) as {
          set?: { objects?: Record<string, Resource> };
          top?: { lastResourceVersion?: number };
        };
        last = line.top?.lastResourceVersion ?? last;
        for (const obj of Object.values(line.set?.objects ?? {}))
          assert.ok(Number(obj.metadata.resourceVersion) <= last, `${obj.metadata.resourceVersion} > ${last}`);
      }
    } finally {
      await store.close();
    }
  });

  it("queues no second rewrite of the file for writes made while one compaction runs", async () => {
    const store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    const original = DurableJSONFile.prototype.write;
    let compactions = 0;
    DurableJSONFile.prototype.write = function (this: DurableJSONFile<unknown>, data) {
      compactions++;
      return original.call(this, data);
    };
    const app = (i: number) => paddedApp(i, 5000);
    try {
      // One line of 6 MB: past the 4 MiB floor and the file, so a compaction starts.
      await store.apply([group, ...Array.from({ length: 1200 }, (_, i) => app(i))]);
      // Each of these small writes finds the journal still over its bound while the file is written.
      for (let n = 1; n <= 200 && compactions === 1; n++) {
        await store.updateStatus("App/acme/a0", (s) => ({ ...s, observedGeneration: n }));
        await store.persist();
      }
      await store.flush();
      assert.equal(compactions, 1);
    } finally {
      DurableJSONFile.prototype.write = original;
      await store.close();
    }
  });

  it("replays a journal of the earlier layout (whole sections), then journals the one account or source a write changes", async () => {
    writeFileSync(path, JSON.stringify({ ...earlier, journalSeq: 0 }));
    const beta = { ...earlier.accounts.group.acme, uid: "u-3", locked: false };
    // As the earlier ChangeTracker wrote them: each section whole, under `top`.
    const top = { accounts: { ...earlier.accounts, group: { ...earlier.accounts.group, beta } }, suspended: {} };
    writeFileSync(`${path}.journal`, `${JSON.stringify({ seq: 1, top })}\n`);
    const read = await readStateFile(path);
    assert.deepEqual(read.accounts, top.accounts);
    assert.deepEqual(read.suspended, {});
    const store = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    const accounts = new Accounts(store);
    try {
      assert.deepEqual(accountOf(store, "group", "beta"), beta);
      assert.equal(isSuspended(store, "App/acme/web"), false);
      const appended = async (write: () => Promise<void>): Promise<Record<string, unknown>> => {
        const before = readFileSync(`${path}.journal`, "utf8").length;
        await write();
        return JSON.parse(readFileSync(`${path}.journal`, "utf8").slice(before)) as Record<string, unknown>;
      };
      const locked = await appended(() => accounts.update("group", "beta", { locked: true }));
      assert.deepEqual(Object.keys(locked).sort(), ["seq", "set"], "no section whole");
      assert.deepEqual(Object.keys((locked.set as Record<string, object>)["accounts.group"] ?? {}), ["beta"]);
      const saved = await appended(() => saveSource(store, { ...earlier.sources.repo, name: "other" }));
      assert.deepEqual(saved.set, { sources: { other: { ...earlier.sources.repo, name: "other" } } });
      const suspended = await appended(() => setSuspended(store, "App/acme/db", true));
      assert.deepEqual(suspended.set, { suspended: { "App/acme/db": true } });
      await accountsOf(store, "group").delete("beta");
      assert.deepEqual((await readStateFile(path)).accounts?.group, earlier.accounts.group, "a reader replays them");
    } finally {
      accounts.close();
      await store.close();
    }
  });

  it("opens a writer without waiting for a write when nothing changed: its compaction alone writes", async () => {
    const earlier = await Store.open(path, { write: true, command: "test", groupCommitMs: 0 });
    await earlier.apply([group]);
    await earlier.close();
    // A write waits for this clock, which moves only once the open is over or waits for one.
    const clock = new FakeClock();
    let opened = false;
    const opening = Store.open(path, { write: true, command: "test", groupCommitMs: 5, clock }).then((store) => {
      opened = true;
      return store;
    });
    while (!opened && clock.pendingTimers === 0) await new Promise((r) => setTimeout(r, 1));
    const waited = clock.pendingTimers > 0;
    const store = await settle(opening, clock);
    const writes = store.stats.writes;
    await settle(store.close(), clock);
    assert.equal(waited, false, "the open waited for a journal write with nothing to write");
    assert.equal(writes, 1, "one write: the open's compaction of the file, nothing appended to the journal");
    assert.ok(store.get("Group//acme"));
  });

  it("takes its time from the injected clock: timestamps, and when a write happens", async () => {
    const clock = new FakeClock(Date.parse("2030-06-01T12:00:00.000Z"));
    const opening = Store.open(path, { write: true, command: "test", groupCommitMs: 5, clock });
    const store = await settle(opening, clock);
    try {
      let written = false;
      const applying = store.apply([group]).then(() => (written = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(written, false, "the write waits for the clock");
      await settle(applying, clock);
      const created = store.get("Group//acme");
      assert.match(created?.metadata.creationTimestamp ?? "", /^2030-06-01T12:00:0\d\.\d{3}Z$/);
      assert.equal(store.eventsOf(created as Resource)[0]?.time, created?.metadata.creationTimestamp);
    } finally {
      await settle(store.close(), clock);
    }
  });
});

/**
 * Moves the fake clock a millisecond per real millisecond until the promise settles: the file's
 * I/O (fsync) takes real time, which a millisecond per turn of the event loop outran on a loaded
 * machine (the clock then ran out of turns before the write was on disk).
 */
async function settle<T>(promise: Promise<T>, clock: FakeClock): Promise<T> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let turns = 0; !done && turns < 5000; turns++) {
    await new Promise((r) => setTimeout(r, 1));
    if (!done) clock.advance(1);
  }
  return promise;
}
