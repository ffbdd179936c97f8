import type { Kind, Resource } from "../resources/types.js";
import { byCodeUnit, KINDS_IN_ORDER } from "./kind-index.js";

/**
 * The keys of each group's objects (Apps, Services, Quotas), by group and by kind, kept with the
 * objects so that "the quotas of group G" costs its quotas, not the store. With each group, the
 * serial of the last change to what its objects ask for (a creation, a spec, a deletion): figures
 * derived from a group, such as its quota usage, hold while it does.
 */
export class GroupIndex {
  private readonly byGroup = new Map<string, Set<string>>();
  /** Keyed by the group's key set: reset() renews those sets, and with them these. */
  private readonly byKind = new WeakMap<Set<string>, Map<Kind, Set<string>>>();
  private readonly serials = new Map<string, number>();
  /**
   * Each key set in list order, made when first asked for and dropped when the set changes: a
   * hundred watchers listing one group sorted its thousands of keys a hundred times.
   */
  private readonly sorted = new WeakMap<ReadonlySet<string>, readonly string[]>();
  private serial = 0;
  /** The serial of groups unchanged since the index was last built. */
  private resetSerial = 0;

  /** Builds the index anew from every object (after the state file is read). */
  reset(objects: Readonly<Record<string, Resource>>): void {
    this.serials.clear();
    this.resetSerial = ++this.serial;
    this.byGroup.clear();
    for (const [key, obj] of Object.entries(objects)) this.add(key, obj);
  }

  add(key: string, obj: Resource): void {
    const group = obj.metadata.group;
    if (group === undefined) return;
    let keys = this.byGroup.get(group);
    if (!keys) this.byGroup.set(group, (keys = new Set()));
    keys.add(key);
    this.sorted.delete(keys);
    let kinds = this.byKind.get(keys);
    if (!kinds) this.byKind.set(keys, (kinds = new Map()));
    let ofKind = kinds.get(obj.kind);
    if (!ofKind) kinds.set(obj.kind, (ofKind = new Set()));
    ofKind.add(key);
    this.sorted.delete(ofKind);
  }

  remove(key: string, obj: Resource): void {
    const keys = this.byGroup.get(obj.metadata.group ?? "");
    if (!keys) return;
    keys.delete(key);
    this.sorted.delete(keys);
    const ofKind = this.byKind.get(keys)?.get(obj.kind);
    ofKind?.delete(key);
    if (ofKind) this.sorted.delete(ofKind);
  }

  /** The keys of a group's objects, of one kind or all: the index's own set, not a copy. */
  keysOf(group: string, kind?: Kind): ReadonlySet<string> {
    const keys = this.byGroup.get(group);
    if (!keys) return new Set();
    return kind ? (this.byKind.get(keys)?.get(kind) ?? new Set()) : keys;
  }

  /** The same keys in list order: by kind (KIND_ORDER), then by key, compared by code unit. */
  sortedKeysOf(group: string, kind?: Kind): readonly string[] {
    const keys = this.keysOf(group, kind);
    let sorted = this.sorted.get(keys);
    if (!sorted) {
      sorted = kind ? [...keys].sort(byCodeUnit) : KINDS_IN_ORDER.flatMap((k) => this.sortedKeysOf(group, k));
      this.sorted.set(keys, sorted);
    }
    return sorted;
  }

  /** Records a change to what the object's group asks for. */
  touch(obj: Resource): void {
    if (obj.metadata.group !== undefined) this.serials.set(obj.metadata.group, ++this.serial);
  }

  /** Changes when what a group's objects ask for changes. */
  changeSerialOf(group: string): number {
    return this.serials.get(group) ?? this.resetSerial;
  }
}
