import { keyOf } from "../../resources/kinds.js";
import { loadManifests } from "../../resources/loader.js";
import { parseDuration } from "../../util/duration.js";
import { cliLogger, findObject, openStore, parseRef, UsageError, type GlobalOptions } from "../context.js";
import { startEmbedded, waitUntil } from "../embedded.js";
import { ProgressPrinter } from "../progress.js";

export interface DeleteOptions extends GlobalOptions {
  readonly filename?: string[];
  readonly recursive?: boolean;
  readonly group?: string;
  readonly cascade?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
}

/**
 * Marks objects for deletion (apps before their group), then, in the embedded default, runs the
 * loop until their infrastructure is gone and the store has let them go.
 */
export async function deleteCommand(words: string[], options: DeleteOptions): Promise<number> {
  const store = await openStore(options, { write: true, command: "airloft delete" });
  try {
    let keys: string[];
    if (options.filename && options.filename.length > 0) {
      keys = loadManifests(options.filename, { recursive: options.recursive ?? false }).map((m) => keyOf(m.object)).filter((k) => store.get(k));
    } else if (words.length > 0) {
      keys = [keyOf(findObject(store, parseRef(words, options.group)))];
    } else {
      throw new UsageError("name what to delete: -f PATH or KIND/NAME");
    }
    const changes = await store.markDeletedAll(keys, { cascade: options.cascade ?? false });
    keys = changes.map((c) => c.key);
    for (const c of changes) process.stdout.write(`${c.display} deleted\n`);
    if (options.wait === false || changes.length === 0) return 0;
    const printer = new ProgressPrinter(process.stdout);
    const loop = startEmbedded(store, await cliLogger(options), printer.handle);
    const verdict = await waitUntil(store, () => keys.every((k) => !store.get(k)), parseDuration(options.timeout ?? "5m"));
    await loop.stop();
    printer.finish();
    const left = keys.filter((k) => store.get(k));
    if (left.length > 0) {
      process.stderr.write(`error: ${verdict === "timeout" ? "timed out; " : ""}still deleting: ${left.join(", ")}\n`);
      return 1;
    }
    return 0;
  } finally {
    await store.close();
  }
}
