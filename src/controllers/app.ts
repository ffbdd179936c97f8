import { objectKey } from "../resources/kinds.js";
import type { App, AppStatus } from "../resources/types.js";
import { resolveBindings } from "./bindings.js";
import { quotaViolationsOf } from "./quota.js";
import type { FinalizeOutcome, Outcome } from "./reconciler.js";
import { collectOperations, Reconciler } from "./reconciler.js";
import { problemReason, withProblems } from "./replica-problems.js";
import { markPullFailure, pullStallHolds, resolveOrWait, secretKeysOf, whenSecretChanges } from "./secret-refs.js";
import { type WatchDeclaration, whenGroupChanges } from "./watches.js";

const WAIT_FOR_SERVICES_MS = 2000;

/**
 * An app reads its group (readiness gates it), its group's quotas (a lowered one caps its
 * scale-up) and the services bound to it (their readiness and address are its variables).
 */
export const APP_WATCHES: WatchDeclaration = {
  kind: "App",
  references: (app) => {
    if (app.kind !== "App") return [];
    const services = (app.spec.services ?? []).map((b) => objectKey("Service", app.metadata.group ?? "", b.name));
    return [...services, ...secretKeysOf(app)];
  },
  watches: [
    whenGroupChanges("App"),
    whenSecretChanges("App"),
    {
      kinds: ["Quota"],
      on: ["added", "spec", "deleting"],
      map: ({ metadata: { group } }) => (group ? [{ group, kind: "App" }] : []),
    },
    {
      kinds: ["Service"],
      on: ["status"],
      map: ({ metadata: { group, name } }) =>
        group ? [{ group, kind: "App", referring: objectKey("Service", group, name) }] : [],
    },
  ],
};

/** Converges an App's replicas on its group's provider, with its bound services' variables. */
export class AppController extends Reconciler<"App"> {
  readonly kind = "App" as const;

  protected async reconcileObject(
    app: App,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<Outcome<AppStatus>> {
    const waited = this.waitForGroup(app);
    if ("outcome" in waited) return waited.outcome;
    const { group } = waited;
    const bindings = resolveBindings(this.ctx.store, app);
    if (bindings.missing.length > 0 || bindings.notReady.length > 0) {
      const parts = [
        ...(bindings.missing.length > 0
          ? [`service ${bindings.missing.join(", ")} not found in group ${group.metadata.name}`]
          : []),
        ...(bindings.notReady.length > 0 ? [`waiting for service ${bindings.notReady.join(", ")} to be ready`] : []),
      ];
      return {
        status: {},
        ready: false,
        reason: bindings.missing.length > 0 ? "ServiceNotFound" : "WaitingForServices",
        message: parts.join("; "),
        operations: [],
        requeueAfterMs: WAIT_FOR_SERVICES_MS,
      };
    }
    const secrets = resolveOrWait<AppStatus>(this.ctx.store, app);
    if ("outcome" in secrets) return secrets.outcome;
    // Over quota (a quota lowered below use): keep what runs, start nothing more.
    const over = quotaViolationsOf(this.ctx.store, group.metadata.name);
    const existing = new Set((app.status?.instances ?? []).map((r) => r.replica)).size;
    const replicas = app.spec.replicas ?? 1;
    const capped = over.length > 0 && replicas > existing;
    const provider = await this.ctx.providers.for(group);
    const outcome = await provider
      .reconcileApp(app, group, {
        onOperation: report,
        signal,
        bindings: bindings.env,
        secrets: secrets.resolved,
        ...(capped ? { scaleUpLimit: existing } : {}),
      })
      .catch((err: unknown) => {
        throw markPullFailure(err, secrets.resolved);
      });
    const endpoints = outcome.url
      ? [outcome.url]
      : outcome.replicas.filter((r) => r.ready && r.endpoint).map((r) => `http://${r.endpoint}`);
    const rolling = outcome.updatedReplicas < replicas || outcome.replicas.length > replicas;
    const counts = `${outcome.readyReplicas}/${replicas} replicas ready${rolling && !capped ? `, ${outcome.updatedReplicas} updated` : ""}`;
    // Converged means every replica is ready: what a replica says about itself matters only before.
    const problems = outcome.converged ? [] : (outcome.problems ?? []);
    return {
      status: {
        replicas,
        readyReplicas: outcome.readyReplicas,
        updatedReplicas: outcome.updatedReplicas,
        image: outcome.image,
        instances: [...outcome.replicas],
        endpoints,
      },
      ready: outcome.converged && !capped,
      reason: capped
        ? "QuotaExceeded"
        : outcome.converged
          ? "Converged"
          : (problemReason(problems) ?? (rolling ? "RollingOut" : (outcome.waiting?.reason ?? "WaitingForReplicas"))),
      message: capped
        ? `${over.map((v) => v.message).join("; ")}; not scaling up beyond ${existing} (${counts})`
        : `${withProblems(counts, problems)}${outcome.waiting && !outcome.converged ? `; ${outcome.waiting.message}` : ""}`,
      operations: outcome.operations,
      ...(capped ? { requeueAfterMs: 30_000 } : {}),
    };
  }

  protected override stallHolds(app: App): boolean {
    return pullStallHolds(this.ctx.store, app);
  }

  protected async finalizeObject(
    app: App,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<FinalizeOutcome> {
    const group = this.groupOf(app);
    if (!group) return { done: true, operations: [] };
    const { operations, onOperation } = collectOperations(report);
    const done = await (await this.ctx.providers.for(group)).finalizeApp(app, group, { onOperation, signal });
    return { done, operations };
  }
}
