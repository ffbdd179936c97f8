import { KeyedLock } from "../providers/aws/keyed-lock.js";
import type { TaskInstances } from "../providers/aws/task-types.js";
import type { ObservedTask } from "../providers/aws/tasks.js";
import type { Group } from "../resources/types.js";
import { JOB_LABEL, type ObservedRun, RUN_LABEL, SCHEDULE_LABEL } from "./docker-runs.js";

/** How long a launched run counts before it shows in a listing (EC2's reads lag its launches). */
const UNLISTED_MS = 60_000;
/** A group's listing nobody asked for in this long is let go. */
const IDLE_MS = 10 * 60_000;
/**
 * How old the group's listing a run read, a start or a job pass may take: a run's end shows at
 * most this late (after EC2 has it), and a tenant polling as fast as it likes makes one listing
 * per this much time for its group, shared with everyone else who reads it.
 */
export const RUN_READ_MAX_AGE_MS = 2_000;

/** A pass's view of a group's runs on AWS: one listing, and the runs launched since (each counted at once). */
export interface AwsRunsPass {
  readonly tasks: readonly ObservedTask[];
  /** Every run listed (ended ones too), and every launch not yet listed, the pass's own added as they happen. */
  readonly runs: ObservedRun[];
}

/** How old a listing may be, when it is taken, and what is charged before a new one is made (a per-account rate). */
export interface ListingRead {
  readonly maxAgeMs: number;
  readonly now: number;
  /** Called before a listing is asked of EC2 (never when one is fresh or in flight); may throw to refuse. */
  readonly charge?: () => void;
}

interface GroupRuns {
  listed?: { readonly at: number; readonly tasks: readonly ObservedTask[] };
  /** The listing in flight, and the generation it was started at: one after a launch or terminate is not joined. */
  listing?: { readonly generation: number; readonly tasks: Promise<readonly ObservedTask[]> };
  /** Bumped by each launch and terminate of this process: an older listing is stale. */
  generation: number;
  listedGeneration: number;
  /** Runs launched by this process until a listing shows them or UNLISTED_MS passed. */
  launched: ObservedRun[];
  usedAt: number;
}

/**
 * A group's run and job task instances on AWS, listed in one call and shared by everyone who
 * reads them: the job pass, the quota's count, one-off starts and tenants' run reads. A listing
 * is reused while it is younger than what its reader accepts, and made again at once after this
 * process launched or terminated a run. Starts are one at a time per group: parallel requests
 * would all read the same count before any launch shows, and each launch is a billed instance.
 * A run launched here counts at once, one-offs' and jobs' alike.
 */
export class AwsGroupRuns {
  private readonly starting = new KeyedLock();
  private readonly groups = new Map<string, GroupRuns>();
  private prunedAt = 0;

  constructor(private readonly tasks: TaskInstances) {}

  /** The group's run and job task instances, in any state, as listed at most `read.maxAgeMs` ago. */
  async listing(group: Group, read: ListingRead): Promise<readonly ObservedTask[]> {
    const runs = this.of(group.metadata.name, read.now);
    const { listed, listing } = runs;
    if (listed && runs.listedGeneration === runs.generation && read.now - listed.at <= read.maxAgeMs)
      return listed.tasks;
    if (listing?.generation === runs.generation) return listing.tasks;
    read.charge?.();
    const generation = runs.generation;
    const tasks = this.tasks.list(group, { kind: ["Run", "Job"] }).then(
      (found) => {
        if (runs.generation === generation) {
          runs.listed = { at: read.now, tasks: found };
          runs.listedGeneration = generation;
        }
        if (runs.listing?.tasks === tasks) delete runs.listing;
        return found;
      },
      (err: unknown) => {
        if (runs.listing?.tasks === tasks) delete runs.listing;
        throw err;
      },
    );
    runs.listing = { generation, tasks };
    return tasks;
  }

  /** The group's runs for a pass (the job scheduler's, a start's): one listing, and launches no listing shows yet. */
  async pass(group: Group, read: ListingRead): Promise<AwsRunsPass> {
    const tasks = await this.listing(group, read);
    const listed = tasks.flatMap(observedRun);
    return { tasks, runs: [...listed, ...this.unlisted(group.metadata.name, listed, read.now)] };
  }

  /** The group's running runs: those listed running, and launches no listing shows yet. */
  async running(group: Group, read: ListingRead): Promise<ObservedRun[]> {
    return (await this.pass(group, read)).runs.filter((r) => r.running);
  }

  /** A run this process launched that no listing shows yet, by its id. */
  launchedRun(group: Group, runId: string, now: number): ObservedRun | undefined {
    return this.groups
      .get(group.metadata.name)
      ?.launched.find((r) => r.runId === runId && now - r.createdAt < UNLISTED_MS);
  }

  /** Runs `start` alone for the group, given the group's running runs (its launch counts through `launched`). */
  exclusive<T>(group: Group, read: ListingRead, start: (running: readonly ObservedRun[]) => Promise<T>): Promise<T> {
    return this.starting.run(group.metadata.name, async () => start(await this.running(group, read)));
  }

  /** A run launched by this process: it counts at once, and the next read lists again. */
  launched(group: Group, run: ObservedRun, now: number): void {
    const runs = this.of(group.metadata.name, now);
    runs.launched.push(run);
    runs.generation++;
  }

  /** Runs terminated by this process: the next read lists again, so their end shows at once. */
  changed(group: Group): void {
    const runs = this.groups.get(group.metadata.name);
    if (runs) runs.generation++;
  }

  private unlisted(name: string, listed: readonly ObservedRun[], now: number): ObservedRun[] {
    const runs = this.groups.get(name);
    if (!runs) return [];
    const seen = new Set(listed.map((r) => r.runId));
    runs.launched = runs.launched.filter((r) => !seen.has(r.runId) && now - r.createdAt < UNLISTED_MS);
    return [...runs.launched];
  }

  private of(name: string, now: number): GroupRuns {
    if (now - this.prunedAt > IDLE_MS) {
      this.prunedAt = now;
      for (const [key, runs] of this.groups)
        if (now - runs.usedAt > IDLE_MS && !runs.listing && runs.launched.length === 0) this.groups.delete(key);
    }
    let runs = this.groups.get(name);
    if (!runs) this.groups.set(name, (runs = { generation: 0, listedGeneration: -1, launched: [], usedAt: now }));
    runs.usedAt = now;
    return runs;
  }
}

/** A task instance as the job sync reads a run: running while the instance is up. */
export function observedRun(task: ObservedTask): ObservedRun[] {
  const runId = task.tags[RUN_LABEL];
  if (!runId) return [];
  return [
    {
      id: task.instanceId,
      name: task.instanceId,
      runId,
      group: task.owner.group,
      app: task.owner.name,
      uid: task.owner.uid,
      job: task.tags[JOB_LABEL],
      scheduleTime: task.tags[SCHEDULE_LABEL],
      running: task.state === "pending" || task.state === "running",
      createdAt: task.launchTime,
    },
  ];
}

const shared = new WeakMap<TaskInstances, AwsGroupRuns>();

/** The one AwsGroupRuns of a provider's task instances: the job pass, the quota and the API share it. */
export function groupRunsOf(tasks: TaskInstances): AwsGroupRuns {
  let runs = shared.get(tasks);
  if (!runs) shared.set(tasks, (runs = new AwsGroupRuns(tasks)));
  return runs;
}
