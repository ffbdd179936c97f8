import { randomUUID } from "node:crypto";
import { keyOf } from "../resources/kinds.js";
import type { LoadedManifest } from "../resources/loader.js";
import type { Resource, StoredEvent } from "../resources/types.js";
import type { Steps } from "../util/steps.js";
import { type ChangeAction, changeOf, dropUndefined, FINALIZER, withEvent } from "./changes.js";
import type { EntryText, VersionHole } from "./serialize.js";

/**
 * One manifest's write, worked out before the store changes. A 3,000-object apply spent 60 to
 * 130 ms comparing, building and copying objects in one go, while every other request waited:
 * that part now runs in steps, and the commit that follows only places what was worked out.
 */
export interface PlannedWrite {
  readonly key: string;
  readonly manifest: LoadedManifest;
  readonly action: ChangeAction;
  /** The stored object it was worked out against, and its version then: one changed since is planned again. */
  readonly existing: Readonly<Resource> | undefined;
  readonly existingVersion: string | undefined;
  /** What is stored (created or configured; its resourceVersion is set at commit). */
  readonly next?: Resource;
  /** A copy of `next` for the caller and the listeners, filled in at commit like `next`. */
  readonly snapshot?: Resource;
  /** `next`'s entry in the state file, but for its resourceVersion (see VersionHole). */
  readonly text?: { readonly before: string; readonly after: string };
  readonly specChanged: boolean;
  /** The event recorded on a created object or a changed spec, made with its list's text in the plan too. */
  readonly events?: PlannedEvents;
}

/**
 * An object's event list after the apply's event, and its entry's text. A 3,000-object apply's
 * lists, left to the journal line, took 29 to 102 ms of the thread in one task while every other
 * tenant's write waited for that line (issue 13).
 */
export interface PlannedEvents {
  /** The event, for a list that changed since the plan: it is then added at commit instead. */
  readonly event: Omit<StoredEvent, "time">;
  /** The stored list it was made from (none for a creation): placed only while that is still stored. */
  readonly against: readonly StoredEvent[] | undefined;
  readonly list: StoredEvent[];
  readonly text: EntryText;
}

/** The stored form of a manifest's object: a Secret's values become hashes. */
export type StoredForm = (manifest: LoadedManifest) => Resource;

/** What a plan reads: the store's objects, and how an object is stored and encoded. */
export interface PlanContext {
  readonly peek: (key: string) => Readonly<Resource> | undefined;
  readonly stored: StoredForm;
  readonly hole: VersionHole;
  /** The time of a creation and of the apply's events. */
  readonly now: () => string;
  /** An object's stored events, by uid. */
  readonly eventsOf: (uid: string) => readonly StoredEvent[] | undefined;
  /** An event list's entry in the state file, as the store encodes it. */
  readonly encodeEvents: (uid: string, list: readonly StoredEvent[]) => EntryText;
}

/** Works out each manifest's write against the store as it is, a step per manifest. */
export function* planWrites(manifests: readonly LoadedManifest[], context: PlanContext): Steps<PlannedWrite[]> {
  const planned: PlannedWrite[] = [];
  for (const manifest of manifests) {
    // A pause between manifests, none after the last: it would only hold back the commit, and a
    // one-object apply would wait for the thread's share after its work was done (issue 13).
    if (planned.length > 0) yield;
    planned.push(planWrite(manifest, context));
  }
  return planned;
}

/** Whether a planned write still holds: the object it was worked out against is stored unchanged. */
export function stillHolds(write: PlannedWrite, current: Readonly<Resource> | undefined): boolean {
  return current === write.existing && current?.metadata.resourceVersion === write.existingVersion;
}

export function planWrite(manifest: LoadedManifest, context: PlanContext): PlannedWrite {
  const { hole } = context;
  const object = context.stored(manifest);
  const key = keyOf(object);
  const existing = context.peek(key);
  const base = { key, manifest, existing, existingVersion: existing?.metadata.resourceVersion };
  if (!existing) {
    const now = context.now(); // the creation's time and its event's
    const next = {
      ...object,
      metadata: {
        ...object.metadata,
        uid: randomUUID(),
        generation: 1,
        resourceVersion: hole.placeholder, // set at commit
        creationTimestamp: now,
        finalizers: object.kind === "Secret" ? [] : [FINALIZER], // a Secret has no infrastructure to wait for
      },
      status: {},
    } as Resource;
    return {
      ...base,
      action: "created",
      ...made(key, next, hole),
      specChanged: true,
      ...planEvents(next, "created", now, context),
    };
  }
  const change = changeOf(existing, object as Resource);
  if (change === "none") return { ...base, action: "unchanged", specChanged: false };
  const specChanged = change === "spec";
  const next = {
    ...existing,
    spec: object.spec,
    metadata: {
      ...existing.metadata,
      labels: object.metadata.labels,
      annotations: object.metadata.annotations,
      generation: (existing.metadata.generation ?? 0) + (specChanged ? 1 : 0),
      resourceVersion: hole.placeholder, // set at commit
    },
  } as Resource;
  dropUndefined(next.metadata);
  const events = specChanged ? planEvents(next, "configured", context.now(), context) : {};
  return { ...base, action: "configured", ...made(key, next, hole), specChanged, ...events };
}

/** The event an apply records on an object it creates or whose spec it changes. */
function applyEvent(action: "created" | "configured", next: Resource): Omit<StoredEvent, "time"> {
  return action === "created"
    ? { type: "Normal", reason: "Created", message: "created by apply" }
    : { type: "Normal", reason: "Configured", message: `spec changed (generation ${next.metadata.generation})` };
}

function planEvents(
  next: Resource,
  action: "created" | "configured",
  time: string,
  context: PlanContext,
): Pick<PlannedWrite, "events"> {
  const uid = next.metadata.uid ?? "";
  const event = applyEvent(action, next);
  const against = context.eventsOf(uid);
  const list = withEvent(against, { time, ...event });
  return { events: { event, against, list, text: context.encodeEvents(uid, list) } };
}

/** The object to store, its copy and its entry's text: the costs of a write paid in the plan's steps. */
function made(key: string, next: Resource, hole: VersionHole): Pick<PlannedWrite, "next" | "snapshot" | "text"> {
  const text = hole.split(key, next);
  return { next, snapshot: structuredClone(next), ...(text ? { text } : {}) };
}
