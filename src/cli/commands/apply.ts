import { resolve } from "node:path";
import { getCondition, isReadyAt, isStalledAt } from "../../resources/conditions.js";
import { displayName, keyOf, objectKey } from "../../resources/kinds.js";
import type { Resource } from "../../resources/types.js";
import type { Change } from "../../store/store.js";
import { type ClientOptions, withClient } from "../client/open.js";
import type { Following, ResourceClient } from "../client/types.js";
import { waitUntil } from "../client/wait.js";
import { notReadyError } from "../output.js";
import { ProgressPrinter } from "../progress.js";

export interface ApplyOptions extends ClientOptions {
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
/** Ready=False that waiting will not fix in this run: the provider is down, a host is held by another app. */
// CertificateFailed too: an unusable Secret, or an ACME error (Caddy keeps trying; status tells when it got one).
const FAILED_REASONS = new Set(["EngineUnreachable", "HostConflict", "CertificateFailed"]);

/** Stores the manifests (locally or on the server), then waits until what they define is Ready. */
export function applyCommand(options: ApplyOptions): Promise<number> {
  return withClient(options, { write: !options.dryRun, command: "airloft apply" }, async (client) => {
    const files = { paths: options.filename, recursive: options.recursive ?? false };
    // The prune set is named after the paths unless given a name.
    const prune = options.source ?? `apply:${options.filename.map((f) => resolve(f)).join(",")}`;
    const { changes, pruned } = await client.apply(files, {
      ...(options.dryRun ? { dryRun: true } : {}),
      ...(options.prune ? { prune } : {}),
    });
    const suffix = options.dryRun ? " (dry run)" : "";
    for (const change of changes) process.stdout.write(`${change.display} ${change.action}${suffix}\n`);
    for (const change of pruned) process.stdout.write(`${change.display} ${change.action} (pruned)\n`);
    if (options.dryRun || options.wait === false) return 0;
    return converge(client, [...changes, ...pruned], options.timeout);
  });
}

/**
 * Waits until every applied object is Ready or has failed, and every pruned one is gone; a local
 * client runs the loop in this process meanwhile.
 */
export async function converge(
  client: ResourceClient,
  changes: readonly Change[],
  timeout: string | undefined,
): Promise<number> {
  if (changes.length === 0) return 0;
  const printer = new ProgressPrinter(process.stdout);
  // A Secret has nothing to converge: it is done once stored.
  const keys = changes.filter((c) => c.object.kind !== "Secret").map((c) => c.key);
  const deleting = new Set(changes.filter((c) => c.action === "deleted").map((c) => c.key));
  const { verdict, last } = await waitUntil(
    client,
    { keys, runLoop: true, timeout, onProgress: printer.handle },
    (seen) => keys.every((k) => finished(seen, k, deleting)),
    // Pruned objects are done once gone.
    (seen) => keys.flatMap((k) => seen.get(k) ?? []).filter((o) => !isReadyAt(o) || deleting.has(keyOf(o))),
  );
  printer.finish();
  for (const o of last) process.stderr.write(notReadyError(displayName(o), o));
  if (verdict === "timeout" && last.length > 0) {
    process.stderr.write(`error: timed out after ${timeout ?? "5m"}; ${client.convergesLater}\n`);
  }
  return last.length === 0 ? 0 : 1;
}

/**
 * Done: gone if deleted; else Ready after a reconcile of this run, or failed in this run (the
 * state may hold a failure from an earlier one), or waiting on a group that failed.
 */
function finished(seen: Following, key: string, deleting: ReadonlySet<string>): boolean {
  const obj = seen.get(key);
  if (!obj) return true;
  if (deleting.has(key)) return false;
  const failedNow = (o: Resource): boolean => seen.attempted(keyOf(o)) && (isStalledAt(o) || failedAt(o));
  const group = obj.metadata.group ? seen.get(objectKey("Group", "", obj.metadata.group)) : undefined;
  return (isReadyAt(obj) && seen.reconciled(key)) || failedNow(obj) || (group !== undefined && failedNow(group));
}

/** Ready=False for a reason in FAILED_REASONS, at the current generation (not a verdict on an older spec). */
function failedAt(o: Resource): boolean {
  const ready = getCondition(o.status, "Ready");
  return ready !== undefined && FAILED_REASONS.has(ready.reason) && ready.observedGeneration === o.metadata.generation;
}
