import { setSuspended } from "../../controllers/suspension.js";
import { LockedError } from "../../errors.js";
import { getSource, saveSource } from "../../gitops/sources.js";
import { keyOf } from "../../resources/kinds.js";
import { controlSocketPath, sendControl, type ControlRequest } from "../control.js";
import { findObject, openStore, parseRef, statePath, UsageError, type GlobalOptions } from "../context.js";

/**
 * suspend, resume, reconcile: through the running `watch` or `controller` when one holds the
 * state file, else directly on the file (reconcile then needs a running loop).
 */
export async function controlCommand(op: ControlRequest["op"], words: string[], options: GlobalOptions & { group?: string }): Promise<number> {
  const sourceName = words.length === 1 && words[0]?.startsWith("source/") ? words[0].slice("source/".length) : undefined;
  let store;
  try {
    store = await openStore(options, { write: true, command: `airloft ${op}` });
  } catch (err) {
    if (!(err instanceof LockedError)) throw err;
    const readOnly = await openStore(options, { write: false, command: `airloft ${op}` });
    const target = sourceName ? `source/${sourceName}` : keyOf(findObject(readOnly, parseRef(words, options.group)));
    const res = await sendControl(controlSocketPath(statePath(options)), { op, target });
    process.stdout.write(`${res.message}\n`);
    return res.ok ? 0 : 2;
  }
  try {
    if (op === "reconcile") throw new UsageError("no `airloft controller` or `airloft watch` is running on this state file to reconcile; `airloft apply` reconciles what it applies");
    if (sourceName) {
      const record = getSource(store, sourceName);
      if (!record) throw new UsageError(`source ${sourceName} not found`);
      await saveSource(store, { ...record, suspended: op === "suspend" });
      process.stdout.write(`source/${sourceName} ${op}ed\n`);
      return 0;
    }
    const key = keyOf(findObject(store, parseRef(words, options.group)));
    await setSuspended(store, key, op === "suspend");
    process.stdout.write(`${key} ${op}ed\n`);
    return 0;
  } finally {
    await store.close();
  }
}
