import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { AirloftError } from "../../errors.js";
import type { RunView } from "../../jobs/run-access.js";
import type { GroupUsage } from "../../metrics/usage-sampler.js";
import type { Revision } from "../../releases/revisions.js";
import type { UndoRequest, UndoResult } from "../../releases/undo.js";
import { getCondition, isReadyAt, isStalledAt } from "../../resources/conditions.js";
import { API_PREFIX, apiPath, displayName, keyOf, PLURAL } from "../../resources/kinds.js";
import { collectFiles } from "../../resources/loader.js";
import type { App, Resource, Service, StoredEvent } from "../../resources/types.js";
import type { SourceView } from "../../server/control-api.js";
import type { DiffEntry } from "../../server/diff-plan.js";
import type { Change } from "../../store/store.js";
import { onlyMatch, type ResourceRef } from "../context.js";
import { type DescribeExtras, instanceTable } from "../describe.js";
import { ApiClient, jsonLines, RemoteError } from "../remote/client.js";
import type { ChangeType } from "../watch-rows.js";
import type {
  AppliedChanges,
  ApplyOptions,
  ControlOp,
  ControlTarget,
  DeleteTarget,
  Following,
  FollowOptions,
  LogRequest,
  ManifestFiles,
  ObjectFilter,
  ResourceClient,
  SecretUpdate,
} from "./types.js";

/** An `airloft serve` over HTTP, with the token `airloft login` kept (or $AIRLOFT_TOKEN). */
export class RemoteClient implements ResourceClient {
  readonly convergesLater = "the server goes on converging them";
  private readonly api: ApiClient;

  constructor(server: string, env: NodeJS.ProcessEnv = process.env) {
    this.api = new ApiClient(server, env);
  }

  async list(filter: ObjectFilter): Promise<Resource[]> {
    const { items } = await this.api.request<{ items: Resource[] }>("GET", collectionPath(filter));
    return items.filter((o) => inFilter(o, filter));
  }

  /** Without a group, the only object of that kind and name the token sees. */
  async find(ref: ResourceRef): Promise<Resource> {
    if (ref.kind === "Group" || ref.group !== undefined) {
      const metadata = { name: ref.name, ...(ref.group !== undefined ? { group: ref.group } : {}) };
      return this.api.request<Resource>("GET", apiPath({ kind: ref.kind, metadata }));
    }
    return onlyMatch(ref, await this.list({ kind: ref.kind }), "in any group you can see");
  }

  withSecrets(obj: Resource): Promise<Resource> {
    return this.api.request<Resource>("GET", `${apiPath(obj)}?showSecrets=true`);
  }

  async updateSecret({ group, name, set, unset }: SecretUpdate): Promise<Change> {
    const { secretDocument } = await import("../../secrets/update.js");
    const path = apiPath({ kind: "Secret", metadata: { name, group } });
    const query = unset.length > 0 ? `?unset=${encodeURIComponent(unset.join(","))}` : "";
    return this.api.request<Change>("PATCH", `${path}${query}`, { json: secretDocument(group, name, set) });
  }

  async rotateSecretsKey(): Promise<number> {
    const { sealed } = await this.api.request<{ sealed: number }>("POST", `${API_PREFIX}/secrets/rotate-key`);
    return sealed;
  }

  async rolloutHistory(app: App): Promise<readonly Revision[]> {
    return (await this.api.request<{ items: Revision[] }>("GET", `${apiPath(app)}/rollout/history`)).items;
  }

  rolloutUndo(app: App, request: Omit<UndoRequest, "by">): Promise<UndoResult> {
    return this.api.request<UndoResult>("POST", `${apiPath(app)}/rollout/undo`, { json: request });
  }

  /** The replicas as the server last observed them: the engine is the server's, not this machine's. */
  async details(obj: Resource): Promise<DescribeExtras> {
    const [{ items }, control] = await Promise.all([
      this.api.request<{ items: StoredEvent[] }>("GET", `${apiPath(obj)}/events`),
      this.api.request<{ suspended: boolean; source?: string }>("GET", `${apiPath(obj)}/control`),
    ]);
    const replicas = obj.kind === "App" ? instanceTable(obj, "Replicas (last observed)") : [];
    const source = control.source !== undefined ? { source: control.source } : {};
    return { events: items, replicas, suspended: control.suspended, ...source };
  }

