import { resolveBindings } from "../controllers/bindings.js";
import type { TaskInstances } from "../providers/aws/task-types.js";
import { DEFAULT_TASK_TIMEOUT_MS, type ObservedTask, type TaskRequest } from "../providers/aws/tasks.js";
import type { InfraProvider } from "../providers/types.js";
import type { App, Group } from "../resources/types.js";
import { resolveSecrets } from "../secrets/references.js";
import type { Store } from "../store/store.js";
import type { AwsGroupRuns, AwsRunsPass } from "./aws-group-runs.js";
import { JOB_LABEL, type ObservedRun, RUN_LABEL, type RunRequest, SCHEDULE_LABEL } from "./docker-runs.js";
import { syncAppJobs } from "./job-sync.js";
import type { RunBackend } from "./run-backend.js";
import { runEnvValues } from "./run-template.js";

/** The task instances of a group on AWS, or undefined on another provider. */
export function awsTasksOf(provider: InfraProvider): TaskInstances | undefined {
  return provider.tasks;
}

/** Where an app's runs go on AWS: the provider's task instances, and the group's shared listing of runs. */
export interface AwsRunSite {
  readonly tasks: TaskInstances;
  readonly runs: AwsGroupRuns;
  /** Each launch, as it happens (the job pass adds it to its listing). */
  readonly onLaunch?: (run: ObservedRun) => void;
}

/**
 * An app's runs as task instances (src/providers/aws/tasks.ts). A scheduled run's id, and so its
 * launch token, comes from the app's uid, the job and the schedule time: a retry after a crash
 * gets the instance the first try launched. Results are read from the console once it ended.
 */
export function awsRunBackend(
  store: Store,
  app: App,
  group: Group,
  site: AwsRunSite,
  observed: readonly ObservedTask[],
  now: () => number,
): RunBackend {
  const { tasks, runs } = site;
  const byId = new Map(observed.map((t) => [t.instanceId, t]));
  const uid = app.metadata.uid ?? "";
  const terminate = async (ids: readonly string[]) => {
    await tasks.terminate(group, ids);
    runs.changed(group);
  };
  return {
    async start(request: RunRequest) {
      const bindings = resolveBindings(store, app);
      if (bindings.missing.length > 0) return { waiting: `service ${bindings.missing.join(", ")} not found` };
      if (bindings.notReady.length > 0) return { waiting: `waiting for service ${bindings.notReady.join(", ")}` };
      const secrets = resolveSecrets(store, app);
      if (secrets.missing.length > 0) return { waiting: `waiting for ${secrets.missing.join(", ")}` };
      const at = now();
      const id = await tasks.start(app, group, taskRequest(app, group, request), { bindings: bindings.env, secrets });
      // Counted at once, by every reader of the group's runs, until a listing shows it.
      const run = {
        ...{ id: id ?? request.runId, name: id ?? request.runId, runId: request.runId, group: group.metadata.name },
        ...{ app: app.metadata.name, uid, job: request.job, scheduleTime: request.scheduleTime?.toISOString() },
        ...{ running: true, createdAt: at },
      };
      runs.launched(group, run, at);
      site.onLaunch?.(run);
      return {};
    },
    async result(run) {
      const task = byId.get(run.id);
      if (!task) return undefined;
      const env = runEnvValues(store, app);
      const result = await tasks.result(group, task, { env, timeoutMs: DEFAULT_TASK_TIMEOUT_MS, now: now() });
      if (result.phase === "running") return undefined;
      return {
        exitCode: result.exitCode ?? -1,
        startedAt: new Date(task.launchTime).toISOString(),
        finishedAt: new Date(now()).toISOString(),
        lastLines: result.output,
      };
    },
    kill: (run) => terminate([run.id]),
    // A terminated instance is gone already (EC2 forgets it within the hour); only one still up is ended.
    remove: async (run) => {
      const task = byId.get(run.id);
      if (task && task.state !== "terminated" && task.state !== "shutting-down") await terminate([run.id]);
    },
  };

  function taskRequest(app: App, group: Group, request: RunRequest): TaskRequest {
    const at = request.scheduleTime?.toISOString();
    const who = `${group.metadata.name}/${app.metadata.name}`;
    return {
      kind: request.job ? "Job" : "Run",
      identity: request.job ? [uid, request.job, at ?? ""] : [uid, request.runId],
      label: request.job ? `job ${who} ${request.job}` : `run ${who} ${request.runId}`,
      command: request.command,
      tags: {
        [RUN_LABEL]: request.runId,
        ...(request.job ? { [JOB_LABEL]: request.job } : {}),
        ...(at ? { [SCHEDULE_LABEL]: at } : {}),
      },
    };
  }
}

/**
 * One pass over an app's jobs on AWS, on the group's listing for the pass: a run it launches is
 * added to that listing at once, so the next app's quota check counts it. True when it has runs.
 */
export async function syncAwsJobs(
  store: Store,
  app: App,
  group: Group,
  site: Omit<AwsRunSite, "onLaunch">,
  pass: AwsRunsPass,
  now: number,
): Promise<boolean> {
  // The group's runs, one-offs' too, as on Docker: the quota counts them all, not this app's.
  const observed = pass.tasks.filter((t) => t.owner.uid === app.metadata.uid && t.tags[JOB_LABEL]);
  const backend = awsRunBackend(
    store,
    app,
    group,
    { ...site, onLaunch: (run) => pass.runs.push(run) },
    observed,
    () => now,
  );
  await syncAppJobs({ store, app, backend, runs: pass.runs, now: new Date(now) });
  return observed.length > 0;
}

/**
 * A group's run and job instances still up past the default task timeout are terminated: a job
 * without timeoutSeconds, or a one-off nobody follows, must not run (and bill) for good.
 */
export async function sweepAwsTasks(
  site: Omit<AwsRunSite, "onLaunch">,
  group: Group,
  pass: AwsRunsPass,
  now: number,
): Promise<string[]> {
  const overdue = pass.tasks
    .filter((t) => (t.state === "pending" || t.state === "running") && now - t.launchTime > DEFAULT_TASK_TIMEOUT_MS)
    .map((t) => t.instanceId);
  if (overdue.length === 0) return [];
  await site.tasks.terminate(group, overdue);
  site.runs.changed(group);
  return overdue;
}
