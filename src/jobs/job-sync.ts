import { errorMessage } from "../errors.js";
import { setCondition } from "../resources/conditions.js";
import { keyOf } from "../resources/kinds.js";
import type { App, AppStatus, JobSpec, JobStatus, RunRecord } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { dueRun } from "../util/cron-schedule.js";
import { type ObservedRun, scheduledRunId } from "./docker-runs.js";
import type { RunBackend } from "./run-backend.js";
import { runQuotaProblem } from "./run-quota.js";

const DEFAULT_HISTORY = 3;

export interface AppJobsInput {
  readonly store: Store;
  readonly app: App;
  /** Where the app's runs are started, read, killed and removed: containers or task instances. */
  readonly backend: RunBackend;
  /** Every run on the app's engine (all groups: the quota counts the group's), or the app's task instances. */
  readonly runs: readonly ObservedRun[];
  readonly now: Date;
}

/**
 * One pass over an app's jobs: records runs that ended, kills runs past their timeout, starts the
 * run that is due (under the concurrency policy and the group's quota), and trims the history.
 * Level-triggered: what ran is read from the engine's labels (or the instances' tags), so a
 * restart of AirLoft finds it.
 */
export async function syncAppJobs(input: AppJobsInput): Promise<void> {
  const { store, app } = input;
  const key = keyOf(app);
  const before = app.status?.jobs ?? {};
  const jobs: Record<string, JobStatus> = {};
  let scheduled: { ok: boolean; reason: string; message: string } | undefined;
  const surplus: ObservedRun[] = [];
  for (const job of app.spec.jobs ?? []) {
    const mine = input.runs.filter((r) => r.uid === app.metadata.uid && r.job === job.name);
    const result = await syncJob(input, job, mine, before[job.name]);
    jobs[job.name] = result.status;
    surplus.push(...result.surplus);
    scheduled = result.scheduled ?? scheduled;
    for (const event of result.events) await store.recordEvent(key, event);
  }
  // Runs of jobs no longer in the spec go (their record went with the job).
  const named = new Set((app.spec.jobs ?? []).map((j) => j.name));
  for (const r of input.runs) if (r.uid === app.metadata.uid && r.job && !named.has(r.job)) surplus.push(r);
  await store.updateStatus<AppStatus>(key, (s) => {
    const next: AppStatus = { ...s, jobs };
    if (Object.keys(jobs).length === 0) delete next.jobs;
    if (!scheduled) return next;
    return setCondition(
      next,
      {
        type: "Scheduled",
        status: scheduled.ok ? "True" : "False",
        reason: scheduled.reason,
        message: scheduled.message,
      },
      app.metadata.generation ?? 0,
      input.now,
    );
  });
  // Only once the records are written: a removed run's schedule time is then in the status.
  for (const run of surplus) await input.backend.remove(run);
}

interface JobEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

interface JobOutcome {
  readonly status: JobStatus;
  readonly surplus: ObservedRun[];
  readonly events: JobEvent[];
  readonly scheduled?: { ok: boolean; reason: string; message: string };
}

