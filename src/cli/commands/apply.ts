import { isReadyAt, isStalledAt, getCondition } from "../../resources/conditions.js";
import { displayName, keyOf, objectKey } from "../../resources/kinds.js";
import { loadManifests } from "../../resources/loader.js";
import type { Resource } from "../../resources/types.js";
import { resolve } from "node:path";
import { SourceSync } from "../../gitops/sync.js";
import type { Change, Store } from "../../store/store.js";
import { parseDuration } from "../../util/duration.js";
import { cliLogger, openStore, type GlobalOptions } from "../context.js";
import { startEmbedded, waitUntil } from "../embedded.js";
import { notReadyError } from "../output.js";
import { ProgressPrinter } from "../progress.js";

export interface ApplyOptions extends GlobalOptions {
  readonly filename: string[];
  readonly recursive?: boolean;
  readonly dryRun?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
  /** Delete what this source applied before and no manifest defines any more. */
  readonly prune?: boolean;
  /** The name of the set whose inventory --prune keeps; by default derived from the paths. */
  readonly source?: string;
}

/** Reasons that mean the provider is out of reach: worth stopping the wait for, and saying so. */
const UNREACHABLE_REASONS = new Set(["EngineUnreachable"]);

export async function applyCommand(options: ApplyOptions): Promise<number> {
  const manifests = loadManifests(options.filename, { recursive: options.recursive ?? false });
  const store = await openStore(options, { write: !options.dryRun, command: "airloft apply" });
  try {
    if (options.dryRun) {
      store.admit(manifests);
      for (const change of store.preview(manifests)) process.stdout.write(`${change.display} ${change.action} (dry run)\n`);
      return 0;
    }
    let changes: Change[];
    if (options.prune) {
      const name = options.source ?? `apply:${options.filename.map((f) => resolve(f)).join(",")}`;
      const result = await new SourceSync(store, name, options.filename, "apply", { recursive: options.recursive ?? false }).sync();
      if (result.errors.length > 0) throw new Error(result.errors.join("\n"));
      changes = [...result.changes, ...result.pruned];
    } else {
      changes = await store.apply(manifests);
    }
    for (const change of changes) process.stdout.write(`${change.display} ${change.action}${change.action === "deleted" && options.prune ? " (pruned)" : ""}\n`);
    if (options.wait === false) return 0;
    return await converge(store, changes, options);
  } finally {
    await store.close();
  }
}

/** Runs the loop in-process until every applied object is Ready or has failed. */
export async function converge(store: Store, changes: readonly Change[], options: GlobalOptions & { timeout?: string }): Promise<number> {
  const timeoutMs = parseDuration(options.timeout ?? "5m");
  const printer = new ProgressPrinter(process.stdout);
  const loop = startEmbedded(store, await cliLogger(options), printer.handle);
  const keys = changes.map((c) => c.key);
  // A Ready condition from before this apply may be stale (a container removed since): an
  // object counts as ready only once it has been reconciled in this run.
  const reconciled = new Set<string>();
  const attempted = new Set<string>();
  loop.manager.events.on("reconciled", (key: string) => {
    reconciled.add(key);
    attempted.add(key);
  });
  loop.manager.events.on("failed", (key: string) => attempted.add(key));
  const deleting = new Set(changes.filter((c) => c.action === "deleted").map((c) => c.key));
  const current = (): Resource[] => keys.flatMap((k) => store.get(k) ?? []);
  // Only a failure seen in this run counts: the state file may hold one from an earlier run.
  const failedForNow = (o: Resource): boolean => attempted.has(keyOf(o)) && (isStalledAt(o) || UNREACHABLE_REASONS.has(getCondition(o.status, "Ready")?.reason ?? ""));
  // An object whose group failed waits on it: the group's error is the one to report.
  const groupFailed = (o: Resource): boolean => {
    const group = o.metadata.group ? store.get(objectKey("Group", "", o.metadata.group)) : undefined;
    return group !== undefined && failedForNow(group);
  };
  // Pruned objects are done once gone (they are no longer in `current`).
  const finished = (o: Resource): boolean => !deleting.has(keyOf(o)) && ((isReadyAt(o) && reconciled.has(keyOf(o))) || failedForNow(o) || groupFailed(o));
  const verdict = await waitUntil(store, () => current().every(finished), timeoutMs, { emitter: loop.manager.events, events: ["reconciled", "failed"] });
  await loop.stop();
  printer.finish();
  const notReady = current().filter((o) => !isReadyAt(o) || deleting.has(keyOf(o)));
  for (const o of notReady) process.stderr.write(notReadyError(displayName(o), o));
  if (verdict === "timeout" && notReady.length > 0) process.stderr.write(`error: timed out after ${options.timeout ?? "5m"}; the objects are stored, and \`airloft controller\` goes on converging them\n`);
  return notReady.length === 0 ? 0 : 1;
}
