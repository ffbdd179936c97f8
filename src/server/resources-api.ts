import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { NotFoundError, ValidationError, ValidationErrors } from "../errors.js";
import { actorOf, recordRevisions } from "../releases/revisions.js";
import { admit } from "../resources/admission.js";
import { displayName, keyOf, kindOfPlural, objectKey, PLURAL } from "../resources/kinds.js";
import type { LoadedManifest } from "../resources/loader.js";
import type { Kind, Resource } from "../resources/types.js";
import { rotateSecretsKey } from "../secrets/rotate.js";
import { mergeSecret } from "../secrets/update.js";
import type { Change, Store } from "../store/store.js";
import { runInTurns } from "../util/steps.js";
import { threadLoad } from "../util/thread-load.js";
import { TokenBudgets } from "../util/token-budgets.js";
import { assertAdmin, assertCanSeeGroup, assertCanWrite, canSee } from "./access.js";
import { ChangeBudget } from "./change-budget.js";
import { DEFAULT_SLICE_MS, FairGate } from "./fair-gate.js";
import { ApiError, mediaType, methodNotAllowed, readBody, sendJson, sendJsonText } from "./http.js";
import type { ServerLimits } from "./limits.js";
import { type ManifestBody, parseManifestBody } from "./manifest-body.js";
import { ManifestWorker } from "./manifest-worker.js";
import { changesJsonSteps, listJson } from "./object-json.js";
import { type TenantRules, tenantRuleErrors } from "./tenant-rules.js";
import { accountKey, type Principal } from "./tokens.js";
import type { WatchHub, WatchRef } from "./watch-hub.js";
import type { WatchStreams } from "./watch-stream.js";

/**
 * Writes an account may have waiting for their turn to be parsed; the next is 429. Each holds at
 * most one body; a client writing from a few connections at once is not refused.
 */
const MAX_WAITING_WRITES = 8;
/**
 * A PUT's body may be this many times the object limit (YAML is wordier than JSON); past it the
 * body is refused before it is read, so that it costs no parse (and no garbage) at all.
 */
const PUT_BODY_FACTOR = 2;
const MANIFEST_TYPES = new Set([
  "application/json",
  "application/yaml",
  "application/x-yaml",
  "text/yaml",
  "text/plain",
  "",
]);

export interface ResourcesApiOptions {
  readonly store: Store;
  readonly hub: WatchHub;
  readonly maxBodyBytes: number;
  /** Where build contexts may be: inside this folder, or nowhere when unset. */
  readonly buildRoot: string | undefined;
  readonly tenantRules: TenantRules;
  readonly watches: WatchStreams;
  readonly limits: Pick<
    ServerLimits,
    | "maxObjectsPerGroup"
    | "maxObjectBytes"
    | "writeBytesPerSecond"
    | "writeBurstBytes"
    | "writeChangesPerSecond"
    | "writeChangesBurst"
  >;
}

interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly principal: Principal;
  readonly query: URLSearchParams;
}

/** The resource API: list, get, apply, delete and watch, with the CLI's validation and admission. */
export class ResourcesApi {
  private readonly parsing = new FairGate(MAX_WAITING_WRITES, DEFAULT_SLICE_MS, {
    load: threadLoad,
    offloadReady: () => this.worker.available,
  });
  private readonly worker = new ManifestWorker();

  /** Each account's bytes sent to be written (limits.writeBytesPerSecond). */
  private readonly writes: TokenBudgets;
  /** Each account's objects created, changed or deleted (limits.writeChangesPerSecond); ControlApi's and RolloutApi's writes too. */
  readonly changes: ChangeBudget;

  constructor(private readonly options: ResourcesApiOptions) {
    this.writes = TokenBudgets.lending(options.limits.writeBytesPerSecond, options.limits.writeBurstBytes);
    this.changes = new ChangeBudget(options.limits.writeChangesPerSecond, options.limits.writeChangesBurst);
  }

  /** An account sent a request (any kind): heavy writers give way to it while the thread is busy (FairGate). */
  noteRequest(principal: Principal): void {
    this.parsing.seen(accountKey(principal));
  }

