import { loadManifests } from "../../resources/loader.js";
import { type ClientOptions, withClient } from "../client/open.js";
import type { DeleteTarget } from "../client/types.js";
import { waitUntil } from "../client/wait.js";
import { parseRef, UsageError } from "../context.js";
import { ProgressPrinter } from "../progress.js";

export interface DeleteOptions extends ClientOptions {
  readonly filename?: string[];
  readonly recursive?: boolean;
  readonly group?: string;
  readonly cascade?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
}

/**
 * Marks objects for deletion (apps before their group), then waits until their infrastructure
 * is gone and the store has let them go; locally, running the loop in this process meanwhile.
 */
export function deleteCommand(words: string[], options: DeleteOptions): Promise<number> {
  return withClient(options, { write: true, command: "airloft delete" }, async (client) => {
    let targets: DeleteTarget[];
    if (options.filename && options.filename.length > 0) {
      // Deleting by file: what is already gone is fine.
      const manifests = loadManifests(options.filename, { recursive: options.recursive ?? false });
      targets = manifests.map((m) => ({ object: m.object, missingOk: true }));
    } else if (words.length > 0) {
      targets = [{ object: await client.find(parseRef(words, options.group)), missingOk: false }];
    } else {
      throw new UsageError("name what to delete: -f PATH or KIND/NAME");
    }
    const changes = await client.delete(targets, { cascade: options.cascade ?? false });
    for (const c of changes) process.stdout.write(`${c.display} deleted\n`);
    if (options.wait === false || changes.length === 0) return 0;
    const keys = changes.map((c) => c.key);
    const printer = new ProgressPrinter(process.stdout);
    const { verdict, last } = await waitUntil(
      client,
      { keys, runLoop: true, timeout: options.timeout, onProgress: printer.handle },
      (seen) => keys.every((k) => !seen.get(k)),
      (seen) => keys.filter((k) => seen.get(k)),
    );
    printer.finish();
    if (last.length > 0) {
      process.stderr.write(`error: ${verdict === "timeout" ? "timed out; " : ""}still deleting: ${last.join(", ")}\n`);
      return 1;
    }
    return 0;
  });
}
