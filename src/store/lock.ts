import { randomUUID } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { LockedError } from "../errors.js";

interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * An exclusive writer lock next to the state file, holding who took it so that a second writer
 * is told exactly which process to stop. A lock whose process is gone (killed, crashed) on this
 * host is taken over. Written by hand because proper-lockfile records no holder and judges
 * staleness by mtime, which would hand the lock to a second writer while a paused first one lives.
 */
export class WriterLock {
  readonly path: string;
  private held = false;

  constructor(stateFile: string) {
    this.path = `${stateFile}.lock`;
  }

  acquire(command: string): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const owner: LockOwner = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.create(owner)) {
        this.held = true;
        return;
      }
      const holder = this.readOwner();
      if (holder && holder.host === owner.host && !isAlive(holder.pid)) {
        this.removeIfOwnedBy(holder.pid);
        continue;
      }
      if (!holder) continue; // removed meanwhile: try again
      throw new LockedError(
        `the state file is locked by "${holder.command}" (pid ${holder.pid} on ${holder.host}, since ${holder.since}); ` +
          `stop that process, or use --server to go through it`,
      );
    }
    throw new LockedError(`could not take the lock ${this.path}`);
  }

  /**
   * The lock appears whole or not at all: the owner is written to a file of this process's own,
   * then linked to the lock's name, which fails if it exists. A second writer can never read a
   * lock that is there but not yet filled.
   */
  private create(owner: LockOwner): boolean {
    // Unique even between processes of one pid (containers sharing the state's volume).
    const mine = `${this.path}.${owner.host}.${process.pid}.${randomUUID()}`;
    writeFileSync(mine, JSON.stringify(owner), { mode: 0o600 });
    try {
      linkSync(mine, this.path);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return false;
      // A file system without hard links: create and fill it, as before (a reader may meet it empty).
      if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") return this.createInPlace(owner);
      throw err;
    } finally {
      rmSync(mine, { force: true });
    }
  }

  private createInPlace(owner: LockOwner): boolean {
    try {
      writeFileSync(this.path, JSON.stringify(owner), { mode: 0o600, flag: "wx" });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
  }

  release(): void {
    if (!this.held) return;
    this.removeIfOwnedBy(process.pid);
    this.held = false;
  }

  private readOwner(): LockOwner | undefined {
    try {
      return JSON.parse(readFileSync(this.path, "utf8")) as LockOwner;
    } catch {
      return undefined;
    }
  }

  private removeIfOwnedBy(pid: number): void {
    if (this.readOwner()?.pid !== pid) return;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
