import type { Resource } from "../resources/types.js";
import { GroupIndex } from "./group-index.js";
import { KindIndex } from "./kind-index.js";

/** The store's indexes, by group and by kind, told of each change at once. */
export class Indexes {
  readonly groups = new GroupIndex();
  readonly kinds = new KindIndex();

  reset(objects: Readonly<Record<string, Resource>>): void {
    this.groups.reset(objects);
    this.kinds.reset(objects);
  }

  /** A new object. */
  add(key: string, obj: Resource): void {
    this.groups.add(key, obj);
    this.groups.touch(obj);
    this.kinds.add(key, obj);
  }

  /** A change to what an object asks for (spec, labels, deletion). */
  touch(key: string, obj: Resource): void {
    this.groups.touch(obj);
    this.kinds.touch(key, obj);
  }

  remove(key: string, obj: Resource): void {
    this.groups.remove(key, obj);
    this.kinds.remove(key, obj);
  }
}
