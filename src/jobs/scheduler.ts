import type { ControllerContext } from "../controllers/context.js";
import { errorMessage } from "../errors.js";
import { isReadyAt } from "../resources/conditions.js";
import { objectKey } from "../resources/kinds.js";
import type { App, Group } from "../resources/types.js";
import { type Clock, systemClock, type Timer } from "../util/clock.js";
import { awsTasksOf, sweepAwsTasks, syncAwsJobs } from "./aws-runs.js";
import { listRuns, type ObservedRun } from "./docker-runs.js";
import { syncAppJobs } from "./job-sync.js";
import { pruneOneOffRuns } from "./one-off.js";
import { dockerRunBackend } from "./run-backend.js";
import { dockerOf, type RunTemplate, runTemplate } from "./run-template.js";

/**
 * How often an engine whose groups have no app with jobs is still listed: for one-off runs to
 * prune and runs left by jobs since removed. An idle installation does not call every engine
 * every second.
 */
const IDLE_LIST_MS = 60_000;
/** How often an AWS app with jobs has its task instances listed. */
export const AWS_LIST_MS = 15_000;

export interface JobSchedulerOptions {
  readonly clock?: Clock;
  /** How often schedules are looked at; a second by default, the finest a schedule can ask. */
  readonly tickMs?: number;
}

/**
 * Runs apps' scheduled jobs: on Docker, every tick, one list of run containers per engine, then
 * each app with jobs is synced (job-sync.ts); on AWS, as task instances (aws-runs.ts). Runs beside the controllers, in the process that
 * runs them; ticks never overlap.
 */
export class JobScheduler {
  private readonly clock: Clock;
  private readonly tickMs: number;
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  /** When each engine was last listed for a group without jobs. */
  private readonly idleListedAt = new Map<string, number>();
  /** Apps that have jobs, or had job runs on the engine at the last listing: theirs is listed every tick. */
  private readonly withRuns = new Set<string>();
  /** When each AWS app's task instances were last listed. */
  private readonly awsListedAt = new Map<string, number>();

  constructor(
    private readonly ctx: ControllerContext,
    options: JobSchedulerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.tickMs = options.tickMs ?? 1000;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.schedule(this.tickMs, () => {
      this.running = this.tick()
        .catch((err: unknown) => {
          this.ctx.log.warn(`jobs: ${errorMessage(err)}`);
        })
        .finally(() => this.schedule());
    });
  }

  /** One pass over every app with jobs or one-off runs on a Docker group. */
  async tick(): Promise<void> {
    const byGroup = new Map<string, App[]>();
    for (const obj of this.ctx.store.view({ kind: "App" })) {
      if (obj.kind !== "App" || obj.metadata.deletionTimestamp) continue;
      const group = obj.metadata.group ?? "";
      byGroup.set(group, [...(byGroup.get(group) ?? []), obj]);
    }
    const live = new Set([...byGroup.values()].flat().map((a) => a.metadata.uid ?? ""));
    for (const uid of this.withRuns) if (!live.has(uid)) this.withRuns.delete(uid);
    for (const uid of this.awsListedAt.keys()) if (!live.has(uid)) this.awsListedAt.delete(uid);
    const listed = new Map<string, Promise<ObservedRun[]>>();
    for (const [name, apps] of byGroup) {
      const group = this.ctx.store.get(objectKey("Group", "", name));
      if (group?.kind === "Group" && group.spec.provider === "aws") {
        if (isReadyAt(group)) await this.syncAws(apps, group);
        continue;
      }
      if (group?.kind !== "Group" || group.spec.provider !== "docker" || !isReadyAt(group)) continue;
      const docker = dockerOf(await this.ctx.providers.for(group));
      if (!docker) continue;
      const address = docker.address(group);
      const busy = apps.some((a) => a.spec.jobs?.length || this.withRuns.has(a.metadata.uid ?? ""));
      if (!listed.has(address) && !busy) {
        const now = this.clock.now();
        if (now - (this.idleListedAt.get(address) ?? Number.NEGATIVE_INFINITY) < IDLE_LIST_MS) continue;
        this.idleListedAt.set(address, now);
      }
      let runs = listed.get(address);
      if (!runs) {
        runs = listRuns(address, docker.instanceId);
        listed.set(address, runs);
      }
      const observed = await runs;
      await pruneOneOffRuns(
        address,
        observed.filter((r) => r.group === name && !r.job),
        this.clock.now(),
      );
      for (const app of apps) {
        const uid = app.metadata.uid ?? "";
        if (!app.spec.jobs?.length && !observed.some((r) => r.uid === uid && r.job)) {
          this.withRuns.delete(uid);
          continue;
        }
        this.withRuns.add(uid);
        await this.syncApp(app, group, address, observed).catch((err: unknown) => {
          this.ctx.log.warn(`jobs of app ${name}/${app.metadata.name}: ${errorMessage(err)}`);
        });
      }
    }
  }

  /**
   * Jobs on AWS: each app's task instances are listed (one call) at most every AWS_LIST_MS, as
   * EC2 updates console output minutes late; a due run starts within that much of its time.
   */
  private async syncAws(apps: readonly App[], group: Group): Promise<void> {
    const tasks = awsTasksOf(await this.ctx.providers.for(group));
    if (!tasks) return;
    const now = this.clock.now();
    const sweep = `aws:${group.metadata.name}`;
    if (now - (this.idleListedAt.get(sweep) ?? Number.NEGATIVE_INFINITY) >= IDLE_LIST_MS) {
      this.idleListedAt.set(sweep, now);
      await sweepAwsTasks(tasks, group, now).catch((err: unknown) => this.ctx.log.warn(`runs: ${errorMessage(err)}`));
    }
    for (const app of apps) {
      const uid = app.metadata.uid ?? "";
      if (!app.spec.jobs?.length && !this.withRuns.has(uid)) continue;
      if (now - (this.awsListedAt.get(uid) ?? Number.NEGATIVE_INFINITY) < AWS_LIST_MS) continue;
      this.awsListedAt.set(uid, now);
      await syncAwsJobs(this.ctx.store, app, group, tasks, now).then(
        (runs) => (runs || app.spec.jobs?.length ? this.withRuns.add(uid) : this.withRuns.delete(uid)),
        (err: unknown) =>
          this.ctx.log.warn(`jobs of app ${group.metadata.name}/${app.metadata.name}: ${errorMessage(err)}`),
      );
    }
  }

  private async syncApp(app: App, group: Group, address: string, runs: readonly ObservedRun[]): Promise<void> {
    let template: Promise<RunTemplate> | undefined;
    const backend = dockerRunBackend(this.ctx.store, app, address, async () => {
      const docker = dockerOf(await this.ctx.providers.for(group));
      if (!docker) return { waiting: "runs need the docker provider" };
      template ??= runTemplate(this.ctx.store, docker, app, group);
      return template;
    });
    await syncAppJobs({ store: this.ctx.store, app, backend, runs, now: new Date(this.clock.now()) });
  }
}
