import type Docker from "dockerode";
import { errorMessage } from "../errors.js";
import { containerCreateOptions, type DesiredApp } from "../providers/docker/desired.js";
import { dockerClient, engineError, statusCodeOf } from "../providers/docker/engine.js";
import { LABEL, ownerLabels } from "../providers/ownership.js";

/** A run's id (a job's `NAME-SCHEDULESECONDS`, or a one-off's random id): what `logs run/ID` names. */
export const RUN_LABEL = "airloft.dev/run";
/** The job a scheduled run belongs to, and the schedule time it runs for (ISO). */
export const JOB_LABEL = "airloft.dev/job";
export const SCHEDULE_LABEL = "airloft.dev/schedule-time";

/** A run container as the engine has it now. */
export interface ObservedRun {
  readonly id: string;
  readonly name: string;
  readonly runId: string;
  readonly group: string;
  readonly app: string;
  readonly uid: string;
  readonly job: string | undefined;
  readonly scheduleTime: string | undefined;
  readonly running: boolean;
  /** When the container was made, in ms since the epoch: a run's start for its timeout. */
  readonly createdAt: number;
}

/** What one run is: the app's container template with another command and name. */
export interface RunRequest {
  readonly runId: string;
  readonly command: readonly string[];
  readonly job?: string;
  readonly scheduleTime?: Date;
}

/**
 * The engine name of a run: the app's uid (unique per app, whoever owns it) and the run id,
 * joined by "_", which no DNS label holds. A scheduled run's id comes from its job and schedule
 * time, so a retry after a crash finds the container instead of starting the run twice.
 */
export function runContainerName(uid: string, runId: string): string {
  return `airloft-run_${uid}_${runId}`;
}

export function scheduledRunId(job: string, scheduleTime: Date): string {
  return `${job}-${Math.floor(scheduleTime.getTime() / 1000)}`;
}

/**
 * The create body of a run: the app's env, secrets, bindings, network and limits, but never its
 * port, health check, restart policy or network aliases (the app's name must not reach a run).
 */
export function runCreateOptions(desired: DesiredApp, run: RunRequest): Record<string, unknown> {
  const base = containerCreateOptions(desired, 0);
  const { ExposedPorts: _ports, Healthcheck: _check, NetworkingConfig: _aliases, ...rest } = base;
  const host = { ...(base.HostConfig as Record<string, unknown>) };
  delete host.PortBindings;
  const env = (base.Env as string[]).filter((e) => !e.startsWith("PORT="));
  return {
    ...rest,
    name: runContainerName(desired.uid, run.runId),
    Cmd: [...run.command],
    Env: env,
    Labels: {
      ...ownerLabels({
        instance: desired.instance,
        group: desired.group,
        kind: run.job ? "Job" : "Run",
        name: desired.name,
        uid: desired.uid,
        configHash: desired.configHash,
      }),
      [RUN_LABEL]: run.runId,
      ...(run.job ? { [JOB_LABEL]: run.job } : {}),
      ...(run.scheduleTime ? { [SCHEDULE_LABEL]: run.scheduleTime.toISOString() } : {}),
    },
    HostConfig: { ...host, RestartPolicy: { Name: "" } },
  };
}

/** The runs of one installation on an engine, optionally of one group: one list call. */
export async function listRuns(address: string, instance: string, group?: string): Promise<ObservedRun[]> {
  const label = [`${LABEL.instance}=${instance}`, RUN_LABEL, ...(group ? [`${LABEL.group}=${group}`] : [])];
  try {
    const containers = await dockerClient(address).listContainers({ all: true, filters: { label } });
    return containers.flatMap((c) => {
      const l = c.Labels;
      const runId = l[RUN_LABEL];
      const uid = l[LABEL.uid];
      if (!runId || !uid) return [];
      return [
        {
          id: c.Id,
          name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
          runId,
          group: l[LABEL.group] ?? "",
          app: l[LABEL.name] ?? "",
          uid,
          job: l[JOB_LABEL],
          scheduleTime: l[SCHEDULE_LABEL],
          running: c.State === "running" || c.State === "created" || c.State === "restarting",
          createdAt: c.Created * 1000,
        },
      ];
    });
  } catch (err) {
    throw engineError(address, err);
  }
}

/**
 * Creates and starts a run. A container of that name that carries the same run's labels is
 * adopted (a retry after a crash): it is started only if it never ran. Anything else of that
 * name is refused.
 */
export async function startRun(address: string, body: Record<string, unknown>): Promise<{ adopted: boolean }> {
  const docker = dockerClient(address);
  const { name: nameOption, ...options } = body;
  const name = String(nameOption);
  const labels = options.Labels as Record<string, string>;
  try {
    const created = await docker.createContainer({ ...options, name } as Docker.ContainerCreateOptions);
    await created.start();
    return { adopted: false };
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw engineError(address, err);
  }
  const existing = docker.getContainer(name);
  const info = await existing.inspect();
  const theirs = info.Config.Labels ?? {};
  for (const key of [LABEL.instance, LABEL.uid, RUN_LABEL])
    if (theirs[key] !== labels[key]) throw new Error(`container ${name} exists and is not this run's`);
  // Created but never started (a crash between the two): start it now; one that ran stays as it is.
  if (info.State.Status === "created") await existing.start().catch(ignore304);
  return { adopted: true };
}

/** Exit code and times of a run that ended; undefined while it runs or once it is gone. */
export async function runResult(
  address: string,
  id: string,
): Promise<{ running: boolean; exitCode: number; startedAt: string; finishedAt: string } | undefined> {
  try {
    const info = await dockerClient(address).getContainer(id).inspect();
    return {
      running: info.State.Running || info.State.Status === "created",
      exitCode: info.State.ExitCode,
      startedAt: info.State.StartedAt,
      finishedAt: info.State.FinishedAt,
    };
  } catch (err) {
    if (statusCodeOf(err) === 404) return undefined;
    throw engineError(address, err);
  }
}

/** Kills a run (timeout, Replace): SIGKILL, as a deadline must hold even for a process that ignores SIGTERM. */
export async function killRun(address: string, id: string): Promise<void> {
  await dockerClient(address)
    .getContainer(id)
    .kill()
    .catch((err: unknown) => {
      const code = statusCodeOf(err);
      if (code !== 404 && code !== 409 && code !== 304) throw new Error(errorMessage(err));
    });
}

export async function removeRun(address: string, id: string): Promise<void> {
  await dockerClient(address)
    .getContainer(id)
    .remove({ force: true })
    .catch((err: unknown) => {
      if (statusCodeOf(err) !== 404 && statusCodeOf(err) !== 409) throw engineError(address, err);
    });
}

function ignore304(err: unknown): void {
  if (statusCodeOf(err) !== 304) throw err;
}
