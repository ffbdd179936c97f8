import { type Readable, Transform, type TransformCallback, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { LogOptions } from "./types.js";

/** A longer line is passed on in pieces of this size: a line without an end must not grow memory. */
export const MAX_LINE_BYTES = 16 * 1024;

/** Bytes in, lines out (without their "\n"), each at most `maxBytes`, the last one even without an end. */
export class LineSplitter extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      let piece = chunk.subarray(start, end);
      // Pieces past the bound go out as lines of their own.
      while (this.pendingBytes + piece.length > this.maxBytes) {
        const room = this.maxBytes - this.pendingBytes;
        this.pending.push(piece.subarray(0, room));
        this.pendingBytes += room;
        this.emitPending();
        piece = piece.subarray(room);
      }
      this.pending.push(piece);
      this.pendingBytes += piece.length;
      if (newline !== -1) this.emitPending();
      start = end + 1;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pendingBytes > 0) this.emitPending();
    done();
  }

  private emitPending(): void {
    this.push(Buffer.concat(this.pending).toString("utf8").replace(/\r$/, ""));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/**
 * Passes one replica's output to `options.write` a line at a time, waiting for each write: the
 * source is read only as fast as the writer takes lines. Resolves at the source's end, or quietly
 * when `options.signal` aborts (the source is destroyed then: an engine stream is closed).
 */
export async function deliverLines(
  source: Readable,
  replica: string,
  options: Pick<LogOptions, "write" | "signal">,
  /** Decoding before the lines are split (the engine's frames). */
  ...decoders: Transform[]
): Promise<void> {
  const sink = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write: (line: string, _encoding, done) => {
      Promise.resolve()
        .then(() => options.write(replica, line))
        .then(() => done(), done);
    },
  });
  try {
    const stages = [source, ...decoders, new LineSplitter(), sink];
    await pipeline(stages, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    if (!options.signal?.aborted) throw err;
  }
}

/** The last `tail` lines of a text (all without `tail`); no empty line for a final "\n". */
export function lastLines(text: string, tail: number | undefined): string[] {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.at(-1) === "") lines.pop();
  return tail === undefined ? lines : lines.slice(Math.max(0, lines.length - tail));
}

/**
 * Runs `read` for every replica at once, each with a signal that aborts when `options.signal`
 * does or another replica's reading fails: a failed stream does not leave the others following.
 */
export async function eachReplica<T>(
  replicas: readonly T[],
  options: LogOptions,
  read: (replica: T, options: LogOptions) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  await Promise.all(
    replicas.map((r) =>
      read(r, { ...options, signal }).catch((err: unknown) => {
        stop.abort();
        throw err;
      }),
    ),
  );
}
