import { strict as assert } from "node:assert";
import { readStateFile } from "../../src/store/state-file.js";
import type { Store } from "../../src/store/store.js";
import { appObject, groupObject, manifest } from "../support/manifests.js";
import { useTempStore } from "../support/temp-store.js";

const APPS = 3000;
const keys = Array.from({ length: APPS }, (_, i) => `App/acme/a${i}`);
const apps = (pad: string) =>
  Array.from({ length: APPS }, (_, i) => manifest(appObject("acme", `a${i}`, { image: "busybox", env: { PAD: pad } })));
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** The store's journal and compactions: this test holds a journal write back, as a crash would lose it. */
interface Internals {
  journal: { append: (entry: unknown) => Promise<number> };
  compactions: { request(position: number): void; settle(): Promise<void> };
}

describe("state file compaction and a crash", function () {
  this.timeout(60_000);
  let path: string;
  let store: Store;

  useTempStore("airloft-compaction-crash-", async (opened, at) => {
    store = opened;
    path = at;
    await store.apply([manifest(groupObject("acme", "docker")), ...apps("x".repeat(2000))]);
    await store.flush();
    // Every app replaced: the blocks the next compaction re-encodes, in turns of the event loop.
    await store.apply(apps("y".repeat(1000)));
  });

  it("never leaves half of a cascade made during its encoding in the files, nor versions going back", async () => {
    const state = (store as unknown as { state: Internals & { journal: { position: number } } }).state;
    const append = state.journal.append.bind(state.journal);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    state.journal.append = async (entry) => {
      await held;
      return append(entry);
    };
    state.compactions.request(state.journal.position);
    await turns(1);
    // The cascade marks every app in place, in one batch, while the compaction is between slices.
    const cascade = store.markDeletedAll(keys);
    // Time for the compaction's file to be written and (without the guard) put in place; the
    // checks below hold at any moment, so waiting longer only makes them stricter.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // A crash now: the disk holds the file and the journal, without the cascade's entry.
    const onDisk = await readStateFile(path);
    const marked = Object.values(onDisk.objects).filter((o) => o.kind === "App" && o.metadata.deletionTimestamp);
    assert.ok(marked.length === 0 || marked.length === APPS, `${marked.length} of ${APPS} apps marked after a crash`);
    const versions = Object.values(onDisk.objects).map((o) => Number(o.metadata.resourceVersion));
    assert.ok(onDisk.lastResourceVersion >= Math.max(...versions), "no object is newer than the file's last version");
    release();
    await cascade;
    await state.compactions.settle();
    const after = await readStateFile(path);
    assert.equal(
      Object.values(after.objects).filter((o) => o.kind === "App" && o.metadata.deletionTimestamp).length,
      APPS,
    );
  });
});
