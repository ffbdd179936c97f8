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
        rmSync(`${this.path}.${holder.pid}`, { force: true }); // its own file, if it died before removing it
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
    const mine = `${this.path}.${process.pid}`;
    writeFileSync(mine, JSON.stringify(owner), { mode: 0o600 });
    try {
      linkSync(mine, this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      return false;
    } finally {
      rmSync(mine, { force: true });
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
