import { AirloftError, NotFoundError } from "../errors.js";
import type { AwsTasks } from "../providers/aws/task-access.js";
import type { ObservedTask } from "../providers/aws/tasks.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { LogOptions } from "../providers/types.js";
import { objectKey } from "../resources/kinds.js";
import type { App, Group } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { AwsGroupRuns } from "./aws-group-runs.js";
import { AwsOneOffRuns } from "./aws-one-off.js";
import { awsTasksOf } from "./aws-runs.js";
import { JOB_LABEL, type ObservedRun } from "./docker-runs.js";
import { findRun, RUN_ID, runExitCode, runLogs, startOneOff } from "./one-off.js";
import { type DockerProviderLike, dockerOf } from "./run-template.js";

/** What a run looks like through the API and the CLI. */
export interface RunView {
  readonly id: string;
  readonly app: string;
  readonly job?: string;
  readonly running: boolean;
  readonly exitCode?: number;
}

/**
 * One-off runs and the runs of jobs, for the API and the local CLI alike: a group's runs only,
 * read and started through its Docker provider, or as task instances on AWS.
 */
export class RunAccess {
  /** Per AWS provider: its groups' running runs, and their starts one at a time. */
  private readonly groupRuns = new WeakMap<AwsTasks, AwsGroupRuns>();

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
  ) {}

  async start(app: App, command: readonly string[]): Promise<string> {
    const aws = await this.awsOf(app.metadata.group ?? "");
    if (aws) return aws.start(app, command);
    const { group, docker } = await this.dockerOf(app.metadata.group ?? "");
    return startOneOff(this.store, docker, app, group, command);
  }

  async view(group: string, id: string): Promise<RunView> {
    const aws = await this.awsOf(group);
    if (aws) {
      const task = await this.awsRun(aws, group, id);
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

  async logs(group: string, id: string, options: LogOptions): Promise<void> {
    const aws = await this.awsOf(group);
    if (aws) return aws.logs(await this.awsRun(aws, group, id), options);
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
  private async awsOf(name: string): Promise<AwsOneOffRuns | undefined> {
    const group = this.store.get(objectKey("Group", "", name));
    if (group?.kind !== "Group" || group.spec.provider !== "aws") return undefined;
    const tasks = awsTasksOf(await this.providers.for(group));
    if (!tasks) return undefined;
    let runs = this.groupRuns.get(tasks);
    if (!runs) this.groupRuns.set(tasks, (runs = new AwsGroupRuns(tasks)));
    return new AwsOneOffRuns(this.store, tasks, group, runs);
  }

  private async awsRun(aws: AwsOneOffRuns, group: string, id: string): Promise<ObservedTask> {
    // One answer for a malformed id and a missing run, as on Docker.
    const task = RUN_ID.test(id) ? await aws.find(id) : undefined;
    if (!task) throw new NotFoundError(`run ${id} not found in group ${group}`);
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