  /** The files go as they are, so that errors name them. */
  async apply(files: ManifestFiles, options: ApplyOptions): Promise<AppliedChanges> {
    const json = { files: readFiles(files) };
    if (options.prune !== undefined && !options.dryRun) {
      return this.api.request<AppliedChanges>("POST", `${sourcePath(options.prune)}/apply`, { json });
    }
    const path = `${API_PREFIX}/apply${options.dryRun ? "?dryRun=true" : ""}`;
    const { changes } = await this.api.request<{ changes: Change[] }>("POST", path, { json });
    return { changes, pruned: [] };
  }

  async delete(targets: readonly DeleteTarget[], options: { cascade: boolean }): Promise<Change[]> {
    // Owned objects first, as locally: a group is deleted after what is in it.
    const last = (t: DeleteTarget): number => (t.object.kind === "Group" ? 1 : 0);
    const sorted = [...targets].sort((a, b) => last(a) - last(b));
    const all: Change[] = [];
    for (const target of sorted) {
      const cascade = target.object.kind === "Group" && options.cascade ? "?cascade=true" : "";
      try {
        const { changes } = await this.api.request<{ changes: Change[] }>("DELETE", apiPath(target.object) + cascade);
        all.push(...changes);
      } catch (err) {
        if (!(target.missingOk && err instanceof RemoteError && err.status === 404)) throw err;
      }
    }
    return all;
  }

  async diff(files: ManifestFiles): Promise<readonly DiffEntry[]> {
    const json = { files: readFiles(files) };
    return (await this.api.request<{ entries: DiffEntry[] }>("POST", `${API_PREFIX}/diff`, { json })).entries;
  }

  async sources(): Promise<readonly SourceView[]> {
    return (await this.api.request<{ items: SourceView[] }>("GET", `${API_PREFIX}/sources`)).items;
  }

  async control(op: ControlOp, target: ControlTarget): Promise<string> {
    const path = "source" in target ? sourcePath(target.source) : apiPath(await this.find(target.ref));
    return (await this.api.request<{ message: string }>("POST", `${path}/${op}`)).message;
  }

  /** GET .../logs as JSON lines; a last line {"error"} is the server's failure after the first line. */
  async logs(obj: App | Service, request: LogRequest): Promise<void> {
    await this.streamLogs(`${apiPath(obj)}/logs`, request);
  }

  async startRun(app: App, command: readonly string[]): Promise<string> {
    const path = `${apiPath(app)}/runs`;
    return (await this.api.request<{ id: string }>("POST", path, { json: { command } })).id;
  }

  async runState(group: string, id: string): Promise<RunView> {
    return this.api.request<RunView>("GET", runPath(group, id));
  }

  async runLogs(group: string, id: string, request: LogRequest): Promise<void> {
    await this.streamLogs(`${runPath(group, id)}/logs`, request);
  }

  private async streamLogs(path: string, request: LogRequest): Promise<void> {
    const query = new URLSearchParams({ follow: String(request.follow) });
    if (request.tail !== undefined) query.set("tail", String(request.tail));
    if (request.since) query.set("since", request.since.toISOString());
    try {
      const res = await this.api.stream(`${path}?${query}`, request.signal);
      for await (const entry of jsonLines<LogLine>(res.body)) {
        if (entry.error !== undefined) throw new AirloftError("LogsFailed", entry.error);
        await request.write(entry.replica ?? "?", entry.line ?? "");
      }
    } catch (err) {
      if (!request.signal.aborted) throw err;
    }
  }

  watch(filter: ObjectFilter, onChange: (type: ChangeType, obj: Resource) => void, signal: AbortSignal): Promise<void> {
    return this.api.watch(
      collectionPath(filter),
      (line) => {
        if (line.object && line.type !== "BOOKMARK" && inFilter(line.object, filter)) onChange(line.type, line.object);
      },
      signal,
    );
  }

