import type { Kind } from "../resources/types.js";

/** What to do after a reconcile: nothing (done, watch for changes) or look again later. */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

/**
 * The whole contract, after controller-runtime: a key in, a result or an error out. The key
 * carries no event; the controller re-reads everything, so a missed event costs nothing.
 * Errors retry with backoff; a TerminalError does not.
 */
export interface Controller {
  readonly kind: Kind;
  /** `signal` aborts when the loop stops or the object is deleted meanwhile. */
  reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult>;
}
