import type { Resource } from "../resources/types.js";

/**
 * The JSON of a stored object, made once per version and shared by every list and watch that
 * sends it: a hundred watchers of one group asked for the same thousand objects a hundred times,
 * and encoding them was most of the server's time while the other tenants' answers waited.
 *
 * Keyed by the store's own object (a WeakMap: an entry goes with its object) and checked against
 * its resourceVersion, which the store bumps on every change, in place or not.
 */
const cache = new WeakMap<Readonly<Resource>, { readonly version: string | undefined; readonly json: string }>();

export function objectJson(object: Readonly<Resource>): string {
  const version = object.metadata.resourceVersion;
  const hit = cache.get(object);
  if (hit && hit.version === version && version !== undefined) return hit.json;
  const json = JSON.stringify(object);
  cache.set(object, { version, json });
  return json;
}

/** A List answer of stored objects, from their cached JSON. */
export function listJson(resourceVersion: string, items: readonly Readonly<Resource>[]): string {
  const head = JSON.stringify({ kind: "List", apiVersion: "v1", metadata: { resourceVersion } });
  return `${head.slice(0, -1)},"items":[${items.map(objectJson).join(",")}]}`;
}
