import { randomBytes } from "node:crypto";
import { containerLogStream } from "../providers/docker/facts.js";
import type { LogOptions } from "../providers/types.js";
import type { App, Group } from "../resources/types.js";
import type { Store } from "../store/store.js";
import { listRuns, type ObservedRun, removeRun, runCreateOptions, runResult, startRun } from "./docker-runs.js";
import { runQuotaProblem } from "./run-quota.js";
import { type DockerProviderLike, runTemplate } from "./run-template.js";

/** Running one-off runs a group may have at once. */
export const MAX_RUNS_PER_GROUP = 5;
/** An ended one-off run is kept this long, for its logs and exit code. */
export const RUN_RETENTION_MS = 60 * 60_000;
export const MAX_COMMAND_ITEMS = 256;
export const MAX_COMMAND_BYTES = 64 * 1024;
export const RUN_ID = /^[a-z0-9][-a-z0-9]{0,79}$/;

/** Why a one-off command is refused, or undefined: the limits of spec.command. */
export function commandProblem(command: unknown): string | undefined {
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === "string"))
    return "command must be a non-empty list of strings";
  if (command.length > MAX_COMMAND_ITEMS) return `command has ${command.length} items, at most ${MAX_COMMAND_ITEMS}`;
  if (Buffer.byteLength(command.join("")) > MAX_COMMAND_BYTES) return `command is over ${MAX_COMMAND_BYTES} bytes`;
  if (command.some((c) => /[\u0000-\u001f\u007f-\u009f]/.test(c))) return "command must not contain control characters";
  return undefined;
}

export class RunRefused extends Error {
  constructor(
    readonly status: 409 | 429,
    readonly reason: string,
    message: string,
    /** When asking again may succeed (a read over its account's budget). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Starts a one-off run of `command` like a job of the app; returns its id. */
export async function startOneOff(
  store: Store,
  docker: DockerProviderLike,
  app: App,
  group: Group,
  command: readonly string[],
): Promise<string> {
  const address = docker.address(group);
  const running = (await listRuns(address, docker.instanceId)).filter((r) => r.running);
  const mine = running.filter((r) => r.group === group.metadata.name && !r.job);
  if (mine.length >= MAX_RUNS_PER_GROUP)
    throw new RunRefused(
      429,
      "TooManyRuns",
      `group ${group.metadata.name} has ${mine.length} runs running, the most it may have`,
    );
  const quota = runQuotaProblem(store, app, running);
  if (quota) throw new RunRefused(409, "QuotaExceeded", quota);
  const template = await runTemplate(store, docker, app, group);
  if ("waiting" in template) throw new RunRefused(409, "NotReady", template.waiting);
  const runId = randomBytes(6).toString("hex");
  await startRun(address, runCreateOptions(template.desired, { runId, command }));
  return runId;
}

/** A group's run by id (a one-off's or a job's), or undefined. */
export async function findRun(
  docker: DockerProviderLike,
  group: Group,
  runId: string,
): Promise<ObservedRun | undefined> {
  const runs = await listRuns(docker.address(group), docker.instanceId, group.metadata.name);
  return runs.find((r) => r.runId === runId);
}

/** A run's output, as `logs` gives a replica's: the lines until it ends when following. */
export async function runLogs(
  docker: DockerProviderLike,
  group: Group,
  run: ObservedRun,
  options: LogOptions,
): Promise<void> {
  await containerLogStream(docker.address(group), run.id, `run/${run.runId}`, options);
}

/** The run's exit code once it ended; undefined while it runs. */
export async function runExitCode(
  docker: DockerProviderLike,
  group: Group,
  run: ObservedRun,
): Promise<number | undefined> {
  const result = await runResult(docker.address(group), run.id);
  return result && !result.running ? result.exitCode : undefined;
}

/** Removes one-off runs that ended and are older than the retention. */
export async function pruneOneOffRuns(address: string, runs: readonly ObservedRun[], now: number): Promise<void> {
  for (const r of runs) if (!r.running && now - r.createdAt > RUN_RETENTION_MS) await removeRun(address, r.id);
}
