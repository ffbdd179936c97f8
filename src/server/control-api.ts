import type { IncomingMessage, ServerResponse } from "node:http";
import { isSuspended } from "../controllers/suspension.js";
import { NotFoundError } from "../errors.js";
import { getSource, listSources, type SourceRecord, saveSource, sourceOf } from "../gitops/sources.js";
import { prunable } from "../gitops/sync.js";
import type { ProviderRegistry } from "../providers/registry.js";
import { actorOf, recordRevisions } from "../releases/revisions.js";
import { isReadyAt } from "../resources/conditions.js";
import { displayName, keyOf, kindOfPlural, objectKey, PLURAL } from "../resources/kinds.js";
import type { LoadedManifest } from "../resources/loader.js";
import type { Kind, Resource } from "../resources/types.js";
import type { Change, Store } from "../store/store.js";
import { assertAdmin, assertCanSeeGroup, assertCanWrite, tenantOf } from "./access.js";
import type { ChangeBudget } from "./change-budget.js";
import { planDiff } from "./diff-plan.js";
import { ApiError, methodNotAllowed, sendJson } from "./http.js";
import type { Principal } from "./tokens.js";

export type ControlOp = "suspend" | "resume" | "reconcile";
const OPS: ReadonlySet<string> = new Set<ControlOp>(["suspend", "resume", "reconcile"]);

/** The controllers of the serving process, as the API reaches them (the same door as the control socket). */
export interface LoopAccess {
  readonly providers: ProviderRegistry;
  /** `target` is an object key ("App/acme/web") or "source/NAME". */
  control(req: { readonly op: ControlOp; readonly target: string }): Promise<ControlAnswer>;
}

export interface ControlAnswer {
  readonly ok: boolean;
  readonly message: string;
}

export interface ControlCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly principal: Principal;
  readonly query: URLSearchParams;
}

export interface ControlApiOptions {
  readonly store: Store;
  /** Reads a request's manifests with the resource API's limits, tenant rules and admission, and charges what an apply changed. */
  readonly manifests: {
    readManifests(call: ControlCall): Promise<LoadedManifest[]>;
    readonly changes: Pick<ChangeBudget, "within" | "charge">;
  };
  /** Absent when no controllers run with the API (tests of the API alone). */
  readonly loop: LoopAccess | undefined;
}

/** A prune set's name: printable, no spaces, and not in the namespace of the groups' own sets. */
const SOURCE_NAME = /^[\x21-\x7e]{1,512}$/;
const TENANT_SOURCE_PREFIX = "group:";

/**
 * What the CLI does beyond reading and writing objects, for `--server`: diff (planned through the
 * server's providers), apply --prune, and suspend, resume and reconcile of objects and sources.
 * The tenancy rules are the resource API's: a group sees and changes only its own apps and
 * services; sources of `serve --watch` are the admins'.
 *
 *   POST /diff                                    manifests -> { entries }
 *   GET  /sources                                 -> { items }: the sets and folders the caller may see
 *   POST /sources/NAME/apply                      manifests -> { changes, pruned }
 *   POST /sources/NAME/{suspend,resume,reconcile}
 *   POST /groups/G/{suspend,resume,reconcile}
 *   POST /groups/G/PLURAL/NAME/{suspend,resume,reconcile}
 *   GET  /groups/G/control, /groups/G/PLURAL/NAME/control    -> { suspended, source? }
 */
