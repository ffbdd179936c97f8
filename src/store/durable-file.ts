import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync, mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Adapter } from "lowdb";

/**
 * A lowdb adapter whose writes are atomic and durable: write a temp file, fsync it, rename it
 * over the state file and fsync the folder. lowdb's own JSONFile (steno) renames but never
 * fsyncs, so a power cut could leave an empty file. Synchronous I/O keeps a write in one piece
 * even when the process is killed between awaits.
 */
export class DurableJSONFile<T> implements Adapter<T> {
  readonly path: string;
  bytesWritten = 0;
  writes = 0;

  constructor(path: string) {
    this.path = path;
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    if (text.trim() === "") return null;
    return JSON.parse(text) as T;
  }

  /**
   * Removes temp files that writers killed mid-write left behind. Only the lock holder calls
   * this, so no other writer's temp file can be in progress.
   */
  removeLeftovers(): number {
    const prefix = `.${basename(this.path)}.`;
    const ours = `${prefix}${process.pid}.tmp`;
    let removed = 0;
    for (const name of readdirSync(dirname(this.path))) {
      if (name.startsWith(prefix) && name.endsWith(".tmp") && name !== ours) {
        rmSync(join(dirname(this.path), name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  async write(data: T): Promise<void> {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const text = JSON.stringify(data);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dirFd = openSync(dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.bytesWritten += Buffer.byteLength(text);
    this.writes++;
  }
}
