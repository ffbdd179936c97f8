import type { IncomingMessage, ServerResponse } from "node:http";
import { errorMessage, NotFoundError } from "../errors.js";
import { displayName, objectKey, PLURAL } from "../resources/kinds.js";
import type { Store } from "../store/store.js";
import { parseLogQuery } from "../util/log-query.js";
import { TokenBudgets } from "../util/token-budgets.js";
import { assertCanSeeGroup } from "./access.js";
import type { LoopAccess } from "./control-api.js";
import { ApiError, COMMON_HEADERS, methodNotAllowed } from "./http.js";
import type { ServerLimits } from "./limits.js";
import { LogWriter } from "./log-writer.js";
import { admitStream } from "./stream-cap.js";
import { accountKey, type Principal } from "./tokens.js";

type LogLimits = Pick<ServerLimits, "maxLogStreamsPerAccount" | "logBytesPerSecond" | "logBurstBytes" | "logStallMs">;

export interface LogsApiOptions {
  readonly store: Store;
  /** Absent when no controllers run with the API: logs are read through its providers. */
  readonly loop: LoopAccess | undefined;
  readonly limits: LogLimits;
  /** Why a principal may no longer act (accounts.refusal), or undefined. */
  readonly refusal: (principal: Principal) => string | undefined;
}

export interface LogCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly principal: Principal;
  readonly query: URLSearchParams;
}

interface OpenStream {
  readonly principal: Principal;
  readonly stop: AbortController;
}

const KINDS: Readonly<Record<string, "App" | "Service">> = { [PLURAL.App]: "App", [PLURAL.Service]: "Service" };

/**
 * GET /groups/G/{apps,services}/NAME/logs?follow=&tail=&since= : every replica's output as JSON
 * lines {"replica","line"}, read through the group's provider; a failure after the first line is
 * a last line {"error"}. The tenancy is the resource API's. A client that goes away stops the
 * provider's streams at once; each account has a cap on open streams (429 past it) and a budget
 * of bytes per second, and a client that stops reading is cut after `logStallMs`.
 */
export class LogsApi {
  private readonly open = new Set<OpenStream>();
  private readonly budgets: TokenBudgets;

  constructor(private readonly options: LogsApiOptions) {
    this.budgets = TokenBudgets.lending(options.limits.logBytesPerSecond, options.limits.logBurstBytes);
  }

  /** Open log streams, for tests and the shutdown. */
  get count(): number {
    return this.open.size;
  }

  /** Routes a path below API_PREFIX; false when no route matches. */
  async handle(call: LogCall, segments: readonly string[]): Promise<boolean> {
    const [first, group = "", plural = "", name = "", sub] = segments;
    if (segments.length !== 5 || first !== "groups" || sub !== "logs") return false;
    const kind = KINDS[plural];
    if (!kind) throw new ApiError(404, "NotFound", `only apps and services have logs, not ${plural}`);
    if (call.req.method !== "GET") throw methodNotAllowed(call.req.method);
    // Another group's objects are refused before they are even looked up.
    assertCanSeeGroup(call.principal, group);
    const query = parseLogQuery({
      follow: call.query.get("follow"),
      tail: call.query.get("tail"),
      since: call.query.get("since"),
    });
    const ref = { kind, metadata: { name, group } };
    const obj = this.options.store.get(objectKey(kind, group, name));
    const owner = this.options.store.get(objectKey("Group", "", group));
    if ((obj?.kind !== "App" && obj?.kind !== "Service") || owner?.kind !== "Group")
      throw new NotFoundError(`${displayName(ref)} not found`);
    if (!this.options.loop) throw new ApiError(503, "Unavailable", "no controllers run with this API");
    const provider = await this.options.loop.providers.for(owner);
    await this.stream(call, (signal, write) => provider.logs(obj, owner, { ...query, signal, write }));
    return true;
  }

  /**
   * Streams what `read` writes as JSON lines, under the account's cap, byte budget and stall
   * limit; a failure after the headers is a last line {"error"}. Runs' logs go through it too.
   */
  async stream(
    call: LogCall,
    read: (signal: AbortSignal, write: (replica: string, line: string) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const stream = this.admit(call.principal);
    const { res } = call;
    try {
      res.writeHead(200, { ...COMMON_HEADERS, "content-type": "application/x-ndjson; charset=utf-8" });
      res.flushHeaders();
      res.once("close", () => stream.stop.abort());
      if (res.destroyed) stream.stop.abort();
      const writer = this.writer(call, stream.stop.signal);
      try {
        await read(stream.stop.signal, (r, l) => writer.line(r, l));
      } catch (err) {
        await writer.error(errorMessage(err));
      }
      res.end();
    } finally {
      this.open.delete(stream);
    }
  }

  /** Ends every stream whose principal is now refused (a lock, a new password, a deleted account). */
  recheck(): void {
    for (const stream of this.open) if (this.options.refusal(stream.principal) !== undefined) stream.stop.abort();
  }

  /** Ends every stream (shutdown). */
  close(): void {
    for (const stream of this.open) stream.stop.abort();
  }

  /** Counts the stream against its account's cap, or refuses it (admins are not counted). */
  private admit(principal: Principal): OpenStream {
    admitStream(this.open, principal, this.options.limits.maxLogStreamsPerAccount, "log");
    const stream = { principal, stop: new AbortController() };
    this.open.add(stream);
    return stream;
  }

  private writer(call: LogCall, signal: AbortSignal): LogWriter {
    const { principal } = call;
    const account = accountKey(principal);
    return new LogWriter(call.res, {
      signal,
      stallMs: this.options.limits.logStallMs,
      // Admins are trusted with the server's time, as for watches.
      throttle: principal.kind === "admin" ? () => 0 : (bytes) => this.budgets.take(account, bytes),
    });
  }
}
