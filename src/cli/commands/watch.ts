import type { Logger } from "../../log.js";
import { parseDuration } from "../../util/duration.js";
import type { LoopHost } from "../host.js";
import { type ControllerOptions, runHost } from "./controller.js";

export interface WatchOptions extends ControllerOptions {
  readonly interval?: string;
  readonly name?: string;
}

/**
 * Git-ops: applies a folder, then every change to it, prunes what was removed, and keeps
 * reconciling, until interrupted.
 */
export function watchCommand(dir: string, options: WatchOptions): Promise<number> {
  return runHost(options, `airloft watch ${dir}`, async (host, _store, log) => {
    await watchFolder(host, log, dir, options);
  });
}

/** Syncs the folder now and on every change, printing what changed and logging each sync. */
export async function watchFolder(
  host: LoopHost,
  log: Logger,
  dir: string,
  options: { interval?: string; name?: string },
): Promise<void> {
  let lastErrors = "";
  host.onSync = (name, result, startedAt) => {
    const latency = startedAt !== undefined ? ` ${Date.now() - startedAt} ms after the first change` : "";
    const changed = [...result.changes.filter((c) => c.action !== "unchanged"), ...result.pruned];
    for (const c of changed)
      process.stdout.write(`${c.display} ${c.action}${result.pruned.includes(c) ? " (pruned)" : ""}\n`);
    // The same errors at every sync are said once, until they change.
    if (result.errors.join("\n") !== lastErrors) for (const e of result.errors) log.error(`source ${name}: ${e}`);
    lastErrors = result.errors.join("\n");
    log.info(
      `source ${name} synced: ${result.source.lastResult}, ${changed.length} changed${result.source.revision ? ` at ${result.source.revision.slice(0, 12)}` : ""}${latency}`,
    );
  };
  await host.watch(dir, {
    ...(options.name ? { name: options.name } : {}),
    intervalMs: parseDuration(options.interval ?? "1m"),
  });
}
