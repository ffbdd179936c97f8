import type { ControllerContext } from "../controllers/context.js";
import { errorMessage } from "../errors.js";
import { isReadyAt } from "../resources/conditions.js";
import { keyOf, objectKey } from "../resources/kinds.js";
import type { App, Group } from "../resources/types.js";
import { byCodeUnit } from "../store/kind-index.js";
import type { Store } from "../store/store.js";
import { type Clock, systemClock, type Timer } from "../util/clock.js";
import { groupRunsOf, RUN_READ_MAX_AGE_MS } from "./aws-group-runs.js";
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
  /** Apps that have jobs, or had job runs (on the engine, or as task instances) at the last listing, by uid, with their keys. */
  private readonly withRuns = new Map<string, string>();
  /** The keys of live apps with jobs, kept by the store's kind index. */
  private withJobs: ReadonlySet<string> | undefined;
  /** When each AWS group's run and job instances were last listed for its jobs. */
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

  /**
   * One pass over every app with jobs or one-off runs on a Docker group. Reads the apps with jobs
   * or runs, and each group's first live app, not every app: it runs every second.
   */
  async tick(): Promise<void> {
    const store = this.ctx.store;
    this.withJobs ??= store.selection("App.jobs", "App", (a) => a.kind === "App" && hasJobs(a));
    for (const [uid, key] of this.withRuns) if (liveApp(store, key)?.metadata.uid !== uid) this.withRuns.delete(uid);
    const byGroup = new Map<string, App[]>();
    for (const key of new Set([...this.withJobs, ...this.withRuns.values()])) {
      const app = liveApp(store, key);
      const group = app?.metadata.group ?? "";
      if (app) byGroup.set(group, [...(byGroup.get(group) ?? []), app]);
    }
    for (const name of this.awsListedAt.keys()) if (!byGroup.has(name)) this.awsListedAt.delete(name);
    // Every group with a live app, in the order of its apps' keys.
    const names = store
      .view({ kind: "Group" })
      .map((g) => g.metadata.name)
      .filter((name) => hasLiveApp(store, name))
      .sort((a, b) => byCodeUnit(`${a}/`, `${b}/`));
    const listed = new Map<string, Promise<ObservedRun[]>>();
    for (const name of names) {
      const apps = byGroup.get(name) ?? [];
      const group = store.peek(objectKey("Group", "", name));
      if (group?.kind === "Group" && group.spec.provider === "aws") {
        if (isReadyAt(group)) await this.syncAws(apps, group);
        continue;
      }
      if (group?.kind !== "Group" || group.spec.provider !== "docker" || !isReadyAt(group)) continue;
      const docker = dockerOf(await this.ctx.providers.for(group));
      if (!docker) continue;
      const address = docker.address(group);
      const busy = apps.length > 0;
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
      for (const app of withRunsOf(store, name, apps, observed)) {
        const uid = app.metadata.uid ?? "";
        if (!app.spec.jobs?.length && !observed.some((r) => r.uid === uid && r.job)) {
          this.withRuns.delete(uid);
          continue;
        }
        this.withRuns.set(uid, keyOf(app));
        await this.syncApp(app, group, address, observed).catch((err: unknown) => {
          this.ctx.log.warn(`jobs of app ${name}/${app.metadata.name}: ${errorMessage(err)}`);
        });
      }
    }
  }

  /**
   * Jobs on AWS: the group's run and job instances are listed once per pass (shared with run
   * reads and the quota), at most every AWS_LIST_MS, as EC2 updates console output minutes
   * late; a due run starts within that much of its time. Each launch joins that listing at once,
   * so the next app's quota check counts it.
   */
  private async syncAws(apps: readonly App[], group: Group): Promise<void> {
    const tasks = awsTasksOf(await this.ctx.providers.for(group));
    if (!tasks) return;
    const now = this.clock.now();
    const name = group.metadata.name;
    const sweep = now - (this.idleListedAt.get(`aws:${name}`) ?? Number.NEGATIVE_INFINITY) >= IDLE_LIST_MS;
    const due = apps.filter((a) => a.spec.jobs?.length || this.withRuns.has(a.metadata.uid ?? ""));
    const listDue = now - (this.awsListedAt.get(name) ?? Number.NEGATIVE_INFINITY) >= AWS_LIST_MS;
    if (!sweep && !(listDue && due.length > 0)) return;
    const site = { tasks, runs: groupRunsOf(tasks) };
    // A region that fails its listing holds no other group's jobs: the next tick tries again.
    const listing = (maxAgeMs: number) =>
      site.runs.pass(group, { maxAgeMs, now }).catch((err: unknown) => {
        this.ctx.log.warn(`runs of group ${name}: ${errorMessage(err)}`);
      });
    let pass = await listing(RUN_READ_MAX_AGE_MS);
    if (!pass) return;
    if (sweep) {
      this.idleListedAt.set(`aws:${name}`, now);
      const swept = await sweepAwsTasks(site, group, pass, now).catch((err: unknown) => {
        this.ctx.log.warn(`runs: ${errorMessage(err)}`);
        return [];
      });
      // The runs just ended count no more against the quota of the jobs below.
      if (swept.length > 0) pass = await listing(0);
      if (!pass) return;
    }
    if (!listDue) return;
    this.awsListedAt.set(name, now);
    for (const app of due) {
      const uid = app.metadata.uid ?? "";
      await syncAwsJobs(this.ctx.store, app, group, site, pass, now).then(
        (runs) => (runs || app.spec.jobs?.length ? this.withRuns.set(uid, keyOf(app)) : this.withRuns.delete(uid)),
        (err: unknown) => this.ctx.log.warn(`jobs of app ${name}/${app.metadata.name}: ${errorMessage(err)}`),
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

function hasJobs(app: Readonly<App>): boolean {
  return !app.metadata.deletionTimestamp && (app.spec.jobs?.length ?? 0) > 0;
}

/** The app under `key` unless it is gone or being deleted. */
function liveApp(store: Store, key: string): App | undefined {
  const obj = store.peek(key);
  return obj?.kind === "App" && !obj.metadata.deletionTimestamp ? obj : undefined;
}

function hasLiveApp(store: Store, group: string): boolean {
  for (const key of store.keysOf(group, "App")) if (liveApp(store, key)) return true;
  return false;
}

/** `apps` and the group's live apps whose job runs are on the engine, in key order. */
function withRunsOf(store: Store, group: string, apps: readonly App[], runs: readonly ObservedRun[]): App[] {
  const found = new Map(apps.map((a) => [keyOf(a), a]));
  for (const run of runs) {
    const key = objectKey("App", group, run.app);
    const app = run.group === group && run.job ? liveApp(store, key) : undefined;
    if (app?.metadata.uid === run.uid) found.set(key, app);
  }
  return [...found].sort(([a], [b]) => byCodeUnit(a, b)).map(([, app]) => app);
}
