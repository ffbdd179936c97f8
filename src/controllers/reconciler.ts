import { errorMessage, ProviderUnavailableError, TerminalError } from "../errors.js";
import { getCondition, isReadyAt, isStalledAt, removeCondition, setCondition } from "../resources/conditions.js";
import { displayName, keyOf, objectKey } from "../resources/kinds.js";
import type { BaseStatus, Group, Kind, Resource, ResourceOfKind } from "../resources/types.js";
import { FINALIZER } from "../store/store.js";
import type { ControllerContext, ProgressKind } from "./context.js";
import type { Controller, ReconcileResult } from "./controller.js";
import { isSuspended } from "./suspension.js";

/** What the kind-specific part of a reconcile found. */
export interface Outcome<S extends BaseStatus> {
  /** Per-kind facts to merge into status. */
  readonly status: Partial<S>;
  readonly ready: boolean;
  readonly reason: string;
  readonly message: string;
  /** Operations done in this pass, for events and progress. */
  readonly operations: readonly string[];
  readonly requeueAfterMs?: number;
}

export interface FinalizeOutcome {
  /** True once the infrastructure is gone and the finalizer may go. */
  readonly done: boolean;
  readonly reason?: string;
  readonly message?: string;
  readonly operations: readonly string[];
}

const POLL_WHILE_PROGRESSING_MS = 1500;
const RECONCILE_DEADLINE_MS = 10 * 60_000;
const WAIT_FOR_GROUP_MS = 2000;

/**
 * The public reconcile as a thin shell (after Flux and controller-runtime): fetch; route
 * deletion; skip a stalled generation; run the kind's reconcile; write conditions on every path.
 * Errors are rethrown for the manager, which alone decides about retries.
 */
export abstract class Reconciler<K extends Kind> implements Controller {
  abstract readonly kind: K;

  constructor(protected readonly ctx: ControllerContext) {}

