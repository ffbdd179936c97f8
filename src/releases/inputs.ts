import { objectKey } from "../resources/kinds.js";
import type { App } from "../resources/types.js";
import { secretsUsedBy } from "../secrets/references.js";
import type { Store } from "../store/store.js";
import { stableHash } from "../util/stable-hash.js";

/**
 * What an app's replicas are made from besides its spec: a hash for each Secret it reads ("secret
 * NAME", from the Secret's keyed hashes) and each Service it binds ("service NAME", from the
 * variables it gets). Hashes only: a revision never holds a value, so old values cannot be restored.
 */
export type RevisionInputs = Readonly<Record<string, string>>;

/** The app's inputs now; `services` is each bound service's hash (controllers/bindings.ts). */
export function revisionInputs(store: Store, app: App, services: Readonly<Record<string, string>>): RevisionInputs {
  const inputs: Record<string, string> = {};
  for (const name of secretsUsedBy(app)) {
    const secret = store.get(objectKey("Secret", app.metadata.group ?? "", name));
    if (secret?.kind === "Secret") inputs[`secret ${name}`] = stableHash(secret.spec.keys ?? {});
  }
  for (const [name, hash] of Object.entries(services).sort(([a], [b]) => a.localeCompare(b)))
    inputs[`service ${name}`] = hash;
  return inputs;
}

/** The inputs whose hash differs between two revisions (or that only one has), sorted. */
export function changedInputs(before: RevisionInputs | undefined, after: RevisionInputs | undefined): string[] {
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...names].filter((n) => before?.[n] !== after?.[n]).sort();
}
