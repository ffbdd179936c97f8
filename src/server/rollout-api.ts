import type { IncomingMessage, ServerResponse } from "node:http";
import { NotFoundError } from "../errors.js";
import { actorOf, historyOf } from "../releases/revisions.js";
import { undoRollout } from "../releases/undo.js";
import { displayName, objectKey, PLURAL } from "../resources/kinds.js";
import type { Store } from "../store/store.js";
import { assertAdmin, assertCanSeeGroup, assertCanWrite } from "./access.js";
import type { ChangeBudget } from "./change-budget.js";
import { ApiError, methodNotAllowed, parseJson, readBody, sendJson } from "./http.js";
import type { Principal } from "./tokens.js";

interface RolloutCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly principal: Principal;
}

/** An undo's body is a few fields: anything bigger is refused unread. */
const MAX_UNDO_BODY = 1024;

/**
 * An app's revisions, for `rollout history` and `rollout undo` with --server; the tenancy is the
 * resource API's (a group reads and undoes its own apps only). Suspending a git-ops source is
 * an admin's: the sources of `serve --watch` apply every group's objects.
 *
 *   GET  /groups/G/apps/NAME/rollout/history   -> { kind: "RevisionList", items }
 *   POST /groups/G/apps/NAME/rollout/undo      { toRevision?, force?, suspendSource? } -> { revision, restored, message }
 */
export class RolloutApi {
  constructor(
    private readonly store: Store,
    /** The resource API's budget of changes: an undo is a change of the app like an apply's. */
    private readonly changes: Pick<ChangeBudget, "reserve">,
  ) {}

  async handle(call: RolloutCall, segments: readonly string[]): Promise<boolean> {
    const [first, group = "", plural, name = "", fifth, verb = ""] = segments;
    if (segments.length !== 6 || first !== "groups" || plural !== PLURAL.App || fifth !== "rollout") return false;
    if (verb !== "history" && verb !== "undo") return false;
    const method = call.req.method ?? "GET";
    const ref = { kind: "App" as const, metadata: { name, group } };
    if (verb === "history") {
      if (method !== "GET") throw methodNotAllowed(method);
      assertCanSeeGroup(call.principal, group);
      sendJson(call.res, 200, { kind: "RevisionList", items: historyOf(this.store, this.app(group, name)) });
      return true;
    }
    if (method !== "POST") throw methodNotAllowed(method);
    assertCanWrite(call.principal, ref);
    const request = undoRequest(parseJson<unknown>(await readBody(call.req, MAX_UNDO_BODY), "rollout undo"));
    if (request.suspendSource) assertAdmin(call.principal, "suspend a git-ops source");
    this.changes.reserve(call.principal, 1);
    const result = await undoRollout(this.store, this.app(group, name), { ...request, by: actorOf(call.principal) });
    sendJson(call.res, 200, result);
    return true;
  }

  private app(group: string, name: string) {
    const found = this.store.get(objectKey("App", group, name));
    if (found?.kind !== "App" || found.metadata.deletionTimestamp)
      throw new NotFoundError(`${displayName({ kind: "App", metadata: { name, group } })} not found`);
    return found;
  }
}

/** The undo body, checked field by field: a clear 400 for anything else. */
function undoRequest(body: unknown): { toRevision?: number; force?: boolean; suspendSource?: boolean } {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ApiError(400, "BadRequest", "rollout undo: the body is a JSON object");
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !["toRevision", "force", "suspendSource"].includes(k));
  if (unknown.length > 0) throw new ApiError(400, "BadRequest", `rollout undo: unknown field ${unknown[0]}`);
  const { toRevision, force, suspendSource } = fields;
  if (toRevision !== undefined && !(Number.isSafeInteger(toRevision) && (toRevision as number) > 0))
    throw new ApiError(400, "BadRequest", "rollout undo: toRevision is a positive whole number");
  for (const [field, value] of [
    ["force", force],
    ["suspendSource", suspendSource],
  ] as const)
    if (value !== undefined && typeof value !== "boolean")
      throw new ApiError(400, "BadRequest", `rollout undo: ${field} is true or false`);
  return {
    ...(toRevision !== undefined ? { toRevision: toRevision as number } : {}),
    ...(force === true ? { force } : {}),
    ...(suspendSource === true ? { suspendSource } : {}),
  };
}
