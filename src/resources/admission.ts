import { ConflictError, ValidationError, ValidationErrors } from "../errors.js";
import { displayName, keyOf, objectKey } from "./kinds.js";
import type { LoadedManifest } from "./loader.js";
import { admissionErrors } from "./quota.js";
import type { Resource } from "./types.js";

/** What admission reads of the stored objects: by key and by group, without copies. */
export interface AdmissionReader {
  /** The stored object at a key, as stored: not to be changed. */
  peek(key: string): Readonly<Resource> | undefined;
  /** The keys of a group's objects. */
  keysOf(group: string): ReadonlySet<string>;
}

/**
 * Checks an apply against the stored objects without writing: every object's group must exist
 * (stored or in the same apply) and must not be deleting; a stale resourceVersion is a conflict;
 * each group as it would be after the apply must keep its quotas and one name per app or service.
 */
export function admit(stored: AdmissionReader, manifests: readonly LoadedManifest[]): void {
  const errors: ValidationError[] = [];
  const appliedGroups = new Set(manifests.filter((m) => m.object.kind === "Group").map((m) => m.object.metadata.name));
  for (const { object, source } of manifests) {
    const group = object.metadata.group;
    if (object.kind !== "Group" && group !== undefined && !appliedGroups.has(group)) {
      const found = stored.peek(objectKey("Group", "", group));
      if (!found)
        errors.push(
          new ValidationError(
            source,
            "metadata.group",
            `group "${group}" does not exist; apply a Group named "${group}" first or in the same apply`,
          ),
        );
      else if (found.metadata.deletionTimestamp)
        errors.push(new ValidationError(source, "metadata.group", `group "${group}" is being deleted`));
    }
    const existing = stored.peek(keyOf(object));
    if (existing?.metadata.deletionTimestamp) {
      errors.push(
        new ConflictError(
          source,
          "metadata.name",
          `${displayName(object)} is being deleted; wait until it is gone before applying it again`,
        ),
      );
    }
    const rv = object.metadata.resourceVersion;
    if (rv !== undefined && existing && existing.metadata.resourceVersion !== rv) {
      errors.push(
        new ConflictError(
          source,
          "metadata.resourceVersion",
          `stale: the stored object is at ${existing.metadata.resourceVersion}, the manifest at ${rv}`,
        ),
      );
    }
  }
  errors.push(...admitGroups(stored, manifests));
  if (errors.length > 0) throw new ValidationErrors(errors);
}

/**
 * Group-wide checks on the group as it would be after the apply: quotas, and one name per
 * group for apps and services (both are reached by that name on the group's network).
 */
function admitGroups(stored: AdmissionReader, manifests: readonly LoadedManifest[]): ValidationError[] {
  const errors: ValidationError[] = [];
  const groups = new Set(
    manifests.map((m) => m.object.metadata.group ?? (m.object.kind === "Group" ? m.object.metadata.name : "")),
  );
  for (const group of groups) {
    const mine = manifests.filter((m) => m.object.metadata.group === group);
    if (mine.length === 0) continue;
    // Through the index, and only as far as needed: an apply costs its group, not the store.
    const keys = stored.keysOf(group);
    const applied = new Map(mine.map((m) => [keyOf(m.object), m]));
    if ([...applied.keys(), ...keys].some((k) => k.startsWith("Quota/"))) {
      const before = [...keys].flatMap((k) => stored.peek(k) ?? []);
      const after = [...before.filter((o) => !applied.has(keyOf(o))), ...mine.map((m) => m.object)];
      for (const { object, message } of admissionErrors(before, after)) {
        errors.push(
          new ValidationError(
            (object && applied.get(keyOf(object))?.source) ?? (mine[0] as LoadedManifest).source,
            "",
            message,
          ),
        );
      }
    }
    for (const { object, source } of mine) {
      if (object.kind !== "App" && object.kind !== "Service") continue;
      const otherKind = object.kind === "App" ? "Service" : "App";
      const otherKey = objectKey(otherKind, group, object.metadata.name);
      // Both in this apply: said once, at the app.
      if (keys.has(otherKey) || (applied.has(otherKey) && object.kind === "App")) {
        errors.push(
          new ValidationError(
            source,
            "metadata.name",
            `an ${otherKind.toLowerCase()} and a ${object.kind.toLowerCase()} of group ${group} are both named "${object.metadata.name}"; they share one network name`,
          ),
        );
      }
    }
  }
  return errors;
}
