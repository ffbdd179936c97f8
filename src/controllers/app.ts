import { getCondition, isReadyAt } from "../resources/conditions.js";
import { objectKey } from "../resources/kinds.js";
import type { App, AppStatus, Group } from "../resources/types.js";
import type { FinalizeOutcome, Outcome } from "./reconciler.js";
import { Reconciler } from "./reconciler.js";

const WAIT_FOR_GROUP_MS = 2000;

/** Converges an App's replicas on its group's provider. */
export class AppController extends Reconciler<"App"> {
  readonly kind = "App" as const;

  protected async reconcileObject(app: App, report: (op: string) => void): Promise<Outcome<AppStatus>> {
    const group = this.groupOf(app);
    if (!group || !isReadyAt(group)) {
      const name = app.metadata.group ?? "";
      const why = getCondition(group?.status, "Ready");
      const message = `waiting for group ${name} to be ready${why?.status === "False" ? `: ${why.reason}: ${why.message}` : ""}`;
      return { status: {}, ready: false, reason: "WaitingForGroup", message, operations: [], requeueAfterMs: WAIT_FOR_GROUP_MS };
    }
    const outcome = await this.ctx.providers.for(group).reconcileApp(app, group, { onOperation: report });
    const replicas = app.spec.replicas ?? 1;
    const endpoints = outcome.replicas.filter((r) => r.ready && r.endpoint).map((r) => `http://${r.endpoint}`);
    const rolling = outcome.updatedReplicas < replicas || outcome.replicas.length > replicas;
    return {
      status: {
        replicas,
        readyReplicas: outcome.readyReplicas,
        updatedReplicas: outcome.updatedReplicas,
        image: outcome.image,
        instances: [...outcome.replicas],
        endpoints,
      },
      ready: outcome.converged,
      reason: outcome.converged ? "Converged" : rolling ? "RollingOut" : "WaitingForReplicas",
      message: `${outcome.readyReplicas}/${replicas} replicas ready${rolling ? `, ${outcome.updatedReplicas} updated` : ""}`,
      operations: outcome.operations,
    };
  }

  protected async finalizeObject(app: App, report: (op: string) => void): Promise<FinalizeOutcome> {
    const group = this.groupOf(app);
    const operations: string[] = [];
    if (!group) return { done: true, operations };
    const done = await this.ctx.providers.for(group).finalizeApp(app, group, {
      onOperation: (op) => {
        operations.push(op);
        report(op);
      },
    });
    return { done, operations };
  }

  private groupOf(app: App): Group | undefined {
    const group = this.ctx.store.get(objectKey("Group", "", app.metadata.group ?? ""));
    return group?.kind === "Group" ? group : undefined;
  }
}
