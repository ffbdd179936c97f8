import { objectKey } from "../resources/kinds.js";
import type { Alert, SecretKeyRef } from "../resources/types.js";
import type { Store } from "../store/store.js";

/** The Secret keys an Alert reads: what a Secret's change requeues. */
export function alertSecretKeys(alert: Alert): string[] {
  const refs = [alert.spec.urlFrom, alert.spec.signingKeyFrom].filter((r): r is SecretKeyRef => r !== undefined);
  return [...new Set(refs.map((r) => objectKey("Secret", alert.metadata.group ?? "", r.secret)))];
}

/** What an Alert needs to send: its URL and signing key, or the references that are missing. */
export type AlertTarget =
  | { readonly url: string; readonly signingKey?: string }
  | { readonly missing: readonly string[] };

/** Reads the URL and the key from the group's own Secrets (never another group's). */
export function resolveAlertTarget(store: Store, alert: Alert): AlertTarget {
  const missing: string[] = [];
  const read = (ref: SecretKeyRef): string | undefined => {
    const secret = store.get(objectKey("Secret", alert.metadata.group ?? "", ref.secret));
    const value =
      secret?.kind === "Secret" && !secret.metadata.deletionTimestamp ? store.secretsOf(secret)[ref.key] : undefined;
    if (value === undefined) missing.push(`secret ${ref.secret} key ${ref.key}`);
    return value;
  };
  const url = alert.spec.urlFrom ? read(alert.spec.urlFrom) : alert.spec.url;
  const signingKey = alert.spec.signingKeyFrom ? read(alert.spec.signingKeyFrom) : undefined;
  if (missing.length > 0 || url === undefined) return { missing };
  return { url: url.trim(), ...(signingKey !== undefined ? { signingKey } : {}) };
}
