import { unwatchFile, watchFile } from "node:fs";
import { errorMessage } from "../../errors.js";
import { ProviderRegistry } from "../../providers/registry.js";
import { keyOf, objectKey, parseKind } from "../../resources/kinds.js";
import type { App, Resource } from "../../resources/types.js";
import type { ListFilter, Store } from "../../store/store.js";
import { findObject, openStore, parseRef, UsageError, type GlobalOptions } from "../context.js";
import { describeObject, indent, instanceTable } from "../describe.js";
import { parseFormat, renderObjects, renderTable, type OutputFormat } from "../output.js";
import { changePrinter, untilInterrupted } from "../watch-rows.js";

export interface GetOptions extends GlobalOptions {
  readonly group?: string;
  readonly output?: string;
  /** Adds generated credentials (a service's password) to yaml or json output. */
  readonly showSecrets?: boolean;
  /** After the list, every change as it happens. */
  readonly watch?: boolean;
}

export async function getCommand(words: string[], options: GetOptions): Promise<number> {
  const format = parseFormat(options.output);
  const store = await openStore(options, { write: false, command: "airloft get" });
  let objects: Resource[];
  const [first] = words;
  if (first && (words.length > 1 || first.includes("/"))) {
    if (options.watch) throw new UsageError("--watch lists a kind or everything: airloft get app --watch");
    objects = [findObject(store, parseRef(words, options.group))];
  } else {
    const kind = first ? parseKind(first) : undefined;
    if (first && !kind) throw new UsageError(`unknown kind ${JSON.stringify(first)}: use group, app, service or quota`);
    const filter = { ...(kind ? { kind } : {}), ...(options.group ? { group: options.group } : {}) };
    if (options.watch) return watchStateFile(store, filter, format);
    objects = store.list(filter);
  }
  if (objects.length === 0 && format !== "json" && format !== "yaml") {
    process.stderr.write("no objects found\n");
    return 0;
  }
  if (options.showSecrets) {
    if (format !== "json" && format !== "yaml") throw new UsageError("--show-secrets needs -o json or -o yaml");
    objects = objects.map((o) => ({ ...o, secrets: store.secretsOf(o) }));
  }
  process.stdout.write(renderObjects(objects, format, (o) => store.sourceOf(keyOf(o))));
  return 0;
}

export async function describeCommand(words: string[], options: GetOptions): Promise<number> {
  const store = await openStore(options, { write: false, command: "airloft describe" });
  const obj = findObject(store, parseRef(words, options.group));
  const key = keyOf(obj);
  const replicas = obj.kind === "App" ? await liveReplicas(store, obj) : [];
  const source = store.sourceOf(key);
  process.stdout.write(describeObject(obj, { events: store.eventsOf(obj), replicas, suspended: store.isSuspended(key), ...(source ? { source } : {}) }));
  return 0;
}

/**
 * `get --watch` on the local state file: the rows now, then a row for each object whose
 * resourceVersion changed, as the process running the loop writes the file. The file is replaced
 * atomically, so every read sees a whole version.
 */
async function watchStateFile(store: Store, filter: ListFilter, format: OutputFormat): Promise<number> {
  const print = changePrinter(format);
  let seen = new Map<string, Resource>();
  let reading: Promise<void> | undefined;
  let again = false;
  const refresh = async (): Promise<void> => {
    await store.reload();
    const now = new Map(store.list(filter).map((o) => [keyOf(o), o]));
    for (const [key, obj] of now) {
      const before = seen.get(key);
      if (!before) print("ADDED", obj);
      else if (before.metadata.resourceVersion !== obj.metadata.resourceVersion) print("MODIFIED", obj);
    }
    for (const [key, obj] of seen) if (!now.has(key)) print("DELETED", obj);
    seen = now;
  };
  // One read at a time; a change during a read is read again after it.
  const onChange = (): void => {
    if (reading) {
      again = true;
      return;
    }
    reading = refresh().finally(() => {
      reading = undefined;
      if (again) {
        again = false;
        onChange();
      }
    });
  };
  await refresh();
  const { done } = untilInterrupted();
  watchFile(store.path, { interval: 250 }, onChange);
  await done;
  unwatchFile(store.path, onChange);
  await reading;
  return 0;
}

/** The app's replicas as its provider has them now; the last observed status if it cannot be reached. */
async function liveReplicas(store: Store, app: App): Promise<string[]> {
  const group = store.get(objectKey("Group", "", app.metadata.group ?? ""));
  if (group?.kind !== "Group") return instanceTable(app, "Replicas (last observed)");
  try {
    const provider = await new ProviderRegistry({ instanceId: store.instanceId }).for(group);
    const live = await provider.liveReplicas(app, group);
    const table = live.rows.length === 0 ? "  (none)" : indent(renderTable(live.columns, live.rows).trimEnd(), 2);
    return [`${live.title}:`, table];
  } catch (err) {
    return instanceTable(app, `Replicas (last observed; ${errorMessage(err)})`);
  }
}
