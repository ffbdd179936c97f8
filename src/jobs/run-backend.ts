import { readCrashFacts } from "../providers/docker/crash-facts.js";
import type { App } from "../resources/types.js";
import type { Store } from "../store/store.js";
import {
  killRun,
  type ObservedRun,
  type RunRequest,
  removeRun,
  runCreateOptions,
  runResult,
  startRun,
} from "./docker-runs.js";
import { type RunTemplate, runEnvValues } from "./run-template.js";

/** How a run ended: its exit code (-1 when it ended without one), times, and last lines (secrets masked). */
export interface RunEnd {
  readonly exitCode: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly lastLines: readonly string[];
}

/**
 * Where one app's runs live: containers on its engine (Docker) or task instances (AWS). The job
 * sync decides what to start, kill and keep; a backend only does it.
 */
export interface RunBackend {
  /** Starts the run, or adopts the one a crashed pass started for the same id; `waiting` when it cannot start yet. */
  start(request: RunRequest): Promise<{ readonly waiting?: string }>;
  /** The run's end, or undefined while it runs (or its result is not readable yet). */
  result(run: ObservedRun): Promise<RunEnd | undefined>;
  kill(run: ObservedRun): Promise<void>;
  remove(run: ObservedRun): Promise<void>;
}

/** Runs as containers on the app's engine, made from the app's container template when one starts. */
export function dockerRunBackend(
  store: Store,
  app: App,
  address: string,
  template: () => Promise<RunTemplate>,
): RunBackend {
  return {
    async start(request) {
      const made = await template();
      if ("waiting" in made) return { waiting: made.waiting };
      await startRun(made.address, runCreateOptions(made.desired, request));
      return {};
    },
    async result(run) {
      const result = await runResult(address, run.id);
      if (!result || result.running) return undefined;
      const facts = await readCrashFacts(address, [run.id], runEnvValues(store, app));
      const { exitCode, startedAt, finishedAt } = result;
      return { exitCode, startedAt, finishedAt, lastLines: facts.get(run.id)?.logLines ?? [] };
    },
    kill: (run) => killRun(address, run.id),
    remove: (run) => removeRun(address, run.id),
  };
}
