import { NotFoundError } from "../errors.js";
import { commandProblem, RunRefused } from "../jobs/one-off.js";
import { RunAccess } from "../jobs/run-access.js";
import { displayName, objectKey, PLURAL } from "../resources/kinds.js";
import type { Store } from "../store/store.js";
import { parseLogQuery } from "../util/log-query.js";
import { assertCanSeeGroup, assertCanWrite } from "./access.js";
import type { LoopAccess } from "./control-api.js";
import { ApiError, methodNotAllowed, parseJson, readBody, sendJson } from "./http.js";
import type { LogCall, LogsApi } from "./logs-api.js";

/** A run's body: a command of at most 64 KiB, and some room for JSON's quoting. */
const MAX_RUN_BODY_BYTES = 160 * 1024;

export interface RunsApiOptions {
  readonly store: Store;
  readonly loop: LoopAccess | undefined;
  readonly logs: LogsApi;
}

/**
 * POST /groups/G/apps/NAME/runs {command}: a one-off run of the app's image, env, secrets and
 * bindings (201 {id}); GET /groups/G/runs/ID: whether it runs, its exit code; GET
 * /groups/G/runs/ID/logs: its output, as an app's logs. A group's own runs only.
 */
export class RunsApi {
  private access: RunAccess | undefined;

  constructor(private readonly options: RunsApiOptions) {}

  async handle(call: LogCall, segments: readonly string[]): Promise<boolean> {
    const [first, group = "", plural = "", name = "", sub] = segments;
    if (first !== "groups") return false;
    if (segments.length === 5 && plural === PLURAL.App && sub === "runs") {
      await this.start(call, group, name);
      return true;
    }
    if (plural !== "runs" || (segments.length !== 4 && !(segments.length === 5 && sub === "logs"))) return false;
    if (call.req.method !== "GET") throw methodNotAllowed(call.req.method);
    // Another group's runs are refused before their id is even looked up.
    assertCanSeeGroup(call.principal, group);
    const access = this.runs();
    // Reads that need provider calls (AWS) are charged to the account.
    const reader = call.principal.uid;
    if (segments.length === 4) {
      sendJson(call.res, 200, { kind: "Run", group, ...(await this.refused(() => access.view(group, name, reader))) });
      return true;
    }
    const query = parseLogQuery({
      follow: call.query.get("follow"),
      tail: call.query.get("tail"),
      since: call.query.get("since"),
    });
    await this.refused(() => access.view(group, name, reader));
    await this.options.logs.stream(call, (signal, write) =>
      access.logs(group, name, { ...query, signal, write }, reader),
    );
    return true;
  }

  private async start(call: LogCall, group: string, name: string): Promise<void> {
    if (call.req.method !== "POST") throw methodNotAllowed(call.req.method);
    const ref = { kind: "App" as const, metadata: { name, group } };
    assertCanWrite(call.principal, ref);
    const body = parseJson<{ command?: unknown }>(await readBody(call.req, MAX_RUN_BODY_BYTES), "run");
    const problem = commandProblem(body?.command);
    if (problem) throw new ApiError(400, "BadRequest", problem);
    const app = this.options.store.get(objectKey("App", group, name));
    if (app?.kind !== "App" || app.metadata.deletionTimestamp) throw new NotFoundError(`${displayName(ref)} not found`);
    const access = this.runs();
    const id = await this.refused(() => access.start(app, body.command as string[]));
    sendJson(call.res, 201, { kind: "Run", group, app: name, id });
  }

  private runs(): RunAccess {
    if (!this.options.loop) throw new ApiError(503, "Unavailable", "no controllers run with this API");
    this.access ??= new RunAccess(this.options.store, this.options.loop.providers);
    return this.access;
  }

  private async refused<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof RunRefused) throw refusal(err);
      throw err;
    }
  }
}

/** A refused run as the API answers it: 409 or 429, and when to ask again where that is known. */
export function refusal(err: RunRefused): ApiError {
  const wait = err.retryAfterMs;
  const headers = wait !== undefined ? { "retry-after": String(Math.max(1, Math.ceil(wait / 1000))) } : {};
  return new ApiError(err.status, err.reason, err.message, headers);
}
