import { keyOf, parseKind } from "../../resources/kinds.js";
import type { Resource } from "../../resources/types.js";
import { type ClientOptions, withClient } from "../client/open.js";
import type { ResourceClient } from "../client/types.js";
import { parseRef, UsageError } from "../context.js";
import { describeObject } from "../describe.js";
import { isStructured, parseFormat, renderObjects } from "../output.js";
import { changePrinter, untilInterrupted } from "../watch-rows.js";

export interface GetOptions extends ClientOptions {
  readonly group?: string;
  readonly output?: string;
  /** Adds generated credentials (a service's password) to yaml or json output. */
  readonly showSecrets?: boolean;
  /** After the list, every change as it happens. */
  readonly watch?: boolean;
}

export function getCommand(words: string[], options: GetOptions): Promise<number> {
  const format = parseFormat(options.output);
  return withClient(options, { write: false, command: "airloft get" }, async (client) => {
    let objects: Resource[];
    const [first] = words;
    if (first && (words.length > 1 || first.includes("/"))) {
      if (options.watch) throw new UsageError("--watch lists a kind or everything: airloft get app --watch");
      objects = [await client.find(parseRef(words, options.group))];
    } else {
      const kind = first ? parseKind(first) : undefined;
      if (first && !kind) {
        throw new UsageError(`unknown kind ${JSON.stringify(first)}: use group, app, service or quota`);
      }
      const filter = { ...(kind ? { kind } : {}), ...(options.group ? { group: options.group } : {}) };
      if (options.watch) {
        // The rows now, then a row per change, like `kubectl get --watch`, until Ctrl-C.
        await client.watch(filter, changePrinter(format), untilInterrupted().signal);
        return 0;
      }
      objects = await client.list(filter);
    }
    if (objects.length === 0 && !isStructured(format)) {
      process.stderr.write("no objects found\n");
      return 0;
    }
    if (options.showSecrets) {
      if (!isStructured(format)) throw new UsageError("--show-secrets needs -o json, yaml or toml");
      objects = await Promise.all(objects.map((o) => client.withSecrets(o)));
    }
    const owners = format === "wide" ? await sourceOwners(client) : new Map<string, string>();
    process.stdout.write(renderObjects(objects, format, (o) => owners.get(keyOf(o))));
    return 0;
  });
}

/** The source or prune set that applied each object, for the wide table's SOURCE column. */
async function sourceOwners(client: ResourceClient): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const source of await client.sources()) {
    for (const { key } of source.inventory) if (!owners.has(key)) owners.set(key, source.name);
  }
  return owners;
}

/** Spec, conditions, per-kind facts and events of one object. */
export function describeCommand(words: string[], options: GetOptions): Promise<number> {
  return withClient(options, { write: false, command: "airloft describe" }, async (client) => {
    const obj = await client.find(parseRef(words, options.group));
    process.stdout.write(describeObject(obj, await client.details(obj)));
    return 0;
  });
}
