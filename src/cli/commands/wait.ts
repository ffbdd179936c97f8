import { AirloftError } from "../../errors.js";
import { getCondition } from "../../resources/conditions.js";
import { keyOf } from "../../resources/kinds.js";
import type { ConditionType, Resource } from "../../resources/types.js";
import { type ClientOptions, withClient } from "../client/open.js";
import { waitUntil } from "../client/wait.js";
import { parseRef, UsageError } from "../context.js";

export interface WaitOptions extends ClientOptions {
  readonly for: string;
  readonly group?: string;
  readonly timeout?: string;
}

/**
 * Waits until a condition holds at the current generation or the object is gone (`--for
 * delete`). The loop itself runs elsewhere: `airloft controller`, or the server.
 */
export function waitCommand(words: string[], options: WaitOptions): Promise<number> {
  const goal = parseWaitFor(options.for);
  const ref = parseRef(words, options.group);
  return withClient(options, { write: false, command: "airloft wait" }, async (client) => {
    let obj: Resource;
    try {
      obj = await client.find(ref);
    } catch (err) {
      if (goal.deleted && err instanceof AirloftError && err.code === "NotFound") return 0;
      throw err;
    }
    const key = keyOf(obj);
    const met = (o: Resource | undefined): boolean => (goal.deleted ? !o : o !== undefined && conditionMet(o, goal));
    const wait = { keys: [key], runLoop: false, timeout: options.timeout };
    const { last } = await waitUntil(
      client,
      wait,
      (seen) => met(seen.get(key)),
      (seen) => seen.get(key),
    );
    if (met(last)) {
      process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} condition met\n`);
      return 0;
    }
    process.stderr.write(timedOut(last ?? obj, goal, options.for));
    return 1;
  });
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
