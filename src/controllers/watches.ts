import { isReadyAt } from "../resources/conditions.js";
import type { Group, Kind, Resource, ResourceOfKind } from "../resources/types.js";
import type { StoreEventType } from "../store/store.js";

/**
 * What a controller must hear of, after controller-runtime's For and Watches. The events of its
 * own kind that change what is asked (a creation, a spec, a deletion) requeue the object itself;
 * the events of other kinds listed in `watches` are mapped to the objects of its kind they concern.
 * The manager applies the declarations; it knows of no kind itself.
 */
export interface WatchDeclaration {
  /** The kind the controller reconciles (For). */
  readonly kind: Kind;
  /**
   * The keys an object of this kind reads (an app's bound services): what a `referring` requeue
   * matches. `lookup` reads another object (its group's settings may name what it reads).
   */
  references?(obj: Resource, lookup: (key: string) => Readonly<Resource> | undefined): readonly string[];
  readonly watches: readonly Watch[];
}

/** Events of other kinds, and which objects each requeues (Watches with a mapping function). */
export interface Watch<W extends Kind = Kind> {
  readonly kinds: readonly W[];
  readonly on: readonly StoreEventType[];
  /**
   * What the requeued objects see of the watched one: when given, an event that leaves it as the
   * manager last saw it maps to nothing (a group's progress messages, as against its readiness).
   */
  seen?(obj: ResourceOfKind<W>): string;
  map(obj: ResourceOfKind<W>): readonly Requeue[];
}

/**
 * One object by key, or a group's objects of a kind (those referring to a key, or all). A
 * group's requeues wait for the end of the event-loop turn, so that an apply of 3,000 apps lists
 * its group's quotas once, not once per app.
 */
export type Requeue =
  | { readonly key: string }
  | { readonly group: string; readonly kind: Kind; readonly referring?: string };

/** The events that change what an object asks for: its own controller hears these of it. */
export const OWN_EVENTS: readonly StoreEventType[] = ["added", "spec", "deleting"];

/** The kinds whose objects belong to a group. */
export const GROUPED_KINDS = ["Quota", "Secret", "Service", "App", "Alert"] as const satisfies readonly Kind[];

/**
 * What a group's objects see of it: readiness and the facts they use (network, load balancer),
 * not progress messages (a held deletion's count).
 */
export function groupAsSeen(group: Group): string {
  const { conditions: _conditions, ...facts } = group.status ?? {};
  return `${isReadyAt(group)} ${JSON.stringify(facts)}`;
}

/** A group's objects of `kind` are requeued when what they see of their group changes: it gates them. */
export function whenGroupChanges(kind: Kind): Watch {
  return watch({
    kinds: ["Group"],
    on: ["status"],
    seen: groupAsSeen,
    map: (group) => [{ group: group.metadata.name, kind }],
  });
}

/** A watch of some kinds, typed by them, for a declaration's list. */
export function watch<W extends Kind>(typed: Watch<W>): Watch {
  // The router hands a watch only the events of its own kinds.
  return typed as unknown as Watch;
}
