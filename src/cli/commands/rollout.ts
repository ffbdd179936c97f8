import type { Revision } from "../../releases/revisions.js";
import { getCondition } from "../../resources/conditions.js";
import { keyOf } from "../../resources/kinds.js";
import type { App, Resource } from "../../resources/types.js";
import { LocalClient } from "../client/local.js";
import { type ClientOptions, withClient } from "../client/open.js";
import type { ResourceClient } from "../client/types.js";
import { waitUntil } from "../client/wait.js";
import { parseRef, UsageError } from "../context.js";
import { renderTable } from "../output.js";

export interface RolloutOptions extends ClientOptions {
  readonly group?: string;
  readonly output?: string;
  readonly timeout?: string;
  readonly toRevision?: string;
  readonly force?: boolean;
  readonly suspendSource?: boolean;
}

/** Reasons that end a rollout as failed: `rollout status` stops following and exits 1. */
const FAILED_REASONS = new Set(["ProgressDeadlineExceeded", "ReleaseFailed"]);

/** `rollout history app/web`: the kept revisions, oldest first. */
export function rolloutHistoryCommand(words: string[], options: RolloutOptions): Promise<number> {
  return withClient(options, { write: false, command: "airloft rollout history" }, async (client) => {
    const history = await client.rolloutHistory(await findApp(client, words, options));
    if (options.output === "json") process.stdout.write(`${JSON.stringify(history, null, 2)}\n`);
    else process.stdout.write(historyTable(history));
    return 0;
  });
}

export function historyTable(history: readonly Revision[]): string {
  if (history.length === 0) return "no revisions yet\n";
  return renderTable(
    ["REVISION", "OUTCOME", "IMAGE", "CREATED", "BY", "REASON"],
    history.map((r) => [
      String(r.revision),
      r.outcome,
      r.imageId ? `${r.image} (${r.imageId.slice(0, 19)})` : r.image,
      r.createdAt,
      r.by,
      r.reason ?? "",
    ]),
  );
}

/** `rollout undo app/web [--to-revision N]`: restores a revision as a new one. */
export function rolloutUndoCommand(words: string[], options: RolloutOptions): Promise<number> {
  const toRevision = options.toRevision === undefined ? undefined : Number(options.toRevision);
  if (toRevision !== undefined && !(Number.isSafeInteger(toRevision) && toRevision > 0))
    throw new UsageError(`--to-revision takes a revision number, not ${options.toRevision}`);
  return withClient(options, { write: true, command: "airloft rollout undo", throughHolder: true }, async (client) => {
    const app = await findApp(client, words, options);
    const result = await client.rolloutUndo(app, {
      ...(toRevision !== undefined ? { toRevision } : {}),
      ...(options.force ? { force: true } : {}),
      ...(options.suspendSource ? { suspendSource: true } : {}),
    });
    process.stdout.write(`${result.message}\n`);
    return 0;
  });
}

/**
 * `rollout status app/web`: follows the app until its current generation is ready (exit 0) or
 * its rollout failed (exit 1: deadline passed, crash loop, release command failed). Locally it
 * runs the controllers while it follows, unless a running `controller` or `watch` does.
 */
export function rolloutStatusCommand(words: string[], options: RolloutOptions): Promise<number> {
  return withClient(
    options,
    { write: true, command: "airloft rollout status", throughHolder: true },
    async (client) => {
      const app = await findApp(client, words, options);
      const key = keyOf(app);
      const runLoop = client instanceof LocalClient && client.runsLoopHere;
      const { verdict, last } = await waitUntil(
        client,
        { keys: [key], runLoop, timeout: options.timeout ?? "15m" },
        (seen) => rolloutState(seen.get(key)) !== "progressing",
        (seen) => seen.get(key),
      );
      const state = rolloutState(last);
      const ready = last ? getCondition(last.status, "Ready") : undefined;
      const what = `app/${app.metadata.name}`;
      if (state === "done") process.stdout.write(`${what} successfully rolled out\n`);
      else if (state === "failed")
        process.stderr.write(`error: ${what} rollout failed: ${ready?.reason}: ${ready?.message}\n`);
      else
        process.stderr.write(`error: ${what} still rolling out (${verdict}): ${ready?.message ?? "no status yet"}\n`);
      return state === "done" ? 0 : 1;
    },
  );
}

function rolloutState(obj: Resource | undefined): "done" | "failed" | "progressing" {
  if (!obj) return "failed";
  const ready = getCondition(obj.status, "Ready");
  if (!ready || ready.observedGeneration !== obj.metadata.generation) return "progressing";
  if (ready.status === "True") return "done";
  return FAILED_REASONS.has(ready.reason) ? "failed" : "progressing";
}

async function findApp(client: ResourceClient, words: string[], options: RolloutOptions): Promise<App> {
  const ref = parseRef(words, options.group);
  if (ref.kind !== "App") throw new UsageError(`rollout works on apps (app/NAME), not ${ref.kind.toLowerCase()}s`);
  const app = await client.find(ref);
  if (app.kind !== "App") throw new UsageError(`${words.join(" ")} is not an app`);
  return app;
}