  /** `signal` aborts at the reconcile's deadline: pass it to the provider. */
  protected abstract reconcileObject(
    obj: ResourceOfKind<K>,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<Outcome<NonNullable<ResourceOfKind<K>["status"]>>>;
  /** Whether a stall still holds though the spec is the same (a kind may lift it when what it reads changed). */
  protected stallHolds(_obj: ResourceOfKind<K>): boolean {
    return true;
  }

  protected abstract finalizeObject(
    obj: ResourceOfKind<K>,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<FinalizeOutcome>;

  async reconcile(key: string, cancel?: AbortSignal): Promise<ReconcileResult> {
    const found = this.ctx.store.get(key);
    if (!found || found.kind !== this.kind) return {};
    const obj = found as ResourceOfKind<K>;
    const report = (op: string): void => this.progress(obj, "operation", op);
    if (obj.metadata.deletionTimestamp) return this.finalize(obj, report, cancel);
    if (isStalledAt(obj) && this.stallHolds(obj)) return {};
    if (isSuspended(this.ctx.store, key)) {
      await this.writeStatus(obj, (s) =>
        setCondition(
          s,
          {
            type: "Reconciling",
            status: "False",
            reason: "Suspended",
            message: "reconciliation is suspended; `airloft resume` resumes it",
          },
          obj.metadata.generation ?? 0,
        ),
      );
      return {};
    }
    const generation = obj.metadata.generation ?? 0;
    if (obj.status?.observedGeneration !== generation) {
      await this.writeStatus(obj, (s) =>
        setCondition(
          s,
          {
            type: "Reconciling",
            status: "True",
            reason: "Progressing",
            message: `reconciling generation ${generation}`,
          },
          generation,
        ),
      );
    }
    let outcome: Outcome<NonNullable<ResourceOfKind<K>["status"]>>;
    try {
      outcome = await this.withDeadline((signal) => this.reconcileObject(obj, report, signal), cancel);
    } catch (err) {
      // Cancelled by the loop (stopping, or the object deleted meanwhile): nothing failed.
      if (!cancel?.aborted) await this.recordFailure(obj, err);
      throw err;
    }
    const wasReady = getCondition(obj.status, "Ready");
    await this.writeStatus(obj, (s) => {
      let next = { ...s, ...outcome.status, observedGeneration: generation };
      next = setCondition(
        next,
        { type: "Ready", status: outcome.ready ? "True" : "False", reason: outcome.reason, message: outcome.message },
        generation,
      );
      next = outcome.ready
        ? removeCondition(next, "Reconciling")
        : setCondition(
            next,
            { type: "Reconciling", status: "True", reason: "Progressing", message: outcome.message },
            generation,
          );
      return removeCondition(next, "Stalled");
    });
    if (outcome.operations.length > 0) {
      await this.ctx.store.recordEvent(key, {
        type: "Normal",
        reason: "Configured",
        message: summarize(outcome.operations),
      });
    }
    const becameReady = outcome.ready && !(wasReady?.status === "True" && wasReady.observedGeneration === generation);
    if (becameReady) this.progress(obj, "ready", outcome.message);
    else if (!outcome.ready && (wasReady?.message !== outcome.message || outcome.operations.length > 0))
      this.progress(obj, "progressing", outcome.message);
    if (outcome.requeueAfterMs !== undefined) return { requeueAfterMs: outcome.requeueAfterMs };
    return outcome.ready ? {} : { requeueAfterMs: POLL_WHILE_PROGRESSING_MS };
  }

  private async finalize(
    obj: ResourceOfKind<K>,
    report: (op: string) => void,
    cancel: AbortSignal | undefined,
  ): Promise<ReconcileResult> {
    const key = keyOf(obj);
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) return {};
    let outcome: FinalizeOutcome;
    try {
      outcome = await this.withDeadline((signal) => this.finalizeObject(obj, report, signal), cancel);
    } catch (err) {
      if (!cancel?.aborted) await this.recordFailure(obj, err);
      throw err;
    }
    if (!outcome.done) {
      await this.writeStatus(obj, (s) =>
        setCondition(
          s,
          {
            type: "Ready",
            status: "False",
            reason: outcome.reason ?? "Deleting",
            message: outcome.message ?? "deleting",
          },
          obj.metadata.generation ?? 0,
        ),
      );
      return { requeueAfterMs: POLL_WHILE_PROGRESSING_MS };
    }
    await this.ctx.store.removeFinalizer(key, FINALIZER);
    this.progress(
      obj,
      "deleted",
      outcome.operations.length > 0 ? summarize(outcome.operations) : "nothing left to remove",
    );
    return {};
  }

  /**
   * Runs the kind's work with a signal that aborts at the deadline (the manager retries it with
   * backoff) or when the loop cancels the reconcile.
   */
  private async withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, cancel?: AbortSignal): Promise<T> {
    const ms = this.ctx.reconcileDeadlineMs ?? RECONCILE_DEADLINE_MS;
    const controller = new AbortController();
    const message = `the reconcile ran past its deadline of ${ms / 1000} s and was cancelled between steps; retried`;
    const timer = setTimeout(() => controller.abort(new ProviderUnavailableError("DeadlineExceeded", message)), ms);
    timer.unref();
    try {
      return await work(cancel ? AbortSignal.any([controller.signal, cancel]) : controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every failure path leaves a False condition that says why, before the error goes on. */
  private async recordFailure(obj: Resource, err: unknown): Promise<void> {
    const generation = obj.metadata.generation ?? 0;
    const terminal = err instanceof TerminalError;
    const reason = terminal ? err.reason : err instanceof ProviderUnavailableError ? err.reason : "ReconcileError";
    const message = errorMessage(err);
    await this.writeStatus(obj, (s) => {
      let next = setCondition(s, { type: "Ready", status: "False", reason, message }, generation);
      if (terminal) {
        next = setCondition(
          next,
          { type: "Stalled", status: "True", reason, message: `${message} (not retried until the spec changes)` },
          generation,
        );
        next = removeCondition(next, "Reconciling");
      } else {
        next = setCondition(
          next,
          { type: "Reconciling", status: "True", reason: "RetryingAfterError", message },
          generation,
        );
      }
      return next;
    });
    await this.ctx.store.recordEvent(keyOf(obj), { type: "Warning", reason, message });
    this.progress(obj, terminal ? "stalled" : "failed", message);
  }

  /** The Group an object belongs to, if it exists. */
  protected groupOf(obj: Resource): Group | undefined {
    const group = this.ctx.store.get(objectKey("Group", "", obj.metadata.group ?? ""));
    return group?.kind === "Group" ? group : undefined;
  }

  /** Not ready while the object's group is not: says why, with the group's own reason. */
  protected waitForGroup(obj: Resource): { group: Group } | { outcome: Outcome<BaseStatus> } {
    const group = this.groupOf(obj);
    if (group && isReadyAt(group)) return { group };
    const why = getCondition(group?.status, "Ready");
    const message = `waiting for group ${obj.metadata.group} to be ready${why?.status === "False" ? `: ${why.reason}: ${why.message}` : ""}`;
    return {
      outcome: {
        status: {},
        ready: false,
        reason: "WaitingForGroup",
        message,
        operations: [],
        requeueAfterMs: WAIT_FOR_GROUP_MS,
      },
    };
  }

  protected async writeStatus(obj: Resource, update: (s: BaseStatus) => BaseStatus): Promise<void> {
    await this.ctx.store.updateStatus(keyOf(obj), update);
  }

  protected progress(obj: Resource, kind: ProgressKind, message: string): void {
    this.ctx.progress.emit("progress", { key: keyOf(obj), display: displayName(obj), kind, message });
    const level = kind === "failed" || kind === "stalled" ? "warn" : "info";
    this.ctx.log.log(level, `${displayName(obj)} ${kind}: ${message}`, { key: keyOf(obj) });
  }
}

/** Collects the operations of a pass while reporting each as it completes. */
export function collectOperations(report: (op: string) => void): {
  operations: string[];
  onOperation: (op: string) => void;
} {
  const operations: string[] = [];
  return {
    operations,
    onOperation: (op) => {
      operations.push(op);
      report(op);
    },
  };
}

/** A change list as one event line, cut to a readable length. */
function summarize(operations: readonly string[]): string {
  const shown = operations.slice(0, 5).join("; ");
  return operations.length > 5 ? `${shown}; and ${operations.length - 5} more` : shown;
}
