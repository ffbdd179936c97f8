import { randomBytes } from "node:crypto";
import { pause } from "../providers/aws/console-logs.js";
import type { TaskInstances } from "../providers/aws/task-types.js";
import { DEFAULT_TASK_TIMEOUT_MS, type ObservedTask, type TaskResult } from "../providers/aws/tasks.js";
import type { LogOptions } from "../providers/types.js";
import { objectKey } from "../resources/kinds.js";
import type { App, Group } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { type AwsGroupRuns, type ListingRead, RUN_READ_MAX_AGE_MS } from "./aws-group-runs.js";
import { awsRunBackend } from "./aws-runs.js";
import { RUN_LABEL } from "./docker-runs.js";
import { MAX_RUNS_PER_GROUP, RunRefused } from "./one-off.js";
import { runQuotaProblem } from "./run-quota.js";
import { runEnvValues } from "./run-template.js";

/** How often a followed run on AWS is looked at: EC2 updates console output minutes late anyway. */
export const AWS_RUN_POLL_MS = 15_000;
/** The most lines of a one-off run's output given at its end: EC2 keeps the console's last 64 KB. */
const RUN_OUTPUT_LINES = 2_000;

export interface AwsOneOffOptions {
  readonly now?: () => number;
  /** Called before a read makes an EC2 call (a listing, a console read); throws to refuse it. */
  readonly charge?: () => void;
}

/**
 * One-off runs of a group's apps on AWS: each a task instance (src/providers/aws/tasks.ts). Runs
 * are read from the group's shared listing (AwsGroupRuns) and ended runs' output from a cache, so
 * reads cost EC2 calls by the time that passes, not by how often they come. Output comes from
 * the console once the run ended, all at once: there is no stream to follow.
 */
export class AwsOneOffRuns {
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly tasks: TaskInstances,
    private readonly group: Group,
    private readonly runs: AwsGroupRuns,
    private readonly options: AwsOneOffOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** One start at a time per group, counted against the group's runs (one-offs' and jobs'). */
  async start(app: App, command: readonly string[]): Promise<string> {
    return this.runs.exclusive(this.group, this.read(), async (running) => {
      if (running.length >= MAX_RUNS_PER_GROUP)
        throw new RunRefused(
          429,
          "TooManyRuns",
          `group ${this.group.metadata.name} has ${running.length} runs running, the most it may have`,
        );
      const quota = runQuotaProblem(this.store, app, running);
      if (quota) throw new RunRefused(409, "QuotaExceeded", quota);
      const runId = randomBytes(6).toString("hex");
      const site = { tasks: this.tasks, runs: this.runs };
      const started = await awsRunBackend(this.store, app, this.group, site, [], this.now).start({ runId, command });
      if (started.waiting) throw new RunRefused(409, "NotReady", started.waiting);
      return runId;
    });
  }

  /** The group's run of that id (a one-off's or a job's) as listed; undefined when not listed (yet). */
  async find(runId: string): Promise<ObservedTask | undefined> {
    return (await this.runs.listing(this.group, this.read())).filter((t) => t.tags[RUN_LABEL] === runId).at(-1);
  }

  /** A one-off this process launched that no listing shows yet: it runs. */
  launched(runId: string): { readonly app: string } | undefined {
    return this.runs.launchedRun(this.group, runId, this.now());
  }

  async result(task: ObservedTask, lines = RUN_OUTPUT_LINES): Promise<TaskResult> {
    const app = this.store.get(objectKey("App", this.group.metadata.name, task.owner.name));
    const env = app?.kind === "App" && app.metadata.uid === task.owner.uid ? runEnvValues(this.store, app) : {};
    const now = this.now();
    const charge = this.options.charge;
    const result = await this.tasks.result(this.group, task, {
      ...{ env, timeoutMs: DEFAULT_TASK_TIMEOUT_MS, now, lines },
      ...(charge ? { beforeRead: charge } : {}),
    });
    // Past its timeout the read terminated it: the next read lists again.
    if (result.reason === "DeadlineExceeded") this.runs.changed(this.group);
    return result;
  }

  /** The run's output once it ended (secrets masked); following waits for its end. */
  async logs(runId: string, options: LogOptions): Promise<void> {
    for (;;) {
      const task = await this.find(runId);
      const result = task ? await this.result(task) : undefined;
      if (task && result && result.phase !== "running") {
        const lines = options.tail !== undefined ? result.output.slice(-options.tail) : result.output;
        for (const line of lines) {
          if (options.signal?.aborted) return;
          await options.write(`run/${runId}`, line);
        }
        return;
      }
      if (!options.follow || !(await pause(AWS_RUN_POLL_MS, options.signal))) return;
    }
  }

  private read(): ListingRead {
    const charge = this.options.charge;
    return { maxAgeMs: RUN_READ_MAX_AGE_MS, now: this.now(), ...(charge ? { charge } : {}) };
  }
}