  /**
   * Follows the watch stream of every object the token sees; resolves once the listing is whole.
   * Progress is what the stream shows: an object turning ready or stalled, or going.
   */
  async follow(options: FollowOptions): Promise<Following> {
    const latest = new Map<string, Resource>();
    const reported = new Map<string, string>();
    const wanted = new Set(options.keys);
    const controller = new AbortController();
    // A server that cannot be reached is retried until the wait is over.
    options.signal.addEventListener("abort", () => controller.abort(), { once: true });
    let listed: () => void = () => undefined;
    const listing = new Promise<void>((resolve) => (listed = resolve));
    const watching = this.api.watch(
      `${API_PREFIX}/objects`,
      (line) => {
        if (line.type === "BOOKMARK") listed();
        else if (line.object) {
          const key = keyOf(line.object);
          if (line.type === "DELETED") latest.delete(key);
          else latest.set(key, line.object);
          if (wanted.has(key))
            report(line.type === "DELETED" ? undefined : line.object, line.object, reported, options);
        }
        options.onChange();
      },
      controller.signal,
    );
    await Promise.race([listing, watching]);
    return {
      get: (key) => latest.get(key),
      // The server's loop runs all along: its verdict on the current generation is current.
      attempted: () => true,
      reconciled: () => true,
      stop: async () => {
        controller.abort();
        await watching.catch(() => undefined);
      },
    };
  }

  /** The server's last stats pass: this machine need not reach the engine. */
  usage(group: string): Promise<GroupUsage> {
    return this.api.request<GroupUsage>("GET", `${API_PREFIX}/groups/${encodeURIComponent(group)}/metrics?format=json`);
  }

  async close(): Promise<void> {
    // Nothing held open between requests.
  }
}

/** Progress as a watch stream shows it: an object turning ready or stalled, or going; each said once. */
function report(
  now: Resource | undefined,
  last: Resource,
  reported: Map<string, string>,
  options: FollowOptions,
): void {
  const key = keyOf(last);
  const kind = !now ? "deleted" : isReadyAt(now) ? "ready" : isStalledAt(now) ? "stalled" : undefined;
  if (kind === undefined || reported.get(key) === kind) return;
  reported.set(key, kind);
  const condition = now ? getCondition(now.status, kind === "ready" ? "Ready" : "Stalled") : undefined;
  options.onProgress({ key, display: displayName(last), kind, message: condition?.message ?? "removed by the server" });
}

/** One line of GET .../logs. */
interface LogLine {
  readonly replica?: string;
  readonly line?: string;
  readonly error?: string;
}

function sourcePath(name: string): string {
  return `${API_PREFIX}/sources/${encodeURIComponent(name)}`;
}

function readFiles(files: ManifestFiles): Array<{ name: string; content: string }> {
  return collectFiles(files.paths, { recursive: files.recursive }).map((file) => ({
    name: relative(process.cwd(), resolve(file)) || file,
    content: readFileSync(file, "utf8"),
  }));
}

/** The narrowest collection the API serves for a filter; a group without a kind is filtered here. */
function collectionPath(filter: ObjectFilter): string {
  if (filter.kind && filter.group !== undefined && filter.kind !== "Group") {
    return `${API_PREFIX}/groups/${encodeURIComponent(filter.group)}/${PLURAL[filter.kind]}`;
  }
  return filter.kind ? `${API_PREFIX}/${PLURAL[filter.kind]}` : `${API_PREFIX}/objects`;
}

function inFilter(obj: Resource, filter: ObjectFilter): boolean {
  if (filter.kind && obj.kind !== filter.kind) return false;
  return filter.group === undefined || obj.metadata.group === filter.group;
}

function runPath(group: string, id: string): string {
  return `${API_PREFIX}/groups/${encodeURIComponent(group)}/runs/${encodeURIComponent(id)}`;
}
