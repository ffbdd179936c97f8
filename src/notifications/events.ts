import { getCondition } from "../resources/conditions.js";
import { displayName } from "../resources/kinds.js";
import type { Resource, StoredEvent } from "../resources/types.js";

/** Something worth telling a group about, derived from what the store records. */
export interface Notification {
  /** The category an Alert's `events` names: Stalled, RolloutFailed, RolloutSucceeded, Degraded, Recovered, SyncFailed, or an event's reason. */
  readonly event: string;
  /** The condition's or event's reason (CrashLoopBackOff, ImagePullFailed, JobFailed). */
  readonly reason: string;
  readonly severity: "info" | "error";
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly message: string;
  readonly time: string;
  readonly generation?: number;
}

/** What an Alert sends when it names no events: the failures. */
export const DEFAULT_EVENTS: readonly string[] = [
  "Stalled",
  "RolloutFailed",
  "Degraded",
  "SyncFailed",
  "JobFailed",
  "QuotaExceeded",
];

/** Ready=False reasons that say a new release did not come up. */
const ROLLOUT_FAILURES = new Set(["ProgressDeadlineExceeded", "ReleaseFailed", "RolloutFailed"]);
/** Ready=False reasons that say something that ran broke. */
const DEGRADED = new Set(["CrashLoopBackOff", "Unhealthy", "ContainerExited", "TargetsUnhealthy"]);

/** An object's conditions as the notifier last saw them. */
export interface SeenConditions {
  readonly ready?: { readonly status: string; readonly reason: string; readonly generation: number };
  readonly stalled?: { readonly reason: string; readonly generation: number };
  /** The last generation seen Ready: a later one that becomes Ready is a rollout, this one a recovery. */
  readonly readyGeneration?: number;
}

export function seenConditions(obj: Resource, before?: SeenConditions): SeenConditions {
  const ready = getCondition(obj.status, "Ready");
  const stalled = getCondition(obj.status, "Stalled");
  const readyGeneration = ready?.status === "True" ? ready.observedGeneration : before?.readyGeneration;
  return {
    ...(ready ? { ready: { status: ready.status, reason: ready.reason, generation: ready.observedGeneration } } : {}),
    ...(stalled?.status === "True"
      ? { stalled: { reason: stalled.reason, generation: stalled.observedGeneration } }
      : {}),
    ...(readyGeneration !== undefined ? { readyGeneration } : {}),
  };
}

/**
 * The notification a status change makes, if any (pure): a new stall, a Ready that turned False
 * for a failure, or True. Progress (RollingOut, WaitingForGroup) says nothing.
 */
export function fromConditions(
  before: SeenConditions | undefined,
  obj: Resource,
  time: string,
): Notification | undefined {
  const now = seenConditions(obj, before);
  const base = { ...subject(obj), time, generation: obj.metadata.generation ?? 0 };
  const stalled = getCondition(obj.status, "Stalled");
  if (
    now.stalled &&
    stalled &&
    (before?.stalled?.reason !== now.stalled.reason || before.stalled.generation !== now.stalled.generation)
  )
    return { ...base, event: "Stalled", reason: now.stalled.reason, severity: "error", message: stalled.message };
  const ready = getCondition(obj.status, "Ready");
  if (!ready || !now.ready) return undefined;
  const was = before?.ready;
  if (ready.status === "True") {
    if (was?.status === "True" && was.generation === now.ready.generation) return undefined;
    const event = before?.readyGeneration === now.ready.generation ? "Recovered" : "RolloutSucceeded";
    return { ...base, event, reason: ready.reason, severity: "info", message: ready.message };
  }
  if (was?.status === "False" && was.reason === ready.reason) return undefined;
  const event =
    ready.reason === "QuotaExceeded"
      ? "QuotaExceeded"
      : ROLLOUT_FAILURES.has(ready.reason)
        ? "RolloutFailed"
        : DEGRADED.has(ready.reason)
          ? "Degraded"
          : undefined;
  return event ? { ...base, event, reason: ready.reason, severity: "error", message: ready.message } : undefined;
}

/**
 * A recorded event as a notification, named by its reason (JobFailed), so that features that
 * record events need no change. A warning the object's conditions already show is left to them.
 */
export function fromEvent(obj: Resource, event: StoredEvent): Notification | undefined {
  const ready = getCondition(obj.status, "Ready");
  const stalled = getCondition(obj.status, "Stalled");
  const shown = [
    ready?.status === "False" ? ready.reason : undefined,
    stalled?.status === "True" ? stalled.reason : undefined,
  ];
  if (event.type === "Warning" && shown.includes(event.reason)) return undefined;
  return {
    ...subject(obj),
    event: event.reason,
    reason: event.reason,
    severity: event.type === "Warning" ? "error" : "info",
    message: event.message,
    time: event.time,
  };
}

function subject(obj: Resource): Pick<Notification, "group" | "kind" | "name"> {
  return { group: obj.metadata.group ?? obj.metadata.name, kind: obj.kind, name: obj.metadata.name };
}

/** "app/acme/web", for messages. */
export function notificationSubject(n: Pick<Notification, "kind" | "group" | "name">): string {
  return displayName({ kind: n.kind as Resource["kind"], metadata: { name: n.name, group: n.group } });
}
