import { TerminalError } from "../errors.js";
import type { App, Group } from "./types.js";

/**
 * The replicas an app runs at: spec.replicas, or with autoscale the autoscaler's last decision
 * (min before the first), within min and max. spec.replicas is ignored while autoscale is set.
 */
export function replicasOf(app: App): number {
  const auto = app.spec.autoscale;
  if (!auto) return app.spec.replicas ?? 1;
  const min = auto.min ?? 1;
  const decided = app.status?.autoscale?.desiredReplicas ?? min;
  return Math.min(Math.max(decided, min), Math.max(min, auto.max));
}

/**
 * The app as its provider must run it: with autoscale, at the decided count. Autoscale runs on
 * Docker (engine stats and the edge) and AWS (CloudWatch); elsewhere it is refused here,
 * terminally, until the spec changes.
 */
export function withAutoscaledReplicas(app: App, group: Group): App {
  if (!app.spec.autoscale) return app;
  if (group.spec.provider !== "docker" && group.spec.provider !== "aws")
    throw new TerminalError(
      "AutoscaleUnsupported",
      `spec.autoscale is supported on Docker and AWS groups only; group ${group.metadata.name} uses ${group.spec.provider}: set spec.replicas instead`,
    );
  return { ...app, spec: { ...app.spec, replicas: replicasOf(app) } };
}
