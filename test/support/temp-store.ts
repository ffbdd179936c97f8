import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type OpenOptions, Store } from "../../src/store/store.js";

/** A writable store on a state file in a fresh temp folder. */
export async function openTempStore(
  prefix: string,
  options: Partial<OpenOptions> = {},
): Promise<{ dir: string; path: string; store: Store }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, "state.json");
  return { dir, path, store: await Store.open(path, { write: true, command: "test", ...options }) };
}

/** Closes the store (releasing its lock) and removes its folder. */
export async function removeTempStore(store: Store, dir: string): Promise<void> {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A fresh temp store for each test of the calling suite: opened and filled by `fill` before the
 * test (which keeps what it needs of it), closed and removed after.
 */
export function useTempStore(prefix: string, fill: (store: Store, path: string) => Promise<void>): void {
  let opened: { dir: string; path: string; store: Store } | undefined;
  beforeEach(async () => {
    opened = await openTempStore(prefix, { groupCommitMs: 0 });
    await fill(opened.store, opened.path);
  });
  afterEach(async () => {
    if (opened) await removeTempStore(opened.store, opened.dir);
    opened = undefined;
  });
}
