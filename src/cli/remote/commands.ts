import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { getCondition, isReadyAt, isStalledAt } from "../../resources/conditions.js";
import { API_PREFIX, apiPath, displayName, keyOf, parseKind, PLURAL } from "../../resources/kinds.js";
import { collectFiles, loadManifests } from "../../resources/loader.js";
import type { Resource, StoredEvent } from "../../resources/types.js";
import type { ChangeAction } from "../../store/store.js";
import { parseDuration } from "../../util/duration.js";
import { parseRef, UsageError, type ResourceRef } from "../context.js";
import { conditionMet, parseWaitFor, timedOut } from "../commands/wait.js";
import { describeObject, instanceTable } from "../describe.js";
import { notReadyError, parseFormat, renderObjects } from "../output.js";
import { changePrinter, untilInterrupted } from "../watch-rows.js";
import { ApiClient, RemoteError } from "./client.js";

interface RemoteChange {
  readonly key: string;
  readonly display: string;
  readonly action: ChangeAction;
  readonly object: Resource;
}

/** `apply` against a server: the files go as they are, so errors name them; then waits for Ready through the watch stream. */
export async function remoteApply(server: string, options: { filename: string[]; recursive?: boolean; dryRun?: boolean; wait?: boolean; timeout?: string; prune?: boolean }): Promise<number> {
  if (options.prune) throw new UsageError("--prune is not available against a server yet: use `airloft serve --watch DIR` for a pruned folder");
  const client = new ApiClient(server);
  const files = collectFiles(options.filename, { recursive: options.recursive ?? false }).map((file) => ({ name: relative(process.cwd(), resolve(file)) || file, content: readFileSync(file, "utf8") }));
  const { changes } = await client.request<{ changes: RemoteChange[] }>("POST", `${API_PREFIX}/apply${options.dryRun ? "?dryRun=true" : ""}`, { json: { files } });
  for (const change of changes) process.stdout.write(`${change.display} ${change.action}${options.dryRun ? " (dry run)" : ""}\n`);
  if (options.dryRun || options.wait === false || changes.length === 0) return 0;
  const keys = changes.map((c) => c.key);
  const settled = (o: Resource | undefined): boolean => o !== undefined && (isReadyAt(o) || isStalledAt(o));
  const final = await follow(client, keys, settled, options.timeout, (o) => {
    if (isReadyAt(o)) process.stdout.write(`  ✓ ${displayName(o)} ready: ${getCondition(o.status, "Ready")?.message ?? ""}\n`);
    else if (isStalledAt(o)) process.stdout.write(`  ✗ ${displayName(o)} stalled: ${getCondition(o.status, "Stalled")?.message ?? ""}\n`);
  });
  return reportNotReady(keys, final, options.timeout);
}

/** `get` against a server, and `get --watch`: the rows as they change, until Ctrl-C. */
export async function remoteGet(server: string, words: string[], options: { group?: string; output?: string; showSecrets?: boolean; watch?: boolean }): Promise<number> {
  const format = parseFormat(options.output);
  const client = new ApiClient(server);
  const [first] = words;
  const single = first !== undefined && (words.length > 1 || first.includes("/"));
  if (options.watch) {
    if (single) throw new UsageError("--watch lists a kind or everything: airloft get app --watch");
    return watchRows(client, collectionPath(first, options.group), format);
  }
  let objects: Resource[];
  if (single) {
    const obj = await findRemote(client, parseRef(words, options.group));
    objects = [options.showSecrets ? await client.request<Resource>("GET", `${apiPath(obj)}?showSecrets=true`) : obj];
  } else {
    objects = (await client.request<{ items: Resource[] }>("GET", collectionPath(first, options.group))).items;
    if (options.showSecrets) objects = await Promise.all(objects.map((o) => client.request<Resource>("GET", `${apiPath(o)}?showSecrets=true`)));
  }
  if (options.showSecrets && format !== "json" && format !== "yaml") throw new UsageError("--show-secrets needs -o json or -o yaml");
  if (objects.length === 0 && format !== "json" && format !== "yaml") {
    process.stderr.write("no objects found\n");
    return 0;
  }
  process.stdout.write(renderObjects(objects, format));
  return 0;
}

export async function remoteDescribe(server: string, words: string[], options: { group?: string }): Promise<number> {
  const client = new ApiClient(server);
  const obj = await findRemote(client, parseRef(words, options.group));
  const { items } = await client.request<{ items: StoredEvent[] }>("GET", `${apiPath(obj)}/events`);
  process.stdout.write(describeObject(obj, { events: items, replicas: obj.kind === "App" ? instanceTable(obj, "Replicas (last observed)") : [] }));
  return 0;
}

/** `delete` against a server: marks the objects, then waits (through the watch) until they are gone. */
export async function remoteDelete(server: string, words: string[], options: { filename?: string[]; recursive?: boolean; group?: string; cascade?: boolean; wait?: boolean; timeout?: string }): Promise<number> {
  const client = new ApiClient(server);
  let targets: Array<Pick<Resource, "kind" | "metadata">>;
  if (options.filename && options.filename.length > 0) targets = loadManifests(options.filename, { recursive: options.recursive ?? false }).map((m) => m.object);
  else if (words.length > 0) targets = [await findRemote(client, parseRef(words, options.group))];
  else throw new UsageError("name what to delete: -f PATH or KIND/NAME");
  // Owned objects first, as locally: a group is deleted after what is in it.
  targets.sort((a, b) => (a.kind === "Group" ? 1 : 0) - (b.kind === "Group" ? 1 : 0));
  const keys: string[] = [];
  for (const target of targets) {
    const cascade = target.kind === "Group" && options.cascade ? "?cascade=true" : "";
    try {
      const { changes } = await client.request<{ changes: RemoteChange[] }>("DELETE", apiPath(target) + cascade);
      for (const c of changes) {
        process.stdout.write(`${c.display} deleted\n`);
        keys.push(c.key);
      }
    } catch (err) {
      // Deleting by file: what is already gone is fine, as locally.
      if (!(err instanceof RemoteError && err.status === 404 && options.filename)) throw err;
    }
  }
  if (options.wait === false || keys.length === 0) return 0;
  const final = await follow(client, keys, (o) => o === undefined, options.timeout, () => undefined);
  const left = keys.filter((k) => final.get(k) !== undefined);
  if (left.length > 0) {
    process.stderr.write(`error: still deleting: ${left.join(", ")}\n`);
    return 1;
  }
  return 0;
}