export class ControlApi {
  /** Prune applies one at a time: each reads and rewrites its set's inventory. */
  private pruning: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ControlApiOptions) {}

  /** Routes a path below API_PREFIX; false when no route matches. */
  async handle(call: ControlCall, segments: readonly string[]): Promise<boolean> {
    const method = call.req.method ?? "GET";
    const [first, second = "", third = "", fourth = "", fifth = ""] = segments;
    if (segments.length === 1 && first === "diff") await this.diff(call, method);
    else if (segments.length === 1 && first === "sources") this.sources(call, method);
    else if (segments.length === 3 && first === "sources" && third === "apply") {
      await this.pruneApply(call, method, second);
    } else if (segments.length === 3 && first === "sources" && isOp(third)) {
      await this.controlSource(call, method, third, second);
    } else if (segments.length === 3 && first === "groups" && isObjectVerb(third)) {
      await this.object(call, method, third, "Group", second, second);
    } else if (segments.length === 5 && first === "groups" && isObjectVerb(fifth)) {
      const kind = third !== PLURAL.Group ? kindOfPlural(third) : undefined;
      if (!kind) return false;
      await this.object(call, method, fifth, kind, second, fourth);
    } else return false;
    return true;
  }

  /** The spec changes and planned operations of applying the posted manifests; stores nothing. */
  private async diff(call: ControlCall, method: string): Promise<void> {
    if (method !== "POST") throw methodNotAllowed(method);
    const loop = this.loop();
    const manifests = await this.options.manifests.readManifests(call);
    // A diff shows the stored spec: only of objects the caller may read.
    for (const m of manifests) assertCanSeeGroup(call.principal, tenantOf(m.object));
    sendJson(call.res, 200, { kind: "Diff", entries: await planDiff(this.options.store, loop.providers, manifests) });
  }

  /**
   * Applies the posted manifests as the prune set NAME: what an earlier apply of the set stored
   * and these manifests no longer define is deleted. A group's sets are its own: their names
   * are kept apart from every other account's, and only what the caller may change is pruned.
   */
  private async pruneApply(call: ControlCall, method: string, name: string): Promise<void> {
    if (method !== "POST") throw methodNotAllowed(method);
    const stored = this.sourceName(call.principal, name);
    const manifests = await this.options.manifests.readManifests(call);
    for (const m of manifests) assertCanWrite(call.principal, m.object);
    const run = this.pruning.then(() => this.applySet(call.principal, stored, manifests));
    this.pruning = run.catch(() => undefined);
    sendJson(call.res, 200, await run);
  }

  /** An admin sees every source; a group its own prune sets, by the names it gave them. */
  private sources(call: ControlCall, method: string): void {
    if (method !== "GET") throw methodNotAllowed(method);
    const { store } = this.options;
    const items = listSources(store).flatMap((s) => {
      const name = this.shownSource(call.principal, s.name);
      return name === undefined ? [] : [sourceView(store, s, name)];
    });
    sendJson(call.res, 200, { kind: "SourceList", items });
  }

  private async applySet(
    principal: Principal,
    name: string,
    manifests: readonly LoadedManifest[],
  ): Promise<{ changes: Change[]; pruned: Change[] }> {
    const { store } = this.options;
    const previous = getSource(store, name);
    if (previous && previous.kind !== "apply") {
      throw new ApiError(409, "Conflict", `source ${name} is a watched folder, not a prune set`);
    }
    // Here, at the head of the prune queue: sets queued behind a spent budget are refused in turn.
    const budget = this.options.manifests.changes;
    const changes = await budget.within(principal, manifests.length, () =>
      store.apply(manifests, (applied) => recordRevisions(store, applied, actorOf(principal))),
    );
    const wanted = new Set(manifests.map((m) => keyOf(m.object)));
    const pruned: Change[] = [];
    try {
      for (const key of prunable(store, previous?.inventory ?? [], wanted, (obj) => mayChange(principal, obj))) {
        pruned.push(await store.markDeleted(key));
      }
    } finally {
      // Into debt if need be: the set's prunes go whole, and those done count if one fails.
      budget.charge(principal, pruned);
    }
    const record: SourceRecord = {
      name,
      paths: manifests.map((m) => m.source.file).filter((f, i, all) => all.indexOf(f) === i),
      kind: "apply",
      lastSyncTime: new Date().toISOString(),
      lastResult: "Succeeded",
      lastErrors: [],
      inventory: [...wanted].filter((k) => store.get(k)),
      files: {},
    };
    await saveSource(store, record);
    return { changes, pruned };
  }

  /** Sources are the server's watched folders (or prune sets): an admin's to suspend. */
  private async controlSource(call: ControlCall, method: string, op: ControlOp, name: string): Promise<void> {
    if (method !== "POST") throw methodNotAllowed(method);
    assertAdmin(call.principal, `${op} a source`);
    await this.send(call, op, `source/${name}`);
  }

  /**
   * POST an op, or GET whether the object is suspended and which set applied it. Another
   * group's objects are refused before they are even looked up.
   */
  private async object(
    call: ControlCall,
    method: string,
    verb: ControlOp | "control",
    kind: Kind,
    group: string,
    name: string,
  ): Promise<void> {
    const ref = { kind, metadata: kind === "Group" ? { name } : { name, group } };
    const key = objectKey(kind, kind === "Group" ? "" : group, name);
    const { store } = this.options;
    if (verb === "control") {
      if (method !== "GET") throw methodNotAllowed(method);
      assertCanSeeGroup(call.principal, tenantOf(ref));
      if (!store.get(key)) throw new NotFoundError(`${displayName(ref)} not found`);
      const source = this.shownSource(call.principal, sourceOf(store, key));
      sendJson(call.res, 200, { suspended: isSuspended(store, key), ...(source !== undefined ? { source } : {}) });
      return;
    }
    if (method !== "POST") throw methodNotAllowed(method);
    assertCanWrite(call.principal, ref);
    if (!store.get(key)) throw new NotFoundError(`${displayName(ref)} not found`);
    await this.send(call, verb, key);
  }

  private async send(call: ControlCall, op: ControlOp, target: string): Promise<void> {
    const answer = await this.loop().control({ op, target });
    if (!answer.ok) throw new NotFoundError(answer.message);
    sendJson(call.res, 200, { message: answer.message });
  }

  private loop(): LoopAccess {
    if (!this.options.loop) throw new ApiError(503, "Unavailable", "no controllers run with this API");
    return this.options.loop;
  }

  /** A group sees the names of its own sets only, as it named them. */
  private shownSource(principal: Principal, stored: string | undefined): string | undefined {
    if (stored === undefined || principal.kind === "admin") return stored;
    const own = `${TENANT_SOURCE_PREFIX}${principal.name}:`;
    return stored.startsWith(own) ? stored.slice(own.length) : undefined;
  }

  /** A group's set NAME is stored as "group:G:NAME"; an admin's under its own name, which may not look like one. */
  private sourceName(principal: Principal, name: string): string {
    if (!SOURCE_NAME.test(name)) {
      throw new ApiError(400, "BadRequest", "a source's name is 1 to 512 printable characters, without spaces");
    }
    if (principal.kind === "group") return `${TENANT_SOURCE_PREFIX}${principal.name}:${name}`;
    if (name.startsWith(TENANT_SOURCE_PREFIX)) {
      throw new ApiError(400, "BadRequest", `source names starting with ${TENANT_SOURCE_PREFIX} are the groups' own`);
    }
    return name;
  }
}

