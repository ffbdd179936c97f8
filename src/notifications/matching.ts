import type { Alert } from "../resources/types.js";
import { DEFAULT_EVENTS, type Notification } from "./events.js";

/**
 * Whether an Alert sends a notification: only of its own group's objects (tenancy), never of
 * Alerts (their deliveries would notify about themselves), and as its filters say. `events`
 * names categories (Stalled) or reasons (CrashLoopBackOff, JobFailed) alike.
 */
export function alertMatches(alert: Alert, n: Notification): boolean {
  if (alert.spec.suspend || alert.metadata.deletionTimestamp) return false;
  if (n.group !== alert.metadata.group || n.kind === "Alert") return false;
  const events = alert.spec.events ?? DEFAULT_EVENTS;
  if (!events.includes(n.event) && !events.includes(n.reason)) return false;
  const { kinds, names } = alert.spec;
  if (kinds && !kinds.some((k) => k.toLowerCase() === n.kind.toLowerCase())) return false;
  return !names || names.includes(n.name);
}
