import { type ClientOptions, withClient } from "../client/open.js";
import type { ControlOp, ControlTarget } from "../client/types.js";
import { parseRef } from "../context.js";

/**
 * suspend, resume, reconcile: on a server through its API; locally through the running `watch`
 * or `controller` when one holds the state file, else directly on the file (reconcile then
 * needs a running loop).
 */
export function controlCommand(
  op: ControlOp,
  words: string[],
  options: ClientOptions & { group?: string },
): Promise<number> {
  const source = words.length === 1 && words[0]?.startsWith("source/") ? words[0].slice("source/".length) : undefined;
  const target: ControlTarget = source !== undefined ? { source } : { ref: parseRef(words, options.group) };
  return withClient(options, { write: true, command: `airloft ${op}`, throughHolder: true }, async (client) => {
    process.stdout.write(`${await client.control(op, target)}\n`);
    return 0;
  });
}
