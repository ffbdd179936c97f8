import type { App, Group } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import type { OwnedLabels } from "../ownership.js";

/**
 * Task instances as the rest of AirLoft sees them: one command run once on an instance of its
 * own (AWS's release commands, jobs' and one-off runs). Data and the one interface only, so that
 * the provider contract (providers/types.ts) can name the capability without importing AWS code.
 */

export type TaskKind = "Release" | "Job" | "Run";

/** One command to run once on an instance of its own. */
export interface TaskRequest {
  readonly kind: TaskKind;
  /** What makes it this task and no other (app uid and config and command; uid, job and schedule time). */
  readonly identity: readonly string[];
  readonly label: string;
  readonly command: readonly string[];
  /** Tags that say which run it is (job, schedule time, run id). */
  readonly tags?: Readonly<Record<string, string>>;
}

/** A task instance as DescribeInstances has it, terminated ones included. */
export interface ObservedTask {
  readonly instanceId: string;
  readonly taskId: string;
  readonly state: string;
  readonly launchTime: number;
  readonly owner: OwnedLabels;
  readonly tags: Readonly<Record<string, string>>;
}

/** Where a task is: running (or its output not yet on the console), or ended with its code and last lines. */
export interface TaskResult {
  readonly phase: "running" | "succeeded" | "failed";
  readonly exitCode?: number;
  /** The last lines, every env and secret value replaced by ***. */
  readonly output: readonly string[];
  /** Why it ended without its command's exit code: DeadlineExceeded, Lost. */
  readonly reason?: string;
}

/** Which task instances to list: of one kind (or several, in the one call), of an app (uid) or a group, or one run by its id. */
export interface TaskMatch {
  readonly kind: TaskKind | readonly TaskKind[];
  readonly uid?: string;
  readonly group?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

/** How a task's result is read: the values its output must not show, its timeout, now, and how many lines. */
export interface TaskReadOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly now: number;
  readonly lines?: number;
  /** Where the console output is read (a cache, say); straight from EC2 when unset. */
  readonly console?: (task: ObservedTask) => Promise<string>;
  /** Called before the console is read from EC2, not from a cache (a per-account rate); may throw to refuse. */
  readonly beforeRead?: () => void;
}

/** A provider's task instances, for jobs and one-off runs: each started from its app's launch template, read and ended by id. */
export interface TaskInstances {
  /** The group's task instances that match. */
  list(group: Group, match: Omit<TaskMatch, "group">): Promise<ObservedTask[]>;
  /** Launches the task (or finds the instance its token already made); undefined when that one is gone. */
  start(
    app: App,
    group: Group,
    request: TaskRequest,
    inputs: { readonly bindings: Readonly<Record<string, string>>; readonly secrets: ResolvedSecrets },
  ): Promise<string | undefined>;
  result(group: Group, task: ObservedTask, options: TaskReadOptions): Promise<TaskResult>;
  terminate(group: Group, ids: readonly string[]): Promise<void>;
}