/** A git-ops source or prune set as `get sources` shows it, locally and from a server. */
export interface SourceView {
  readonly name: string;
  readonly kind: SourceRecord["kind"];
  readonly paths: readonly string[];
  readonly revision: string | null;
  readonly suspended: boolean;
  readonly lastSyncTime: string | null;
  readonly lastResult: string | null;
  readonly lastErrors: readonly string[];
  /** Changes made outside git (`rollout undo`) since its last sync. */
  readonly outsideGit: readonly string[];
  readonly inventory: ReadonlyArray<{ key: string; ready: boolean; deleting: boolean }>;
}

export function sourceView(store: Store, s: SourceRecord, name = s.name): SourceView {
  return {
    name,
    kind: s.kind,
    paths: s.paths,
    revision: s.revision ?? null,
    suspended: s.suspended ?? false,
    lastSyncTime: s.lastSyncTime ?? null,
    lastResult: s.lastResult ?? null,
    lastErrors: s.lastErrors,
    outsideGit: s.outsideGit ?? [],
    inventory: s.inventory.map((key) => {
      const obj = store.get(key);
      return { key, ready: obj ? isReadyAt(obj) : false, deleting: Boolean(obj?.metadata.deletionTimestamp) };
    }),
  };
}

function isOp(word: string): word is ControlOp {
  return OPS.has(word);
}

function isObjectVerb(word: string): word is ControlOp | "control" {
  return word === "control" || isOp(word);
}

function mayChange(principal: Principal, obj: Resource): boolean {
  try {
    assertCanWrite(principal, obj);
    return true;
  } catch {
    return false;
  }
}