  /** Routes a path below API_PREFIX; false when no route matches. */
  async handle(call: Call, segments: readonly string[]): Promise<boolean> {
    const method = call.req.method ?? "GET";
    const [first, group, plural, name, sub] = segments;
    if (segments.length === 1) {
      const kind = first ? kindOfPlural(first) : undefined;
      if (first === "apply") await this.applyBatch(call, method);
      else if (first === "objects") this.read(call, method, {});
      else if (kind) this.read(call, method, { kind });
      else return false;
      return true;
    }
    if (first === "secrets" && group === "rotate-key" && segments.length === 2) {
      await this.rotateKey(call, method);
      return true;
    }
    if (first !== "groups" || !group) return false;
    // Below a group: its apps, services and quotas (groups do not nest).
    const kind = plural && plural !== PLURAL.Group ? kindOfPlural(plural) : undefined;
    if (segments.length === 2) await this.object(call, method, "Group", group, group);
    else if (segments.length === 3 && plural === "events")
      this.events(call, method, group, objectKey("Group", "", group));
    else if (!kind) return false;
    else if (segments.length === 3) this.read(call, method, { kind, group });
    else if (segments.length === 4 && name) await this.object(call, method, kind, group, name);
    else if (segments.length === 5 && name && sub === "events")
      this.events(call, method, group, objectKey(kind, group, name));
    else return false;
    return true;
  }

  /** GET a collection: a list, or with ?watch=true a stream of its changes. */
  private read(call: Call, method: string, filter: CollectionFilter): void {
    if (method !== "GET") throw methodNotAllowed(method);
    if (filter.group !== undefined) assertCanSeeGroup(call.principal, filter.group);
    const current = () => this.visible(call.principal, filter);
    if (!isTrue(call.query.get("watch"))) {
      sendJsonText(call.res, 200, listJson(this.options.hub.current, [...current()]));
      return;
    }
    this.options.watches.serve(call.res, {
      principal: call.principal,
      matches: (obj) => canSee(call.principal, obj) && inCollection(obj, filter),
      current,
      resourceVersion: call.query.get("resourceVersion"),
    });
  }

  /**
   * The objects of a collection the principal may see, each read from the store as it is taken
   * (shared, not copied): a list serializes them at once, a watch as its client reads (a change
   * meanwhile follows as an event). Found by the indexes' own key arrays, so that an open listing
   * holds no key or object of its own per object.
   */
  private *visible(principal: Principal, filter: CollectionFilter): Generator<Readonly<Resource>> {
    const { store } = this.options;
    const group = principal.kind === "group" ? principal.name : filter.group;
    const { kind } = filter;
    const keys: Array<readonly string[]> =
      group === undefined
        ? [store.sortedKeys(kind ? { kind } : {})]
        : [
            kind === undefined || kind === "Group" ? [objectKey("Group", "", group)] : [],
            kind === "Group" ? [] : store.sortedKeys(kind ? { group, kind } : { group }),
          ];
    for (const part of keys)
      for (const key of part) {
        const obj = store.peek(key);
        // Checked again, object by object: the tenancy rule, not the way the keys were found.
        if (obj && canSee(principal, obj) && inCollection(obj, filter)) yield obj;
      }
  }

