import { getCondition } from "../../resources/conditions.js";
import type { ConditionType } from "../../resources/types.js";
import { parseDuration } from "../../util/duration.js";
import { findObject, openStore, parseRef, UsageError, type GlobalOptions } from "../context.js";
import { NotFoundError } from "../../errors.js";

export interface WaitOptions extends GlobalOptions {
  readonly for: string;
  readonly group?: string;
  readonly timeout?: string;
}

/**
 * Waits, reading the state file, until a condition holds at the current generation or the
 * object is gone (`--for delete`). The loop itself runs elsewhere: `airloft controller`.
 */
export async function waitCommand(words: string[], options: WaitOptions): Promise<number> {
  const match = /^condition=(Ready|Reconciling|Stalled)(?:=(True|False|Unknown))?$|^(delete)$/.exec(options.for);
  if (!match) throw new UsageError(`--for takes condition=Ready, condition=Stalled=True or delete, not ${options.for}`);
  const type = match[1] as ConditionType | undefined;
  const wanted = match[2] ?? "True";
  const ref = parseRef(words, options.group);
  const store = await openStore(options, { write: false, command: "airloft wait" });
  const deadline = Date.now() + parseDuration(options.timeout ?? "5m");
  for (;;) {
    await store.reload();
    let obj;
    try {
      obj = findObject(store, ref);
    } catch (err) {
      if (err instanceof NotFoundError && match[3] === "delete") return 0;
      throw err;
    }
    if (type) {
      const c = getCondition(obj.status, type);
      if (c && c.status === wanted && c.observedGeneration === obj.metadata.generation) {
        process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} condition met\n`);
        return 0;
      }
    }
    if (Date.now() > deadline) {
      const c = type ? getCondition(obj.status, type) : undefined;
      process.stderr.write(`error: timed out waiting for ${options.for} on ${obj.kind.toLowerCase()}/${obj.metadata.name}${c ? ` (now ${c.status}: ${c.reason}: ${c.message})` : ""}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