/** `wait` against a server: follows the object on the watch stream until the goal holds. */
export async function remoteWait(server: string, words: string[], options: { for: string; group?: string; timeout?: string }): Promise<number> {
  const goal = parseWaitFor(options.for);
  const client = new ApiClient(server);
  let obj: Resource;
  try {
    obj = await findRemote(client, parseRef(words, options.group));
  } catch (err) {
    if (goal.deleted && err instanceof RemoteError && err.status === 404) return 0;
    throw err;
  }
  const key = keyOf(obj);
  const met = (o: Resource | undefined): boolean => (goal.deleted ? o === undefined : o !== undefined && conditionMet(o, goal));
  const final = (await follow(client, [key], met, options.timeout, () => undefined)).get(key);
  if (met(final)) {
    process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} condition met\n`);
    return 0;
  }
  process.stderr.write(timedOut(final ?? obj, goal, options.for));
  return 1;
}

function collectionPath(kindWord: string | undefined, group: string | undefined): string {
  const kind = kindWord ? parseKind(kindWord) : undefined;
  if (kindWord && !kind) throw new UsageError(`unknown kind ${JSON.stringify(kindWord)}: use group, app, service or quota`);
  if (group && kind && kind !== "Group") return `${API_PREFIX}/groups/${encodeURIComponent(group)}/${PLURAL[kind]}`;
  if (group && !kind) throw new UsageError("-g with a server needs a kind: airloft get app -g GROUP");
  return kind ? `${API_PREFIX}/${PLURAL[kind]}` : `${API_PREFIX}/objects`;
}

/** The object a reference names; without a group, the only one of that kind and name the token sees. */
async function findRemote(client: ApiClient, ref: ResourceRef): Promise<Resource> {
  if (ref.kind === "Group" || ref.group !== undefined) {
    return client.request<Resource>("GET", apiPath({ kind: ref.kind, metadata: { name: ref.name, ...(ref.group !== undefined ? { group: ref.group } : {}) } }));
  }
  const { items } = await client.request<{ items: Resource[] }>("GET", `${API_PREFIX}/${PLURAL[ref.kind]}`);
  const matches = items.filter((o) => o.metadata.name === ref.name);
  const [only, ...others] = matches;
  if (!only) throw new RemoteError(404, "NotFound", `${ref.kind.toLowerCase()}/${ref.name} not found in any group you can see`);
  if (others.length > 0) throw new UsageError(`${ref.kind.toLowerCase()}/${ref.name} exists in groups ${matches.map((m) => m.metadata.group).join(", ")}: name one with -g`);
  return only;
}

/**
 * Follows the objects named by `keys` on the watch stream until `done` holds for each (undefined
 * once deleted) or the timeout passes; returns what was last seen of each.
 */
async function follow(client: ApiClient, keys: readonly string[], done: (o: Resource | undefined) => boolean, timeout: string | undefined, onChange: (o: Resource) => void): Promise<Map<string, Resource | undefined>> {
  const wanted = new Set(keys);
  const latest = new Map<string, Resource | undefined>();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), parseDuration(timeout ?? "5m"));
  const interrupt = (): void => controller.abort();
  process.once("SIGINT", interrupt);
  let synced = false;
  const check = (): void => {
    if (synced && keys.every((k) => done(latest.get(k)))) controller.abort();
  };
  try {
    await client.watch(`${API_PREFIX}/objects`, (line) => {
      if (line.type === "BOOKMARK") synced = true;
      else if (line.object && wanted.has(keyOf(line.object))) {
        const key = keyOf(line.object);
        const before = latest.get(key);
        latest.set(key, line.type === "DELETED" ? undefined : line.object);
        if (line.type !== "DELETED" && (before === undefined || isReadyAt(before) !== isReadyAt(line.object) || isStalledAt(before) !== isStalledAt(line.object))) onChange(line.object);
      }
      check();
    }, controller.signal);
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", interrupt);
  }
  return latest;
}

function reportNotReady(keys: readonly string[], final: Map<string, Resource | undefined>, timeout: string | undefined): number {
  const notReady = keys.filter((k) => {
    const o = final.get(k);
    return !o || !isReadyAt(o);
  });
  for (const key of notReady) {
    const o = final.get(key);
    process.stderr.write(notReadyError(o ? displayName(o) : key, o));
  }
  const stillWaiting = notReady.some((k) => { const o = final.get(k); return !o || !isStalledAt(o); });
  if (stillWaiting) process.stderr.write(`error: waited up to ${timeout ?? "5m"}; the server goes on converging\n`);
  return notReady.length === 0 ? 0 : 1;
}

/** Prints the current rows, then one row per change, like `kubectl get --watch`. */
async function watchRows(client: ApiClient, path: string, format: ReturnType<typeof parseFormat>): Promise<number> {
  const print = changePrinter(format);
  const { signal } = untilInterrupted();
  await client.watch(path, (line) => {
    if (line.object && line.type !== "BOOKMARK") print(line.type, line.object);
  }, signal);
  return 0;
}
