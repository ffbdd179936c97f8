import { isDeepStrictEqual } from "node:util";
import { NotFoundError } from "../errors.js";
import type { Resource, StoredEvent } from "../resources/types.js";

/** Holds an object marked for deletion until its infrastructure is gone. */
export const FINALIZER = "airloft.dev/infrastructure";

/** Events kept per object: the oldest go first. */
const MAX_EVENTS_PER_OBJECT = 20;

/** An object's event list with one more event: a new list, since stored lists are never changed in place. */
export function withEvent(list: readonly StoredEvent[] | undefined, event: StoredEvent): StoredEvent[] {
  return [...(list ?? []), event].slice(-MAX_EVENTS_PER_OBJECT);
}

export type ChangeAction = "created" | "configured" | "unchanged" | "deleted";

export interface Change {
  readonly key: string;
  readonly display: string;
  readonly action: ChangeAction;
  readonly object: Resource;
}

export type StoreEventType = "added" | "spec" | "metadata" | "status" | "deleting" | "removed";

export interface StoreEvent {
  readonly type: StoreEventType;
  readonly key: string;
  readonly object: Resource;
}

/** Whether an apply changes what is stored: spec, labels or annotations. */
export function differs(existing: Resource, incoming: Resource): boolean {
  return changeOf(existing, incoming) !== "none";
}

/** What an apply changes: the spec (a new generation), only labels or annotations, or nothing. */
export function changeOf(existing: Resource, incoming: Resource): "spec" | "metadata" | "none" {
  if (!isDeepStrictEqual(existing.spec, incoming.spec)) return "spec";
  return isDeepStrictEqual(existing.metadata.labels, incoming.metadata.labels) &&
    isDeepStrictEqual(existing.metadata.annotations, incoming.metadata.annotations)
    ? "none"
    : "metadata";
}

export function notFound(key: string): NotFoundError {
  return new NotFoundError(`${key.replace(/\/\//, "/")} not found`);
}

export function dropUndefined(record: object): void {
  for (const [k, v] of Object.entries(record)) if (v === undefined) delete (record as Record<string, unknown>)[k];
}

/** What an apply writes beside its objects, in the same durable write (an app's revisions). */
export type Alongside = (changes: Change[]) => Promise<unknown>;
