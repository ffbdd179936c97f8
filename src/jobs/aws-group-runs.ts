import { KeyedLock } from "../providers/aws/keyed-lock.js";
import type { AwsTasks } from "../providers/aws/task-access.js";
import type { Group } from "../resources/types.js";
import { observedRun } from "./aws-runs.js";
import type { ObservedRun } from "./docker-runs.js";

/** How long a launched run counts before it shows in a listing (EC2's reads lag its launches). */
const UNLISTED_MS = 60_000;

/**
 * A group's running runs on AWS, one-offs' and jobs' alike, for the run limit and the quota, and
 * one start at a time per group: parallel requests would all read the same count before any
 * launch shows, and each launch is a billed instance. A run launched here counts at once.
 */
export class AwsGroupRuns {
  private readonly starting = new KeyedLock();
  /** Runs launched by this process, by group, until a listing shows them or UNLISTED_MS passed. */
  private readonly launched = new Map<string, ObservedRun[]>();

  constructor(
    private readonly tasks: AwsTasks,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `start` alone for the group, given the group's running runs; what it launches is counted. */
  exclusive<T>(
    group: Group,
    start: (running: readonly ObservedRun[]) => Promise<{ result: T; launched?: ObservedRun }>,
  ): Promise<T> {
    const name = group.metadata.name;
    return this.starting.run(name, async () => {
      const { result, launched } = await start(await this.running(group));
      if (launched) this.launched.set(name, [...(this.launched.get(name) ?? []), launched]);
      return result;
    });
  }

  async running(group: Group): Promise<ObservedRun[]> {
    const name = group.metadata.name;
    const listed = [
      ...(await this.tasks.list(group, { kind: "Run" })),
      ...(await this.tasks.list(group, { kind: "Job" })),
    ].flatMap(observedRun);
    const seen = new Set(listed.map((r) => r.runId));
    const unlisted = (this.launched.get(name) ?? []).filter(
      (r) => !seen.has(r.runId) && this.now() - r.createdAt < UNLISTED_MS,
    );
    if (unlisted.length > 0) this.launched.set(name, unlisted);
    else this.launched.delete(name);
    return [...listed.filter((r) => r.running), ...unlisted];
  }
}
