import { AirloftError, NotFoundError } from "../errors.js";
import type { ObservedTask } from "../providers/aws/tasks.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { LogOptions } from "../providers/types.js";
import { objectKey } from "../resources/kinds.js";
import type { App, Group } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { TokenBudgets } from "../util/token-budgets.js";
import { groupRunsOf } from "./aws-group-runs.js";
import { AwsOneOffRuns } from "./aws-one-off.js";
import { awsTasksOf } from "./aws-runs.js";
import { JOB_LABEL, type ObservedRun } from "./docker-runs.js";
import { findRun, RUN_ID, RunRefused, runExitCode, runLogs, startOneOff } from "./one-off.js";
import { runStarts } from "./run-starts.js";
import { type DockerProviderLike, dockerOf } from "./run-template.js";

/** What a run looks like through the API and the CLI. */
export interface RunView {
  readonly id: string;
  readonly app: string;
  readonly job?: string;
  readonly running: boolean;
  readonly exitCode?: number;
}

/** Reads of AWS runs that need an EC2 call, per account: a burst of 10, then one every 2 s (the listing's age). */
const AWS_READS = { perSecond: 0.5, burst: 10 };

export interface RunAccessOptions {
  readonly now?: () => number;
}

/**
 * One-off runs and the runs of jobs, for the API and the local CLI alike: a group's runs only,
 * read and started through its Docker provider, or as task instances on AWS. A reader (the
 * API's account) is charged for the reads that need EC2 calls.
 */
export class RunAccess {
  /**
   * Refused whole past the budget, with the time until a read is free (a 429 with Retry-After):
   * one tenant's polling cannot fill the installation's shared EC2 rate.
   */
  private readonly budget: TokenBudgets;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    options: RunAccessOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.budget = new TokenBudgets({ ...AWS_READS, overdraft: "refuse", now: this.now });
  }

  async start(app: App, command: readonly string[]): Promise<string> {
    const group = app.metadata.group ?? "";
    const aws = await this.awsOf(group);
    const id = aws ? await aws.start(app, command) : await this.startOnDocker(app, group, command);
    // The group's quota counts the run now, not at its next resync.
    runStarts(this.providers).emit("started", group);
    return id;
  }

  private async startOnDocker(app: App, name: string, command: readonly string[]): Promise<string> {
    const { group, docker } = await this.dockerOf(name);
    return startOneOff(this.store, docker, app, group, command);
  }

  /** Where a run is and how it ended; `reader` is the account charged for EC2 reads (none locally). */
  async view(group: string, id: string, reader?: string): Promise<RunView> {
    const aws = await this.awsOf(group, reader);
    if (aws) {
      const task = await this.awsRun(aws, group, id);
      if (!task) return { id, app: aws.launched(id)?.app ?? "", running: true };
      const { phase, exitCode } = await aws.result(task);
      const job = task.tags[JOB_LABEL];
      const ended = phase !== "running" ? { exitCode: exitCode ?? -1 } : {};
      return { id, app: task.owner.name, ...(job ? { job } : {}), running: phase === "running", ...ended };
    }
    const { run, docker, owner } = await this.find(group, id);
    const exitCode = await runExitCode(docker, owner, run);
    return {
      id: run.runId,
      app: run.app,
      ...(run.job ? { job: run.job } : {}),
      running: exitCode === undefined,
      ...(exitCode !== undefined ? { exitCode } : {}),
    };
  }

  async logs(group: string, id: string, options: LogOptions, reader?: string): Promise<void> {
    const aws = await this.awsOf(group, reader);
    if (aws) {
      await this.awsRun(aws, group, id);
      return aws.logs(id, options);
    }
    const { run, docker, owner } = await this.find(group, id);
    await runLogs(docker, owner, run, options);
  }

  private async find(
    group: string,
    id: string,
  ): Promise<{ run: ObservedRun; docker: DockerProviderLike; owner: Group }> {
    // One answer for a malformed id and a missing run: nothing is learnt of other groups' ids.
    const found = RUN_ID.test(id) ? await this.dockerOf(group) : undefined;
    const run = found ? await findRun(found.docker, found.group, id) : undefined;
    if (!found || !run) throw new NotFoundError(`run ${id} not found in group ${group}`);
    return { run, docker: found.docker, owner: found.group };
  }

  /** A group's runs on AWS: task instances whose output arrives at their end. */
  private async awsOf(name: string, reader?: string): Promise<AwsOneOffRuns | undefined> {
    const group = this.store.get(objectKey("Group", "", name));
    if (group?.kind !== "Group" || group.spec.provider !== "aws") return undefined;
    const tasks = awsTasksOf(await this.providers.for(group));
    if (!tasks) return undefined;
    const charge = reader === undefined ? undefined : () => this.charge(reader);
    return new AwsOneOffRuns(this.store, tasks, group, groupRunsOf(tasks), {
      now: this.now,
      ...(charge ? { charge } : {}),
    });
  }

  private charge(reader: string): void {
    const waitMs = this.budget.take(reader);
    if (waitMs > 0)
      throw new RunRefused(429, "TooManyRequests", "too many reads of runs on AWS; try again later", waitMs);
  }

  /** The listed run of that id; undefined for a launch not listed yet; NotFound otherwise. */
  private async awsRun(aws: AwsOneOffRuns, group: string, id: string): Promise<ObservedTask | undefined> {
    // One answer for a malformed id and a missing run, as on Docker.
    const task = RUN_ID.test(id) ? await aws.find(id) : undefined;
    if (!task && !(RUN_ID.test(id) && aws.launched(id)))
      throw new NotFoundError(`run ${id} not found in group ${group}`);
    return task;
  }

  private async dockerOf(name: string): Promise<{ group: Group; docker: DockerProviderLike }> {
    const group = this.store.get(objectKey("Group", "", name));
    if (group?.kind !== "Group") throw new NotFoundError(`group ${name} not found`);
    const docker = dockerOf(await this.providers.for(group));
    if (!docker)
      throw new AirloftError("BadRequest", `group ${name} is on ${group.spec.provider}: runs need docker or aws`);
    return { group, docker };
  }
}
