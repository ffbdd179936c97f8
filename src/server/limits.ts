/**
 * What one tenant may hold of the server: connections, objects and the memory behind them. The
 * defaults suit a shared server; `airloft serve` flags and ApiServerOptions.limits change them.
 */
export interface ServerLimits {
  /** Open watch streams per account (admins are not counted): the next one is 429. */
  readonly maxWatchesPerAccount: number;
  /** Apps, services and quotas per group: an apply past it is 422, for admins too. */
  readonly maxObjectsPerGroup: number;
  /** One object as JSON: a larger one is 422 (every watch line and history entry carries it whole). */
  readonly maxObjectBytes: number;
  /** A watcher this many bytes behind (sent but not read, and queued) is disconnected; it resumes from its position. */
  readonly watchMaxBehindBytes: number;
  /** A watch stream ends after at most this long (three quarters of it at the soonest, at random); the client resumes. */
  readonly watchMaxLifetimeMs: number;
  /** The history kept for resuming watchers: at most this many changes ... */
  readonly watchHistoryEvents: number;
  /** ... and at most this many bytes of them. */
  readonly watchHistoryBytes: number;
  /** Open streams re-check their account (locked, password changed, deleted) at least this often. */
  readonly watchRecheckMs: number;
  /** What one account's watch streams may send per second, together (admins are not held to it) ... */
  readonly watchBytesPerSecond: number;
  /** ... after a first burst of this many bytes. */
  readonly watchBurstBytes: number;
  /** Open log streams per account (admins are not counted): the next one is 429. */
  readonly maxLogStreamsPerAccount: number;
  /** What one account's log streams may send per second, together (admins are not held to it) ... */
  readonly logBytesPerSecond: number;
  /** ... after a first burst of this many bytes. */
  readonly logBurstBytes: number;
  /** A log stream whose client reads nothing for this long is cut. */
  readonly logStallMs: number;
  /**
   * What one account may send to be written (apply and PUT bodies) per second, together (admins
   * are not held to it): past it, 429 with Retry-After. Every tenant's durable write waits in one
   * journal behind the others', so one tenant writing megabytes a second made everyone's slow ...
   */
  readonly writeBytesPerSecond: number;
  /** ... after a first burst of this many bytes (a whole group applied at once fits). */
  readonly writeBurstBytes: number;
  /**
   * Objects one account may create, change or delete per second, together (admins are not held
   * to it; an apply that changes nothing costs nothing): each change is kept as a revision and
   * events, sent to every watcher and reconciled, whatever its size. A write that finds the
   * budget not spent goes whole and may leave a debt: the account's writes are 429 with
   * Retry-After until it is paid (ChangeBudget). A tenant applying 3,000 objects in a loop grew
   * the server's memory by about 10 MiB an apply, 15 to 25 applies in 40 s (issue 13's abuse
   * run) ...
   */
  readonly writeChangesPerSecond: number;
  /** ... after a first burst of this many (a whole group of the default size applied at once fits). */
  readonly writeChangesBurst: number;
}

/** Apps, services and quotas per group, and the burst of changes: a whole group applied at once fits. */
const MAX_OBJECTS_PER_GROUP = 5000;

export const DEFAULT_LIMITS: ServerLimits = {
  maxWatchesPerAccount: 20,
  maxObjectsPerGroup: MAX_OBJECTS_PER_GROUP,
  maxObjectBytes: 256 * 1024,
  watchMaxBehindBytes: 4 * 1024 * 1024,
  watchMaxLifetimeMs: 30 * 60_000,
  watchHistoryEvents: 2000,
  // A resume older than this gets 410 and lists again: at 64 MiB the history of a tenant's large objects was an eighth of the server's memory.
  watchHistoryBytes: 16 * 1024 * 1024,
  watchRecheckMs: 1000,
  watchBytesPerSecond: 4 * 1024 * 1024,
  watchBurstBytes: 8 * 1024 * 1024,
  maxLogStreamsPerAccount: 8,
  logBytesPerSecond: 1024 * 1024,
  logBurstBytes: 4 * 1024 * 1024,
  logStallMs: 60_000,
  writeBytesPerSecond: 1024 * 1024,
  writeBurstBytes: 8 * 1024 * 1024,
  writeChangesPerSecond: 200,
  writeChangesBurst: MAX_OBJECTS_PER_GROUP,
};
