import { constants, readFileSync, rmSync } from "node:fs";
import { type FileHandle, open, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { ChangeRecord } from "./change-tracker.js";

/** A journal line: one durable write's changes, numbered from the state file's journalSeq on. */
export interface JournalEntry extends ChangeRecord {
  readonly seq: number;
}

/**
 * The state file's write-ahead journal (`state.json.journal`): each durable write appends the
 * changes since the last one as a JSON line and syncs it, instead of rewriting the whole file.
 * At 20,000 objects a rewrite was tens of MB and an apply waited for one or two of them; an
 * append is the size of the change. The state file is rewritten now and then (compaction), and
 * the lines it holds are then dropped. One operation at a time, in the order asked.
 */
export class Journal {
  private handle: FileHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** The drop in progress, if any: see dropBefore. */
  private dropping: Promise<void> = Promise.resolve();
  /** Bytes in the file, once every queued operation has run. */
  private bytes = 0;
  /** Bytes dropped from the front so far: positions count from the first entry ever written. */
  private dropped = 0;
  bytesWritten = 0;

  constructor(readonly path: string) {}

  /** The journal next to a state file. */
  static of(statePath: string): Journal {
    return new Journal(join(dirname(statePath), `${basename(statePath)}.journal`));
  }

  get size(): number {
    return this.bytes;
  }

  /** Where the next entry will start, counted over drops: what dropBefore() takes. */
  get position(): number {
    return this.dropped + this.bytes;
  }

  /** The entries on disk, in order. A last line cut short by a crash was never acknowledged: it is left out. */
  read(): JournalEntry[] {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    this.bytes = Buffer.byteLength(text);
    const lines = text.split("\n");
    const entries: JournalEntry[] = [];
    lines.forEach((line, i) => {
      if (line === "") return;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch (err) {
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l !== ""))
          throw new Error(`${this.path}: line ${i + 1} is not JSON (${(err as Error).message})`);
      }
    });
    return entries;
  }

  /**
   * Appends one entry, given as its JSON line in pieces (CachedJsonSerializer.lineSteps), and
   * resolves once it is on disk; returns the position after it.
   */
  append(pieces: readonly Buffer[]): Promise<number> {
    const line = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
    return this.serially(async () => {
      this.handle ??= await open(this.path, APPEND_SYNCED, 0o600);
      // O_DSYNC: the write returns once its data is on disk, as write + fdatasync would, in one
      // call to the thread pool instead of two. Under load each call's answer waits for a turn of
      // the event loop, and every tenant's durable write waits for this one.
      const { bytesWritten } = await this.handle.write(line);
      if (bytesWritten !== line.length)
        throw new Error(`writing ${this.path}: ${bytesWritten} of ${line.length} bytes written (is the disk full?)`);
      this.bytes += line.length;
      this.bytesWritten += line.length;
      return this.position;
    });
  }

  /**
   * Drops the entries before `position` (those the state file now holds), keeping what was
   * appended since: the rest is copied to a new file that replaces this one atomically. Copied
   * in two steps: what had been appended when asked, while appends go on to the old file; then,
   * in line with them, only what they appended meanwhile. Done all in line, a compaction's drop
   * held every durable write (every tenant's PUT) behind a copy and sync of megabytes, 117 and
   * 291 ms under the abuse benchmark. Drops run one at a time.
   */
  dropBefore(position: number): Promise<void> {
    const run = this.dropping.then(() => this.drop(position));
    this.dropping = run.catch(() => undefined);
    return run;
  }

  private async drop(position: number): Promise<void> {
    const offset = position - this.dropped;
    const copiedTo = this.bytes; // the end of the appends acknowledged so far, in this file
    // Named like the state file's temp files, so that its leftover sweep clears this one too.
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    const file = await open(tmp, "w", 0o600);
    try {
      let kept = await writeSynced(file, await readRange(this.path, offset, copiedTo));
      await this.serially(async () => {
        kept += await writeSynced(file, await readRange(this.path, copiedTo));
        await this.handle?.close();
        this.handle = undefined;
        await rename(tmp, this.path);
        const folder = await open(dirname(this.path), "r");
        try {
          await folder.sync();
        } finally {
          await folder.close();
        }
        this.dropped += offset;
        this.bytes = kept;
      });
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    } finally {
      await file.close();
    }
  }

  /** Waits for a drop and every queued operation, then closes the file. */
  async close(): Promise<void> {
    await this.dropping;
    return this.serially(async () => {
      await this.handle?.close();
      this.handle = undefined;
    });
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Writes `data` at the end of the file and syncs it; returns its length. Synced every MiB, as
 * compactions are (durable-file.ts): an append's sync on ext4 waits for other files' dirty pages.
 */
async function writeSynced(file: FileHandle, data: Buffer): Promise<number> {
  for (let at = 0; at < data.length; at += SYNC_BYTES) {
    const piece = data.subarray(at, at + SYNC_BYTES);
    const { bytesWritten } = await file.write(piece);
    if (bytesWritten !== piece.length)
      throw new Error(`writing a journal copy: ${bytesWritten} of ${piece.length} bytes written (is the disk full?)`);
    await file.datasync();
  }
  await file.sync();
  return data.length;
}

const SYNC_BYTES = 1 << 20;
const APPEND_SYNCED = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;

/**
 * The file's bytes from `from` up to `to` (its end when not given); none when there is no file.
 * Read a MiB at a time on the thread pool: a compaction's drop reads megabytes, and read at once
 * on the only thread it held every request for 30 to 40 ms.
 */
async function readRange(path: string, from: number, to = Number.POSITIVE_INFINITY): Promise<Buffer> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return Buffer.alloc(0);
    throw err;
  }
  try {
    const chunks: Buffer[] = [];
    let position = from;
    while (position < to) {
      const chunk = Buffer.alloc(Math.min(SYNC_BYTES, to - position));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      position += bytesRead;
    }
    return Buffer.concat(chunks);
  } finally {
    await file.close();
  }
}