async function syncJob(
  input: AppJobsInput,
  job: JobSpec,
  mine: readonly ObservedRun[],
  previous: JobStatus | undefined,
): Promise<JobOutcome> {
  const { now, backend } = input;
  const events: JobEvent[] = [];
  const records = new Map((previous?.runs ?? []).map((r) => [r.name, { ...r }]));
  const record = (r: ObservedRun): RunRecord => {
    const found = records.get(r.runId);
    if (found) return found;
    const made: RunRecord = {
      name: r.runId,
      scheduleTime: r.scheduleTime ?? "",
      startTime: new Date(r.createdAt).toISOString(),
    };
    records.set(r.runId, made);
    return made;
  };
  const active = mine.filter((r) => r.running);
  // Past its timeout a run is killed; it is recorded as ended on the next pass.
  if (job.timeoutSeconds !== undefined) {
    for (const r of active.filter((a) => now.getTime() - a.createdAt > (job.timeoutSeconds ?? 0) * 1000)) {
      await backend.kill(r);
      record(r).reason = "DeadlineExceeded";
      events.push({
        type: "Warning",
        reason: "JobTimedOut",
        message: `job ${job.name} run ${r.runId} ran past ${job.timeoutSeconds}s and was killed`,
      });
    }
  }
  for (const r of mine.filter((m) => !m.running)) {
    const rec = record(r);
    if (rec.endTime !== undefined) continue;
    await recordEnd(input, r, rec, events, job.name);
  }
  const labelled = mine.flatMap((r) => (r.scheduleTime ? [Date.parse(r.scheduleTime)] : []));
  const last = Math.max(previous?.lastScheduleTime ? Date.parse(previous.lastScheduleTime) : 0, ...labelled);
  let lastScheduleTime = last > 0 ? new Date(last) : undefined;
  const created = Date.parse(input.app.metadata.creationTimestamp ?? "") || now.getTime();
  const due = dueRun(job, { lastScheduleTime, createdAt: new Date(created), now });
  let scheduled: JobOutcome["scheduled"];
  let startedName: string | undefined;
  if (due.tooMany)
    events.push({
      type: "Warning",
      reason: "TooManyMissedRuns",
      message: `job ${job.name}: more than 100 schedule times were missed; running the latest only`,
    });
  if (due.scheduleTime) {
    const time = due.scheduleTime;
    lastScheduleTime = time;
    const policy = job.concurrencyPolicy ?? "Allow";
    const stillActive = active.filter((r) => !records.get(r.runId)?.reason);
    if (policy === "Forbid" && stillActive.length > 0) {
      events.push({
        type: "Normal",
        reason: "JobSkipped",
        message: `job ${job.name}: run for ${time.toISOString()} skipped, ${stillActive[0]?.runId} still runs (Forbid)`,
      });
    } else {
      if (policy === "Replace")
        for (const r of stillActive) {
          await backend.kill(r);
          record(r).reason = "Replaced";
        }
      const started = await startScheduled(input, job, time, due.missed, events);
      scheduled = started.scheduled;
      if (started.record) records.set(started.record.name, started.record);
      startedName = started.record?.name;
    }
  }
  // Newest first; the running ones always, and at most historyLimit of those that ended.
  const running = new Set([
    ...mine.filter((r) => r.running).map((r) => r.runId),
    ...(startedName ? [startedName] : []),
  ]);
  // A record whose container went (removed by hand) before it was seen to end is let go.
  const present = new Set([...mine.map((r) => r.runId), ...running]);
  const sorted = [...records.values()]
    .filter((r) => r.endTime !== undefined || present.has(r.name))
    .sort((a, b) => b.scheduleTime.localeCompare(a.scheduleTime));
  const limit = job.historyLimit ?? DEFAULT_HISTORY;
  const ended = sorted.filter((r) => !running.has(r.name) && r.endTime !== undefined);
  const kept = new Set([
    ...sorted.filter((r) => running.has(r.name) || r.endTime === undefined),
    ...ended.slice(0, limit),
  ]);
  const keptNames = new Set([...kept].map((r) => r.name));
  const surplus = mine.filter((r) => !r.running && !keptNames.has(r.runId));
  return {
    status: {
      ...(lastScheduleTime ? { lastScheduleTime: lastScheduleTime.toISOString() } : {}),
      active: sorted.filter((r) => running.has(r.name)).map((r) => r.name),
      runs: sorted.filter((r) => kept.has(r)),
    },
    surplus,
    events,
    ...(scheduled ? { scheduled } : {}),
  };
}

async function recordEnd(
  input: AppJobsInput,
  r: ObservedRun,
  rec: RunRecord,
  events: JobEvent[],
  job: string,
): Promise<void> {
  const result = await input.backend.result(r);
  if (!result) return;
  rec.startTime = result.startedAt;
  rec.endTime = result.finishedAt;
  rec.exitCode = result.exitCode;
  if (result.lastLines.length > 0) rec.lastLines = [...result.lastLines];
  if (result.exitCode !== 0)
    events.push({
      type: "Warning",
      reason: "JobFailed",
      message: `job ${job} run ${r.runId} exited with code ${result.exitCode}`,
    });
}

async function startScheduled(
  input: AppJobsInput,
  job: JobSpec,
  time: Date,
  missed: number,
  events: JobEvent[],
): Promise<{ record?: RunRecord; scheduled?: JobOutcome["scheduled"] }> {
  const runId = scheduledRunId(job.name, time);
  const quota = runQuotaProblem(
    input.store,
    input.app,
    input.runs.filter((r) => r.running),
  );
  if (quota) {
    const message = `job ${job.name}: run for ${time.toISOString()} skipped: ${quota}`;
    events.push({ type: "Warning", reason: "QuotaExceeded", message });
    return { scheduled: { ok: false, reason: "QuotaExceeded", message } };
  }
  try {
    const started = await input.backend.start({ runId, command: job.command, job: job.name, scheduleTime: time });
    if (started.waiting) {
      const message = `job ${job.name}: run for ${time.toISOString()} skipped: ${started.waiting}`;
      events.push({ type: "Warning", reason: "JobNotStarted", message });
      return { scheduled: { ok: false, reason: "WaitingForDependencies", message } };
    }
  } catch (err) {
    const message = `job ${job.name}: run ${runId} could not start: ${errorMessage(err)}`;
    events.push({ type: "Warning", reason: "JobNotStarted", message });
    return { scheduled: { ok: false, reason: "RunFailedToStart", message } };
  }
  if (missed > 1)
    events.push({
      type: "Normal",
      reason: "MissedRuns",
      message: `job ${job.name}: ${missed} schedule times passed unrun; ran the latest, ${time.toISOString()}`,
    });
  events.push({ type: "Normal", reason: "JobStarted", message: `job ${job.name} run ${runId} started` });
  const record: RunRecord = { name: runId, scheduleTime: time.toISOString(), startTime: input.now.toISOString() };
  return { record, scheduled: { ok: true, reason: "RunStarted", message: `job ${job.name} run ${runId} started` } };
}