  /** GET, PUT (apply one manifest) or DELETE one object. */
  private async object(call: Call, method: string, kind: Kind, group: string, name: string): Promise<void> {
    const key = objectKey(kind, kind === "Group" ? "" : group, name);
    const ref = { kind, metadata: kind === "Group" ? { name } : { name, group } };
    if (method === "GET") {
      if (!canSee(call.principal, ref)) assertCanSeeGroup(call.principal, group);
      const obj = this.options.store.get(key);
      if (!obj) throw new NotFoundError(`${displayName(ref)} not found`);
      sendJson(
        call.res,
        200,
        isTrue(call.query.get("showSecrets")) ? { ...obj, secrets: this.options.store.secretsOf(obj) } : obj,
      );
      return;
    }
    // PATCH merges into a Secret's values (`secret set`, and `unset` by ?unset=KEY,...).
    const patch = method === "PATCH" && kind === "Secret";
    if (method === "PUT" || patch) {
      assertCanWrite(call.principal, ref);
      // One object: a body far past the object limit is refused before it is parsed.
      const manifests = await this.readManifests(
        call,
        Math.min(this.options.maxBodyBytes, PUT_BODY_FACTOR * this.options.limits.maxObjectBytes),
      );
      const [only, ...more] = manifests;
      if (!only || more.length > 0)
        throw new ApiError(400, "BadRequest", `PUT takes exactly one manifest, got ${manifests.length}`);
      if (keyOf(only.object) !== key)
        throw new ApiError(
          400,
          "BadRequest",
          `the manifest is ${displayName(only.object)}, but the path names ${displayName(ref)}`,
        );
      const unset = (call.query.get("unset") ?? "").split(",").filter((k) => k !== "");
      const { store } = this.options;
      const [change] = await this.changes.within(call.principal, 1, () =>
        store.apply(patch ? [mergeSecret(store, only, unset)] : manifests, (changes) =>
          recordRevisions(store, changes, actorOf(call.principal)),
        ),
      );
      sendJson(call.res, change?.action === "created" ? 201 : 200, change ? changeBody(change) : {});
      return;
    }
    if (method === "DELETE") {
      if (kind === "Group") assertAdmin(call.principal, "delete a group");
      else assertCanWrite(call.principal, ref);
      if (!this.options.store.get(key)) throw new NotFoundError(`${displayName(ref)} not found`);
      const changes = await this.changes.within(call.principal, 1, () =>
        this.options.store.markDeletedAll([key], { cascade: isTrue(call.query.get("cascade")) }),
      );
      sendJson(call.res, 200, { changes: changes.map(changeBody) });
      return;
    }
    throw methodNotAllowed(method);
  }

  /** POST secrets/rotate-key: an admin's, since it re-seals every group's values. */
  private async rotateKey(call: Call, method: string): Promise<void> {
    if (method !== "POST") throw methodNotAllowed(method);
    assertAdmin(call.principal, "rotate the secrets key");
    sendJson(call.res, 200, { sealed: await rotateSecretsKey(this.options.store) });
  }

  /** An object's events; another group's are refused before it is even looked up. */
  private events(call: Call, method: string, group: string, key: string): void {
    if (method !== "GET") throw methodNotAllowed(method);
    assertCanSeeGroup(call.principal, group);
    const obj = this.options.store.get(key);
    if (!obj) throw new NotFoundError(`${key} not found`);
    sendJson(call.res, 200, { kind: "EventList", items: this.options.store.eventsOf(obj) });
  }

  /** POST /apply: every manifest or none, as `airloft apply`; ?dryRun=true only shows the changes. */
  private async applyBatch(call: Call, method: string): Promise<void> {
    if (method !== "POST") throw methodNotAllowed(method);
    const manifests = await this.readManifests(call);
    for (const m of manifests) assertCanWrite(call.principal, m.object);
    const { store } = this.options;
    if (isTrue(call.query.get("dryRun"))) {
      admit(store, manifests);
      const previewed = await runInTurns(store.previewSteps(manifests));
      sendJsonText(call.res, 200, await runInTurns(changesJsonSteps(previewed, true)));
      return;
    }
    const changes = await this.changes.within(call.principal, manifests.length, () =>
      store.apply(manifests, (applied) => recordRevisions(store, applied, actorOf(call.principal))),
    );
    sendJsonText(call.res, 200, await runInTurns(changesJsonSteps(changes)));
  }

  /**
   * The objects per group are limited for every account: every one is kept in memory. An apply
   * that adds no object to a group is not refused for that group's count.
   */
  private groupSizeErrors(manifests: readonly LoadedManifest[]): ValidationError[] {
    const { store, limits } = this.options;
    const errors: ValidationError[] = [];
    const byGroup = new Map<string, LoadedManifest[]>();
    for (const m of manifests) {
      const group = m.object.metadata.group;
      if (group === undefined) continue;
      const mine = byGroup.get(group);
      if (mine) mine.push(m);
      else byGroup.set(group, [m]);
    }
    for (const [group, mine] of byGroup) {
      const stored = store.keysOf(group);
      const added = mine.filter((m) => !stored.has(keyOf(m.object)));
      const total = stored.size + new Set(added.map((m) => keyOf(m.object))).size;
      const first = added[0];
      if (first && total > limits.maxObjectsPerGroup) {
        errors.push(
          new ValidationError(
            first.source,
            "metadata.group",
            `group ${group} would have ${total} objects, more than the limit of ${limits.maxObjectsPerGroup} objects per group`,
          ),
        );
      }
    }
    return errors;
  }

