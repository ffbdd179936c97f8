import type { LoadedManifest } from "../resources/loader.js";
import type { Resource } from "../resources/types.js";

/**
 * A manifest's object as the store keeps it: a Secret's values replaced by a keyed hash of each
 * (sorted by key), so that everything that shows objects (get, the API, the watch stream, events)
 * can show which keys a secret has and when they change, never what they hold.
 */
export function storedSecret(manifest: LoadedManifest, hasher: { hash(value: Buffer): string }): Resource {
  const { object, values } = manifest;
  if (object.kind !== "Secret") return object;
  // Own properties, "__proto__" too (fromEntries).
  const entries = Object.entries(values ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const keys = Object.fromEntries(entries.map(([key, value]) => [key, hasher.hash(value)]));
  return { ...object, spec: { keys } };
}
