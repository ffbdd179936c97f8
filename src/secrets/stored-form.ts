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
  const given = values ?? {};
  // Own properties, "__proto__" too (fromEntries); reading an own "__proto__" gives its value.
  const keys = Object.fromEntries(
    Object.keys(given)
      .sort()
      .map((key) => [key, hasher.hash(given[key] as Buffer)]),
  );
  return { ...object, spec: { keys } };
}
