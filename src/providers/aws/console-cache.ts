import { parseTaskOutput } from "./task-script.js";
import type { ObservedTask } from "./tasks.js";

/** An ended task's console without its end marker is read again after this: EC2 updates it minutes late. */
export const CONSOLE_RETRY_MS = 15_000;
/** Console text kept, all tenants together (EC2 gives at most 64 KiB each); the oldest read goes first. */
const MAX_BYTES = 8 * 1024 * 1024;

interface Entry {
  readonly state: string;
  readonly text: string;
  readonly readAt: number;
}

/**
 * Task instances' console output, read once per instance state: a tenant reading an ended run a
 * thousand times makes one GetConsoleOutput, not a thousand. Once the task's end marker is in it,
 * it is final; without it, it is read again at most every CONSOLE_RETRY_MS.
 */
export class ConsoleCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  async text(task: ObservedTask, now: number, read: () => Promise<string>): Promise<string> {
    const kept = this.entries.get(task.instanceId);
    if (kept?.state === task.state && (ended(kept.text, task) || now - kept.readAt < CONSOLE_RETRY_MS))
      return kept.text;
    const text = await read();
    this.forget(task.instanceId);
    this.entries.set(task.instanceId, { state: task.state, text, readAt: now });
    this.bytes += text.length;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= MAX_BYTES) break;
      this.forget(oldest);
    }
    return text;
  }

  private forget(instanceId: string): void {
    this.bytes -= this.entries.get(instanceId)?.text.length ?? 0;
    this.entries.delete(instanceId);
  }
}

function ended(text: string, task: ObservedTask): boolean {
  return parseTaskOutput(text, task.taskId).exitCode !== undefined;
}
