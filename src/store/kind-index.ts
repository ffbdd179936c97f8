import { KINDS as ALL_KINDS, KIND_ORDER } from "../resources/kinds.js";
import type { Kind, Resource } from "../resources/types.js";

export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** The kinds in the order lists show them. */
export const KINDS_IN_ORDER = [...ALL_KINDS].sort((a, b) => KIND_ORDER[a] - KIND_ORDER[b]);

/** The keys of one kind whose objects pass a test, kept as objects come, change and go. */
interface Selection {
  readonly kind: Kind;
  readonly test: (obj: Readonly<Resource>) => boolean;
  readonly keys: Set<string>;
}

/**
 * The keys of every object by kind, across groups, kept with the objects so that "every App"
 * costs the apps, not the store, and its list order is sorted once per change of its members.
 * Selections are the keys of one kind that pass a test (apps with jobs): a reader every second
 * reads those, not the kind.
 */
export class KindIndex {
  private readonly byKind = new Map<Kind, Set<string>>();
  /** Each kind's keys in list order, made when first asked for and dropped when the kind's keys change. */
  private readonly sorted = new Map<Kind, readonly string[]>();
  private readonly selections = new Map<string, Selection>();

  /** Builds the index anew from every object (after the state file is read). */
  reset(objects: Readonly<Record<string, Resource>>): void {
    this.byKind.clear();
    this.sorted.clear();
    // Emptied in place: a reader holds the set.
    for (const selection of this.selections.values()) selection.keys.clear();
    for (const [key, obj] of Object.entries(objects)) this.add(key, obj);
  }

  add(key: string, obj: Readonly<Resource>): void {
    let keys = this.byKind.get(obj.kind);
    if (!keys) this.byKind.set(obj.kind, (keys = new Set()));
    if (!keys.has(key)) this.sorted.delete(obj.kind);
    keys.add(key);
    this.touch(key, obj);
  }

  remove(key: string, obj: Readonly<Resource>): void {
    if (this.byKind.get(obj.kind)?.delete(key)) this.sorted.delete(obj.kind);
    for (const selection of this.selections.values()) if (selection.kind === obj.kind) selection.keys.delete(key);
  }

  /** Tests the object again after a change to its spec or metadata (status is not looked at). */
  touch(key: string, obj: Readonly<Resource>): void {
    for (const selection of this.selections.values()) {
      if (selection.kind !== obj.kind) continue;
      if (selection.test(obj)) selection.keys.add(key);
      else selection.keys.delete(key);
    }
  }

  /** The keys of one kind: the index's own set, not a copy. */
  keysOf(kind: Kind): ReadonlySet<string> {
    return this.byKind.get(kind) ?? new Set();
  }

  /** The keys of one kind, or of all, in list order: by kind (KIND_ORDER), then by key, by code unit. */
  sortedKeysOf(kind?: Kind): readonly string[] {
    if (!kind) return KINDS_IN_ORDER.flatMap((k) => this.sortedKeysOf(k));
    let sorted = this.sorted.get(kind);
    if (!sorted) {
      sorted = [...this.keysOf(kind)].sort(byCodeUnit);
      this.sorted.set(kind, sorted);
    }
    return sorted;
  }

  /**
   * The keys of `kind` whose objects pass `test`, kept from now on: the set is the index's own
   * and changes as the objects do. `test` must read only what apply and deletion change (spec,
   * metadata), not status. A name asked for again gets the selection it has.
   */
  select(
    name: string,
    kind: Kind,
    test: (obj: Readonly<Resource>) => boolean,
    objects: Readonly<Record<string, Resource>>,
  ): ReadonlySet<string> {
    const known = this.selections.get(name);
    if (known) return known.keys;
    const selection: Selection = { kind, test, keys: new Set() };
    this.selections.set(name, selection);
    for (const key of this.keysOf(kind)) {
      const obj = objects[key];
      if (obj && test(obj)) selection.keys.add(key);
    }
    return selection.keys;
  }
}
