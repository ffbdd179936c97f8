import type { ServerResponse } from "node:http";
import type { Principal } from "./tokens.js";
import { type WatchEvent, watchLine } from "./watch-hub.js";
import type { PacedWriter, WritePacer } from "./write-pacer.js";

const BOOKMARK_EVERY_MS = 15_000;
/** A stream ended cleanly has this long to deliver what it had sent; then its connection is cut. */
const END_GRACE_MS = 10_000;

/** A line to send (a listing's text, or an event's bytes shared with the hub), with its size. */
type Line = string | Buffer;
type Chunk = { readonly line: Line; readonly bytes: number };

export interface WatchConnectionOptions {
  readonly principal: Principal;
  /** The lines sent first: a listing, or the backlog after the client's position. */
  readonly initial: Iterator<Line>;
  /** The client is disconnected when more than this is written and not read. */
  readonly maxBehindBytes: number;
  readonly lifetimeMs: number;
  /** The hub's position, for the heartbeat's bookmarks. */
  readonly position: () => string;
  /** Called once the connection is closed. */
  readonly onClose: () => void;
  /** Takes a line's bytes from the account's budget: 0 to send it now, or the milliseconds to wait. */
  readonly throttle: (bytes: number) => number;
  /** Gives the connection its turns to write, shared with every other stream. */
  readonly pacer: WritePacer;
}

/**
 * One watch stream's connection: it sends only what its client reads. The initial lines are
 * written as the connection drains, changes wait in a queue of lines shared with the hub, and a
 * client too far behind is cut (it resumes from its position). `finish` ends it after what is
 * queued, `end` sends nothing more, and either way a client that stopped reading loses the
 * connection after a grace period.
 */
export class WatchConnection implements PacedWriter {
  readonly principal: Principal;
  private listing = true;
  private readonly queue: Chunk[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private waitingForDrain = false;
  private ending = false;
  private stopped = false;
  private grace: NodeJS.Timeout | undefined;
  /** Waiting for the account's budget, with the line it could not send yet. */
  private throttled: NodeJS.Timeout | undefined;
  private held: Line | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly lifetime: NodeJS.Timeout;
  /** Set by the owner once subscribed to the hub. */
  unsubscribe: () => void = () => undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: WatchConnectionOptions,
  ) {
    this.principal = options.principal;
    this.heartbeat = setInterval(
      () => this.enqueue(chunkOf(watchLine("BOOKMARK", undefined, options.position()))),
      BOOKMARK_EVERY_MS,
    );
    this.lifetime = setTimeout(() => this.finish(), options.lifetimeMs);
    res.on("drain", () => {
      this.waitingForDrain = false;
      this.wake();
    });
    res.on("close", () => {
      if (!this.stopped) this.stop();
      clearTimeout(this.grace);
      options.onClose();
    });
  }

  /** Whether it still takes changes. */
  get accepting(): boolean {
    return !this.stopped && !this.ending;
  }

  /** Sends what it can now. */
  start(): void {
    this.wake();
  }

  /** Queues a change; a client now too far behind is cut. */
  enqueue(chunk: Chunk): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.bytes;
    // What the client has not read: queued here, and written but still in the connection's buffer.
    if (this.queuedBytes + this.res.writableLength > this.options.maxBehindBytes) this.cut();
    else this.wake();
  }

  /** Sends nothing more; the client gets what was written, within the grace period. */
  end(): void {
    if (!this.stopped) this.stop();
    if (this.res.writableEnded) return;
    this.res.end();
    // A client that does not read would hold the connection and its buffer for ever.
    this.grace ??= setTimeout(() => this.res.destroy(), END_GRACE_MS).unref();
  }

  /** Ends after what is queued (the client resumes from its position); in a listing, at once (the client lists again). */
  finish(): void {
    if (this.listing) {
      this.end();
      return;
    }
    this.ending = true;
    this.unsubscribe();
    clearInterval(this.heartbeat);
    // A client that stopped reading would otherwise keep the stream past its lifetime.
    this.grace ??= setTimeout(() => this.res.destroy(), END_GRACE_MS).unref();
    this.wake();
  }

  /** Drops the connection and whatever it holds: the client is too far behind. */
  private cut(): void {
    if (!this.stopped) this.stop();
    this.res.destroy();
  }

  private stop(): void {
    this.stopped = true;
    this.options.pacer.forget(this);
    this.unsubscribe();
    clearInterval(this.heartbeat);
    clearTimeout(this.lifetime);
    clearTimeout(this.throttled);
    this.held = undefined;
    this.queue.length = this.queueHead = this.queuedBytes = 0;
    this.options.initial.return?.();
  }

  private next(): Line | undefined {
    if (this.listing) {
      const item = this.options.initial.next();
      if (!item.done) return item.value;
      this.listing = false;
    }
    const chunk = this.queue[this.queueHead];
    if (!chunk) return undefined;
    this.queueHead += 1;
    this.queuedBytes -= chunk.bytes;
    if (this.queueHead === this.queue.length) this.queue.length = this.queueHead = 0;
    return chunk.line;
  }

  /** Asks for a turn to write (see WritePacer): never writes inline. */
  private wake(): void {
    if (!this.stopped) this.options.pacer.wake(this);
  }

  /**
   * Writes while the connection takes it, the account's budget allows and the piece is not
   * full; the rest waits for 'drain', the budget or the next turn. True when the piece was full.
   */
  writeSome(maxBytes: number): boolean {
    let written = 0;
    while (!this.stopped && !this.waitingForDrain && this.throttled === undefined) {
      if (written >= maxBytes) return true;
      const line = this.held ?? this.next();
      this.held = undefined;
      if (line === undefined) {
        if (this.ending) this.end();
        return false;
      }
      const waitMs = this.options.throttle(line.length);
      if (waitMs > 0) {
        this.held = line;
        this.throttled = setTimeout(() => {
          this.throttled = undefined;
          this.wake();
        }, waitMs);
        return false;
      }
      written += line.length;
      this.waitingForDrain = !this.res.write(line);
    }
    return false;
  }
}

function chunkOf(line: Line): Chunk {
  return { line, bytes: Buffer.byteLength(line) };
}
