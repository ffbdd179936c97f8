import { Cron } from "croner";

/** The schedule fields of a job that the maths reads. */
export interface JobTiming {
  readonly schedule: string;
  readonly timeZone?: string;
  readonly startingDeadlineSeconds?: number;
}

/** What is due now, as Kubernetes' CronJob controller decides it. */
export interface Due {
  /** The most recent schedule time not yet run, when one is due. */
  readonly scheduleTime: Date | undefined;
  /** How many schedule times passed unrun since the last one (more than one: AirLoft was down). */
  readonly missed: number;
  /** More than MAX_MISSED passed: said in an event; the most recent still runs. */
  readonly tooMany: boolean;
  /** The next schedule time after now, to wake up for. */
  readonly next: Date | undefined;
}

/** Kubernetes gives up counting past 100 missed times; so does AirLoft. */
export const MAX_MISSED = 100;

/** A parsed schedule; throws with croner's words on a bad pattern or time zone. */
export function cronOf(job: JobTiming): Cron {
  if (job.timeZone !== undefined) assertTimeZone(job.timeZone);
  // Five fields (minutes) or six (seconds first); paused: AirLoft's scheduler decides when to run.
  return new Cron(job.schedule, {
    paused: true,
    mode: "5-or-6-parts",
    ...(job.timeZone !== undefined ? { timezone: job.timeZone } : {}),
  });
}

export function assertTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat("en", { timeZone });
  } catch {
    throw new Error(`unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as Europe/Paris`);
  }
}

/** Why a schedule or time zone is refused, or undefined when it is valid. */
export function scheduleProblem(job: JobTiming): string | undefined {
  try {
    cronOf(job).nextRun();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * The schedule time to run now: the latest one in (earliest, now], where earliest is the last
 * schedule time run (or the job's creation), and no older than startingDeadlineSeconds when it is
 * set. Runs missed while AirLoft was down therefore give at most one catch-up run, and none once
 * the deadline has passed.
 */
export function dueRun(
  job: JobTiming,
  state: { readonly lastScheduleTime: Date | undefined; readonly createdAt: Date; readonly now: Date },
): Due {
  const cron = cronOf(job);
  const { now } = state;
  let earliest = state.lastScheduleTime ?? state.createdAt;
  if (job.startingDeadlineSeconds !== undefined) {
    const deadline = new Date(now.getTime() - job.startingDeadlineSeconds * 1000);
    if (deadline > earliest) earliest = deadline;
  }
  let scheduleTime: Date | undefined;
  let missed = 0;
  let cursor = cron.nextRun(earliest);
  while (cursor && cursor <= now && missed <= MAX_MISSED) {
    scheduleTime = cursor;
    missed += 1;
    cursor = cron.nextRun(cursor);
  }
  const tooMany = missed > MAX_MISSED;
  // Past the count, the latest time before now is the one to run.
  if (tooMany) scheduleTime = cron.previousRuns(1, now)[0] ?? scheduleTime;
  const next = cron.nextRun(now) ?? undefined;
  return { scheduleTime, missed, tooMany, next };
}
