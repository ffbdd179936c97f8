import type { Resource } from "../resources/types.js";
import type { Change } from "../store/store.js";
import type { Steps } from "../util/steps.js";

const CHANGES_PER_STEP = 100;

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

/**
 * An apply's answer, `{"changes": [{key, display, action, object}]}`, from the objects' cached
 * JSON: the watch streams encode the same objects, so a 3,000-object apply is encoded once, not
 * again for its answer (45 to 50 ms on the server's thread under the abuse run). As steps, a
 * pause every CHANGES_PER_STEP changes: the objects a batch just wrote are not encoded yet, and
 * 3,000 of them still took 41 to 65 ms at once. A dry run's answer says so first.
 */
export function* changesJsonSteps(changes: readonly Change[], dryRun = false): Steps<string> {
  const items: string[] = [];
  for (const c of changes) {
    items.push(
      `{"key":${JSON.stringify(c.key)},"display":${JSON.stringify(c.display)},"action":${JSON.stringify(c.action)},"object":${objectJson(c.object)}}`,
    );
    if (items.length % CHANGES_PER_STEP === 0) yield;
  }
  return `{${dryRun ? '"dryRun":true,' : ""}"changes":[${items.join(",")}]}`;
}
