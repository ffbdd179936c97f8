import { getCondition } from "../../resources/conditions.js";
import type { ConditionType, Resource } from "../../resources/types.js";
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
  const goal = parseWaitFor(options.for);
  const ref = parseRef(words, options.group);
  const store = await openStore(options, { write: false, command: "airloft wait" });
  const deadline = Date.now() + parseDuration(options.timeout ?? "5m");
  for (;;) {
    await store.reload();
    let obj;
    try {
      obj = findObject(store, ref);
    } catch (err) {
      if (err instanceof NotFoundError && goal.deleted) return 0;
      throw err;
    }
    if (conditionMet(obj, goal)) {
      process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} condition met\n`);
      return 0;
    }
    if (Date.now() > deadline) {
      process.stderr.write(timedOut(obj, goal, options.for));
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface WaitGoal {
  /** The condition that must hold at the current generation, or undefined for `delete`. */
  readonly type: ConditionType | undefined;
  readonly status: string;
  readonly deleted: boolean;
}

/** Reads `--for`: condition=TYPE[=STATUS] or delete. */
export function parseWaitFor(text: string): WaitGoal {
  const match = /^condition=(Ready|Reconciling|Stalled)(?:=(True|False|Unknown))?$|^(delete)$/.exec(text);
  if (!match) throw new UsageError(`--for takes condition=Ready, condition=Stalled=True or delete, not ${text}`);
  return { type: match[1] as ConditionType | undefined, status: match[2] ?? "True", deleted: match[3] === "delete" };
}

export function conditionMet(obj: Resource, goal: WaitGoal): boolean {
  if (!goal.type) return false;
  const c = getCondition(obj.status, goal.type);
  return c !== undefined && c.status === goal.status && c.observedGeneration === obj.metadata.generation;
}

export function timedOut(obj: Resource, goal: WaitGoal, text: string): string {
  const c = goal.type ? getCondition(obj.status, goal.type) : undefined;
  return `error: timed out waiting for ${text} on ${obj.kind.toLowerCase()}/${obj.metadata.name}${c ? ` (now ${c.status}: ${c.reason}: ${c.message})` : ""}\n`;
}
