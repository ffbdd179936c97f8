import { TerminalError } from "../errors.js";
import { getCondition } from "../resources/conditions.js";
import { objectKey } from "../resources/kinds.js";
import type { App, BaseStatus, Kind, Resource, Service } from "../resources/types.js";
import { groupPullFor, type ResolvedSecrets, resolveSecrets, secretsUsedBy } from "../secrets/references.js";
import type { Store } from "../store/store.js";
import type { Outcome } from "./reconciler.js";
import { type Watch, watch } from "./watches.js";

const WAIT_FOR_SECRETS_MS = 5000;

/**
 * The Secret keys an app or service reads: what a Secret's change requeues. With `lookup`, also
 * the registry credentials its group's settings name for it.
 */
export function secretKeysOf(obj: App | Service, lookup?: (key: string) => Resource | undefined): string[] {
  const pull = lookup && groupPullFor(obj, lookup);
  return [...secretsUsedBy(obj), ...(pull ? [pull.secret] : [])].map((name) =>
    objectKey("Secret", obj.metadata.group ?? "", name),
  );
}

/** A Secret's creation, change or removal requeues the objects of `kind` that read it. */
export function whenSecretChanges(kind: Kind): Watch {
  return watch({
    kinds: ["Secret"],
    on: ["added", "spec", "deleting", "removed"],
    map: ({ metadata: { group, name } }) =>
      group ? [{ group, kind, referring: objectKey("Secret", group, name) }] : [],
  });
}

/** The resolved references, or the outcome of waiting for what is missing (SecretNotFound). */
export function resolveOrWait<S extends BaseStatus>(
  store: Store,
  obj: App | Service,
): { resolved: ResolvedSecrets } | { outcome: Outcome<S> } {
  const resolved = resolveSecrets(store, obj);
  if (resolved.missing.length === 0) return { resolved };
  return {
    outcome: {
      status: {} as S,
      ready: false,
      reason: "SecretNotFound",
      message: `waiting for ${resolved.missing.join(", ")} in group ${obj.metadata.group ?? ""}`,
      operations: [],
      requeueAfterMs: WAIT_FOR_SECRETS_MS,
    },
  };
}

/** Marks a refused pull with the secrets' digest, so that a changed credential lifts the stall. */
export function markPullFailure(err: unknown, resolved: ResolvedSecrets): unknown {
  if (!(err instanceof TerminalError) || err.reason !== "ImagePullFailed") return err;
  return new TerminalError("ImagePullFailed", `${err.message} [secrets ${resolved.digest}]`, { cause: err });
}

/** A refused pull holds only while the secrets are those it was refused with. */
export function pullStallHolds(store: Store, obj: App | Service): boolean {
  const stalled = getCondition(obj.status, "Stalled");
  if (stalled?.reason !== "ImagePullFailed") return true;
  return stalled.message.includes(`[secrets ${resolveSecrets(store, obj).digest}]`);
}