  /** An apply's manifests from its body (src/server/manifest-body.ts), checked against the server's limits. */
  async readManifests(call: Call, maxBytes = this.options.maxBodyBytes): Promise<LoadedManifest[]> {
    const type = mediaType(call.req);
    if (!MANIFEST_TYPES.has(type))
      throw new ApiError(415, "UnsupportedMediaType", `send application/json or application/yaml, not ${type}`);
    // Before the body is read: a write refused for its changes spends no byte budget either.
    this.changes.admit(call.principal);
    const ticket = this.parsing.admit(accountKey(call.principal));
    if (!ticket) {
      throw new ApiError(
        429,
        "TooManyRequests",
        `${call.principal.kind} ${call.principal.name} has ${MAX_WAITING_WRITES} writes waiting already; try again when one is done`,
        { "retry-after": "1" },
      );
    }
    let body: Buffer;
    try {
      body = await readBody(call.req, maxBytes);
      if (body.length === 0) throw new ApiError(400, "BadRequest", "the body is empty: send one or more manifests");
      this.takeWriteBudget(call.principal, body.length);
    } catch (err) {
      ticket.cancel();
      throw err;
    }
    const input: ManifestBody = {
      type,
      body,
      ...this.buildsOf(call.principal),
      maxObjectBytes: this.options.limits.maxObjectBytes,
    };
    // The costly part, in the account's turns: here in slices, or whole on the manifest worker.
    const offload = this.worker.available ? () => this.worker.parse(input) : undefined;
    const { manifests, oversized } = await ticket.run(parseManifestBody(input), body.length, offload);
    const refused = tenantRuleErrors(call.principal, manifests, this.options.tenantRules);
    if (refused.length > 0) throw new ValidationErrors(refused);
    const errors = [...oversized, ...this.groupSizeErrors(manifests)];
    if (errors.length > 0) throw new ValidationErrors(errors);
    return manifests;
  }

  /** Stops the manifest worker. */
  close(): Promise<void> {
    return this.worker.close();
  }

  /** Charges a body to its account's write budget before it costs anything more; 429 once the budget is spent. */
  private takeWriteBudget(principal: Principal, bytes: number): void {
    if (principal.kind === "admin") return;
    const waitMs = this.writes.take(accountKey(principal), bytes);
    if (waitMs > 0)
      throw new ApiError(
        429,
        "TooManyRequests",
        `${principal.kind} ${principal.name} sent more to write than ${this.options.limits.writeBytesPerSecond} bytes a second allow; try again in ${Math.ceil(waitMs / 1000)} s`,
        { "retry-after": String(Math.ceil(waitMs / 1000)) },
      );
  }

  /** Where this principal's build contexts may be: its own folder of the build root, or nowhere. */
  private buildsOf(principal: Principal): Pick<ManifestBody, "baseDir" | "builds"> {
    const { buildRoot } = this.options;
    if (!buildRoot) return { baseDir: "/nonexistent", builds: "refused" };
    // Each group builds inside its own folder of the build root, never in another tenant's.
    return { baseDir: principal.kind === "group" ? join(buildRoot, principal.name) : buildRoot, builds: "inside" };
  }
}

interface CollectionFilter {
  readonly kind?: Kind;
  readonly group?: string;
}

function inCollection(obj: WatchRef, filter: CollectionFilter): boolean {
  return (
    (filter.kind === undefined || obj.kind === filter.kind) &&
    (filter.group === undefined || obj.metadata.group === filter.group)
  );
}

function changeBody(change: Change): { key: string; display: string; action: string; object: Resource } {
  return { key: change.key, display: change.display, action: change.action, object: change.object };
}

function isTrue(value: string | null): boolean {
  return value === "true" || value === "1";
}
