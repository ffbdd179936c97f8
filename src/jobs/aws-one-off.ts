import { randomBytes } from "node:crypto";
import { pause } from "../providers/aws/console-logs.js";
import type { AwsTasks } from "../providers/aws/task-access.js";
import { DEFAULT_TASK_TIMEOUT_MS, type ObservedTask, type TaskResult } from "../providers/aws/tasks.js";
import type { LogOptions } from "../providers/types.js";
import { objectKey } from "../resources/kinds.js";
import type { App, Group } from "../resources/types.js";
import type { Store } from "../store/store.js";
import type { AwsGroupRuns } from "./aws-group-runs.js";
import { awsRunBackend, observedRun } from "./aws-runs.js";
import { RUN_LABEL } from "./docker-runs.js";
import { MAX_RUNS_PER_GROUP, RunRefused } from "./one-off.js";
import { runQuotaProblem } from "./run-quota.js";
import { runEnvValues } from "./run-template.js";

/** How often a followed run on AWS is looked at: EC2 updates console output minutes late anyway. */
export const AWS_RUN_POLL_MS = 15_000;
/** The most lines of a one-off run's output given at its end: EC2 keeps the console's last 64 KB. */
const RUN_OUTPUT_LINES = 2_000;

/**
 * One-off runs of a group's apps on AWS: each a task instance (src/providers/aws/tasks.ts). Its
 * output comes from the console once it ended, all at once: there is no stream to follow.
 */
export class AwsOneOffRuns {
  constructor(
    private readonly store: Store,
    private readonly tasks: AwsTasks,
    private readonly group: Group,
    private readonly runs: AwsGroupRuns,
    private readonly now: () => number = Date.now,
  ) {}

  /** One start at a time per group, counted against the group's runs (one-offs' and jobs'). */
  async start(app: App, command: readonly string[]): Promise<string> {
    return this.runs.exclusive(this.group, async (running) => {
      if (running.length >= MAX_RUNS_PER_GROUP)
        throw new RunRefused(
          429,
          "TooManyRuns",
          `group ${this.group.metadata.name} has ${running.length} runs running, the most it may have`,
        );
      const quota = runQuotaProblem(this.store, app, running);
      if (quota) throw new RunRefused(409, "QuotaExceeded", quota);
      const runId = randomBytes(6).toString("hex");
      const backend = awsRunBackend(this.store, app, this.group, this.tasks, [], this.now);
      const started = await backend.start({ runId, command });
      if (started.waiting) throw new RunRefused(409, "NotReady", started.waiting);
      const at = this.now();
      const launched = {
        ...{ id: runId, name: runId, runId, group: this.group.metadata.name },
        ...{ app: app.metadata.name, uid: app.metadata.uid ?? "", job: undefined, scheduleTime: undefined },
        ...{ running: true, createdAt: at },
      };
      return { result: runId, launched };
    });
  }

  /** The group's run of that id (a one-off's or a job's), or undefined. */
  async find(runId: string): Promise<ObservedTask | undefined> {
    const tags = { [RUN_LABEL]: runId };
    const found = await this.tasks.list(this.group, { kind: "Run", tags });
    return (found.length > 0 ? found : await this.tasks.list(this.group, { kind: "Job", tags })).at(-1);
  }

  async result(task: ObservedTask, lines = RUN_OUTPUT_LINES): Promise<TaskResult> {
    const app = this.store.get(objectKey("App", this.group.metadata.name, task.owner.name));
    const env = app?.kind === "App" && app.metadata.uid === task.owner.uid ? runEnvValues(this.store, app) : {};
    return this.tasks.result(this.group, task, { env, timeoutMs: DEFAULT_TASK_TIMEOUT_MS, now: this.now(), lines });
  }

  /** The run's output once it ended (secrets masked); following waits for its end. */
  async logs(task: ObservedTask, options: LogOptions): Promise<void> {
    let current = task;
    for (;;) {
      const result = await this.result(current);
      if (result.phase !== "running") {
        const lines = options.tail !== undefined ? result.output.slice(-options.tail) : result.output;
        for (const line of lines) {
          if (options.signal?.aborted) return;
          await options.write(`run/${current.tags[RUN_LABEL] ?? ""}`, line);
        }
        return;
      }
      if (!options.follow || !(await pause(AWS_RUN_POLL_MS, options.signal))) return;
      current = (await this.find(current.tags[RUN_LABEL] ?? "")) ?? current;
    }
  }
}

function live(task: ObservedTask): boolean {
  return task.state === "pending" || task.state === "running";
}
