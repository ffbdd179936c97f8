import { Counter, Gauge, type Registry } from "prom-client";
import type { DeliveryOutcome, Notifier } from "./notifier.js";

/** The notifier's series in the operator's registry; returns what detaches them. */
export function observeNotifications(registry: Registry, notifier: Notifier): () => void {
  const registers = [registry];
  const outcomes = new Counter({
    name: "airloft_notifications_total",
    help: "Webhook deliveries by result: sent, failed (given up), retried, dropped (the queue was full).",
    labelNames: ["result"] as const,
    registers,
  });
  for (const result of ["sent", "failed", "retried", "dropped"] as const) outcomes.inc({ result }, 0);
  new Gauge({
    name: "airloft_notifications_waiting",
    help: "Deliveries waiting to be sent, now or after a backoff.",
    registers,
    collect() {
      this.set(notifier.waiting);
    },
  });
  const listener = (result: DeliveryOutcome): void => outcomes.inc({ result });
  notifier.outcomes.on("outcome", listener);
  return () => notifier.outcomes.off("outcome", listener);
}
