import type { FinalizeOutcome, Outcome } from "../controllers/reconciler.js";
import { Reconciler } from "../controllers/reconciler.js";
import { whenSecretChanges } from "../controllers/secret-refs.js";
import type { WatchDeclaration } from "../controllers/watches.js";
import type { Alert, AlertStatus } from "../resources/types.js";
import { alertSecretKeys, resolveAlertTarget } from "./alert-refs.js";
import { DEFAULT_EVENTS } from "./events.js";

const WAIT_FOR_SECRETS_MS = 5000;

/** An Alert reads its Secrets: their changes requeue it. */
export const ALERT_WATCHES: WatchDeclaration = {
  kind: "Alert",
  references: (alert) => (alert.kind === "Alert" ? alertSecretKeys(alert) : []),
  watches: [whenSecretChanges("Alert")],
};

/**
 * An Alert owns no infrastructure: its reconcile checks that what it reads is there and says
 * what it sends. The deliveries themselves are the notifier's (src/notifications/notifier.ts).
 */
export class AlertController extends Reconciler<"Alert"> {
  readonly kind = "Alert" as const;

  protected async reconcileObject(alert: Alert): Promise<Outcome<AlertStatus>> {
    const target = resolveAlertTarget(this.ctx.store, alert);
    if ("missing" in target)
      return {
        status: {},
        ready: false,
        reason: "SecretNotFound",
        message: `waiting for ${target.missing.join(", ")} in group ${alert.metadata.group ?? ""}`,
        operations: [],
        requeueAfterMs: WAIT_FOR_SECRETS_MS,
      };
    const events = (alert.spec.events ?? DEFAULT_EVENTS).join(", ");
    const signed = target.signingKey !== undefined ? "signed" : "unsigned";
    return {
      status: {},
      ready: true,
      reason: alert.spec.suspend ? "Suspended" : "Ready",
      message: `${alert.spec.suspend ? "suspended: " : ""}sends ${events} (${alert.spec.format ?? "generic"}, ${signed})`,
      operations: [],
    };
  }

  protected async finalizeObject(): Promise<FinalizeOutcome> {
    return { done: true, operations: [] };
  }
}
