import type { ServerResponse } from "node:http";
import type { Resource } from "../resources/types.js";
import { TokenBudgets } from "../util/token-budgets.js";
import type { AccountKind } from "./account-records.js";
import type { Accounts } from "./accounts.js";
import { ApiError, COMMON_HEADERS } from "./http.js";
import type { ServerLimits } from "./limits.js";
import { admitStream } from "./stream-cap.js";
import { accountKey, type Principal } from "./tokens.js";
import { WatchConnection } from "./watch-connection.js";
import { type WatchHub, type WatchRef, watchLine } from "./watch-hub.js";
import { WritePacer } from "./write-pacer.js";

export interface WatchRequest {
  readonly principal: Principal;
  readonly matches: (obj: WatchRef) => boolean;
  /** The objects to list first, when no resourceVersion is given: each read as it is taken, and checked against the principal. */
  readonly current: () => Iterable<Readonly<Resource>>;
  readonly resourceVersion: string | null;
}

export interface WatchStreamsOptions {
  readonly hub: WatchHub;
  /** Whose changes end the streams of a locked, deleted or re-passworded account. */
  readonly accounts: Accounts;
  readonly limits: ServerLimits;
  /** Why a principal may no longer act (accounts.refusal), or undefined. */
  readonly refusal: (principal: Principal) => string | undefined;
  /** For the lifetimes' jitter; Math.random by default. */
  readonly random?: () => number;
}

/**
 * The open watch streams, Kubernetes-style JSON lines: every matching object as ADDED, a
 * BOOKMARK with the current position, then changes; or, with `resourceVersion`, the changes
 * after it (410 Gone when they are no longer kept: list again), then live ones.
 *
 * Each stream sends only what its client reads: the listing is written as the connection drains,
 * changes wait in a queue of lines shared with the hub, and a client more than
 * `watchMaxBehindBytes` behind is disconnected (it resumes from its position). A stream ends when
 * its account is locked, deleted or its password changes (checked before every change, on every
 * account change and every `watchRecheckMs`), and after at most `watchMaxLifetimeMs`.
 */
export class WatchStreams {
  private readonly open = new Set<WatchConnection>();
  private timer: NodeJS.Timeout | undefined;
  private readonly budgets: TokenBudgets;
  private readonly pacer = new WritePacer();
  private readonly onAccount = (account: { kind: AccountKind; name: string }): void => {
    for (const stream of [...this.open])
      if (stream.principal.kind === account.kind && stream.principal.name === account.name) this.check(stream);
  };

  constructor(private readonly options: WatchStreamsOptions) {
    options.accounts.changes.on("changed", this.onAccount);
    // Bytes, for one account's streams together: serializing and writing a listing is the server's
    // work, and without a bound a tenant opening twenty watches of a 4,000-object group took the
    // thread from everyone for seconds (issue 13). A stream past it waits; the client reads on.
    this.budgets = TokenBudgets.lending(options.limits.watchBytesPerSecond, options.limits.watchBurstBytes);
  }

  /** Connections of watch streams not yet closed, an ended stream's until its client has it all. */
  get count(): number {
    return this.open.size;
  }

  /** Ends every stream whose principal is now refused. */
  recheck(): void {
    for (const stream of [...this.open]) this.check(stream);
  }

  /** Ends every stream (shutdown). */
  close(): void {
    this.options.accounts.changes.off("changed", this.onAccount);
    for (const stream of [...this.open]) stream.end();
  }

  /** Answers a watch request; throws (before any header is sent) 429 past the account's limit and 410 for a position no longer kept. */
  serve(res: ServerResponse, request: WatchRequest): void {
    const { hub, limits } = this.options;
    const { principal } = request;
    admitStream(this.open, principal, limits.maxWatchesPerAccount, "watch");
    let initial: Iterator<string | Buffer>;
    if (request.resourceVersion !== null) {
      const backlog = hub.since(Number(request.resourceVersion));
      if (!backlog)
        throw new ApiError(
          410,
          "Expired",
          `resourceVersion ${request.resourceVersion} is too old or unknown here; list again and watch from the list's resourceVersion`,
        );
      initial = (function* () {
        for (const event of backlog) if (request.matches(event.object)) yield event.line;
      })();
    } else {
      // Listed as the stream writes, not here: 100 watches opened at once would list 400,000
      // objects in one turn of the event loop. The listing holds the store's key arrays, not the
      // objects: a client that never reads would keep every object of its listing alive as it
      // was, while applies replace them. Each object is read as it is sent, so the listing may be
      // newer than `at`: the changes since `at` follow as events all the same (queued from now
      // on), which a client applies again; the state it ends with is the same.
      const at = hub.current;
      initial = (function* () {
        for (const object of request.current()) yield watchLine("ADDED", object, at);
        yield watchLine("BOOKMARK", undefined, at);
      })();
    }
    res.writeHead(200, { ...COMMON_HEADERS, "content-type": "application/x-ndjson; charset=utf-8" });
    res.flushHeaders();
    const stream = new WatchConnection(res, {
      principal,
      initial,
      maxBehindBytes: limits.watchMaxBehindBytes,
      lifetimeMs: limits.watchMaxLifetimeMs * (1 - 0.25 * (this.options.random ?? Math.random)()),
      position: () => hub.current,
      pacer: this.pacer,
      // Admins are trusted with the server's time (the status page lists everything).
      throttle: principal.kind === "admin" ? () => 0 : (bytes) => this.budgets.take(accountKey(principal), bytes),
      onClose: () => {
        this.open.delete(stream);
        if (this.open.size === 0) this.stopTimer();
      },
    });
    // Subscribed before anything is sent: every change after `at` reaches the stream, after its listing or backlog.
    stream.unsubscribe = hub.subscribe((event) => {
      if (!stream.accepting || !request.matches(event.object) || this.check(stream)) return;
      stream.enqueue(event);
      // The watcher's own group is gone: a group made again under its name is someone else.
      if (
        principal.kind === "group" &&
        event.type === "DELETED" &&
        event.object.kind === "Group" &&
        event.object.metadata.name === principal.name
      )
        stream.finish();
    });
    this.open.add(stream);
    this.startTimer();
    stream.start();
  }

  /** Ends the stream if its principal is refused now; true when it did. */
  private check(stream: WatchConnection): boolean {
    if (this.options.refusal(stream.principal) === undefined) return false;
    stream.end();
    return true;
  }

  private startTimer(): void {
    this.timer ??= setInterval(() => this.recheck(), this.options.limits.watchRecheckMs).unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
