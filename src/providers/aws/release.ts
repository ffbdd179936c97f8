import type { App } from "../../resources/types.js";
import type { ReleaseState } from "../docker/release.js";
import type { AwsContext } from "./context.js";
import type { OwnerSetup } from "./desired.js";
import { DEFAULT_TASK_TIMEOUT_MS, ensureTask, observeTasks } from "./tasks.js";

/**
 * The release command on AWS: a task instance per app revision and command, run before any
 * instance of that config launches (the caller holds the rollout until it succeeded). Its id and
 * launch token come from the app's uid, config hash, command and revision, so a restarted AirLoft finds
 * the instance (running, or ended with its output on the console) instead of launching a second.
 * Nothing to do without a command, or once the revision recorded its success (`done`).
 */
export async function awsRelease(
  ctx: AwsContext,
  setup: OwnerSetup,
  app: App,
  options: {
    readonly done: boolean | undefined;
    readonly revision?: number | undefined;
    readonly env: Readonly<Record<string, string>>;
    readonly now?: number;
  },
): Promise<ReleaseState | undefined> {
  const command = app.spec.release?.command;
  if (!command || options.done) return undefined;
  const clients = ctx.clients(ctx.region(setup.keys.group));
  const { uid, configHash } = setup.launch;
  const observed = await observeTasks(clients, ctx.instanceId, { kind: "Release", uid });
  const request = {
    kind: "Release" as const,
    // The revision too: a roll back to an earlier config is a new revision whose release runs
    // anew, and a launch token stays bound to its (long terminated) instance for a day or more.
    identity: [uid, configHash, JSON.stringify(command), String(options.revision ?? 0)],
    label: `release ${setup.keys.group.metadata.name}/${app.metadata.name}`,
    command,
  };
  const result = await ensureTask(
    clients,
    observed,
    { launch: setup.launch, program: setup.program, request },
    { env: options.env, timeoutMs: DEFAULT_TASK_TIMEOUT_MS, now: options.now ?? Date.now() },
  );
  const why = result.reason === "DeadlineExceeded" ? "the release ran past its timeout and was terminated" : undefined;
  const lost = result.reason === "Lost" ? "the release instance ended and its output is gone" : undefined;
  const note = why ?? lost;
  return {
    phase: result.phase,
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    output: note ? [...result.output, note] : [...result.output],
  };
}
