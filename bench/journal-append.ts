/**
 * Journal append benchmark: what one durable write costs when the state file keeps many API
 * accounts. Each write appends what changed to the journal (src/store/journal.ts); a section
 * compared as a whole (its JSON text) costs its size on every append, whatever the write
 * changed. Measured: a change to one account, and a status write that changes no account, each
 * the median of many, with the bytes each appended.
 * Usage: npx tsx bench/journal-append.ts [accounts=10000] [writes=200]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { BaseStatus } from "../src/resources/types.js";
import { Accounts } from "../src/server/accounts.js";
import { Store } from "../src/store/store.js";
import { dockerGroup } from "./lib/manifests.js";
import { median, round, writeResults } from "./lib/measure.js";

const accounts = Number(process.argv[2] ?? 10_000);
const writes = Number(process.argv[3] ?? 200);

/** Median milliseconds and bytes appended per durable write of `write(i)`. */
async function measure(store: Store, write: (i: number) => Promise<unknown>): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < writes; i++) {
    const before = store.stats.bytesWritten;
    const t0 = performance.now();
    await write(i);
    await store.flush();
    times.push(performance.now() - t0);
    bytes.push(store.stats.bytesWritten - before);
  }
  return { ms: median(times), bytes: median(bytes) };
}

const dir = mkdtempSync(join(tmpdir(), "airloft-bench-append-"));
try {
  const store = await Store.open(join(dir, "state.json"), { write: true, groupCommitMs: 0 });
  const book = new Accounts(store);
  await store.apply([dockerGroup("team")]);
  // Accounts without a password: no hashing, only the records.
  await Promise.all(Array.from({ length: accounts }, (_, i) => book.update("group", `team-${i}`, { locked: false })));
  await store.flush();
  const account = await measure(store, (i) => book.update("group", "team-0", { locked: i % 2 === 0 }));
  const status = await measure(store, (i) =>
    store.updateStatus<BaseStatus>("Group//team", (s) => ({ ...s, observedGeneration: i + 2 })),
  );
  book.close();
  await store.close();
  console.log(`${accounts} accounts, median of ${writes} durable writes each:`);
  console.log(`  one account changed:  ${round(account.ms, 3)} ms, ${account.bytes} bytes appended`);
  console.log(`  one status changed:   ${round(status.ms, 3)} ms, ${status.bytes} bytes appended`);
  const path = writeResults("journal-append", { accounts, writes, account, status });
  console.log(`results: ${path}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
