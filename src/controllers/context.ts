import { EventEmitter } from "node:events";
import type { Logger } from "../log.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { Group } from "../resources/types.js";
import type { Store } from "../store/store.js";

export type ProgressKind = "operation" | "ready" | "progressing" | "failed" | "stalled" | "deleted";

/** Progress of the loop, for the CLI's live output and the log: one entry per change. */
export interface Progress {
  readonly key: string;
  readonly display: string;
  readonly kind: ProgressKind;
  readonly message: string;
}

export interface ControllerContext {
  readonly store: Store;
  readonly providers: ProviderRegistry;
  readonly log: Logger;
  readonly progress: EventEmitter<{ progress: [Progress] }>;
  /** A reconcile still running after this is cancelled at its provider's next step (10 minutes by default). */
  readonly reconcileDeadlineMs?: number;
  /** The runs (jobs' and one-offs') running now in a group, by their app's uid: quotas count them. */
  readonly runs?: RunningRuns;
}

export interface RunningRuns {
  running(group: Group): Promise<ReadonlyArray<{ readonly uid: string }>>;
}

export function createProgress(): EventEmitter<{ progress: [Progress] }> {
  return new EventEmitter<{ progress: [Progress] }>();
}
