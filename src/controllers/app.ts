import { edgeDomainOf, edgeRoutes, hasEdge } from "../providers/docker/edge/routes.js";
import { revisionInputs } from "../releases/inputs.js";
import { forgetRevisions } from "../releases/revisions.js";
import { releaseDone, releaseRevision, trackRollout, withRollout } from "../releases/rollout.js";
import { objectKey } from "../resources/kinds.js";
import { replicasOf, withAutoscaledReplicas } from "../resources/replicas.js";
import type { App, AppStatus, Group } from "../resources/types.js";
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
  references: (app, lookup) => {
    if (app.kind !== "App") return [];
    const services = (app.spec.services ?? []).map((b) => objectKey("Service", app.metadata.group ?? "", b.name));
    const tls = app.spec.expose?.tls;
    const certificate = typeof tls === "object" ? [objectKey("Secret", app.metadata.group ?? "", tls.secret)] : [];
    return [...services, ...secretKeysOf(app, lookup), ...certificate];
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
    const replicas = replicasOf(app);
    const capped = over.length > 0 && replicas > existing;
    const provider = await this.ctx.providers.for(group);
    const edge = this.edgeOf(app, group);
    const outcome = await provider
      .reconcileApp(withAutoscaledReplicas(app, group), group, {
        onOperation: report,
        signal,
        bindings: bindings.env,
        secrets: secrets.resolved,
        releaseDone: releaseDone(this.ctx.store, app),
        releaseRevision: releaseRevision(this.ctx.store, app),
        ...(capped ? { scaleUpLimit: existing } : {}),
        ...(edge ? { edgeRoutes: edge.routes } : {}),
      })
      .catch((err: unknown) => {
        throw markPullFailure(err, secrets.resolved);
      });
    const conflicts = (edge?.conflicts ?? []).filter((c) => c.uid === app.metadata.uid);
    const certificate = outcome.tls?.problem;
    const endpoints = outcome.url
      ? [outcome.url]
      : outcome.replicas.filter((r) => r.ready && r.endpoint).map((r) => `http://${r.endpoint}`);
    const rolling = outcome.updatedReplicas < replicas || outcome.replicas.length > replicas;
    const counts = `${outcome.readyReplicas}/${replicas} replicas ready${rolling && !capped ? `, ${outcome.updatedReplicas} updated` : ""}`;
    // Converged means every replica is ready: what a replica says about itself matters only before.
    const problems = outcome.converged ? [] : (outcome.problems ?? []);
    const result: Outcome<AppStatus> = {
      status: {
        replicas,
        readyReplicas: outcome.readyReplicas,
        updatedReplicas: outcome.updatedReplicas,
        image: outcome.image,
        instances: [...outcome.replicas],
        endpoints,
        // Status is merged: an address or certificate the app no longer has is set undefined.
        url: outcome.url,
        tls: outcome.tls?.certificate,
      },
      ready: outcome.converged && !capped && conflicts.length === 0 && !certificate,
      reason: capped
        ? "QuotaExceeded"
        : conflicts.length > 0
          ? "HostConflict"
          : outcome.converged
            ? (certificate?.reason ?? "Converged")
            : (problemReason(problems) ?? (rolling ? "RollingOut" : (outcome.waiting?.reason ?? "WaitingForReplicas"))),
      message: capped
        ? `${over.map((v) => v.message).join("; ")}; not scaling up beyond ${existing} (${counts})`
        : [
            ...conflicts.map((c) => c.message),
            ...(certificate ? [certificate.message] : []),
            `${withProblems(counts, problems)}${outcome.waiting && !outcome.converged ? `; ${outcome.waiting.message}` : ""}`,
          ].join("; "),
      operations: outcome.operations,
      // A held host is let go when its holder goes: look again now and then.
      ...(capped || conflicts.length > 0 || certificate?.reason === "CertificateFailed"
        ? { requeueAfterMs: 30_000 }
        : certificate
          ? { requeueAfterMs: 3_000 }
          : {}),
    };
    const inputs = revisionInputs(this.ctx.store, app, bindings.hashes);
    return withRollout(result, await trackRollout(this.ctx.store, app, { ...outcome, inputs }));
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
    const edge = this.edgeOf(app, group);
    const done = await (await this.ctx.providers.for(group)).finalizeApp(app, group, {
      onOperation,
      signal,
      ...(edge ? { edgeRoutes: edge.routes } : {}),
    });
    if (done) forgetRevisions(this.ctx.store, app);
    return { done, operations };
  }

  /**
   * The edge's routes on Docker and Swarm, from the whole store (hosts are claimed across groups); skipped
   * while nothing asks for routing, since reading every object per reconcile costs a big store.
   */
  private edgeOf(app: App, group: Group): ReturnType<typeof edgeRoutes> | undefined {
    if (!hasEdge(group)) return undefined;
    // An app the edge served (status.url) is routed once more after its last domain goes: the
    // edge then drops its route, and goes away when no app is left on it.
    const routing =
      app.spec.expose?.domain !== undefined ||
      app.status?.url !== undefined ||
      this.ctx.store.view({ kind: "Group" }).some((g) => g.kind === "Group" && edgeDomainOf(g) !== undefined);
    if (!routing) return undefined;
    // A certificate's Secret is read in the app's own group only; its values stay in memory.
    return edgeRoutes(this.ctx.store.view(), (group, name) => {
      const secret = this.ctx.store.get(objectKey("Secret", group, name));
      return secret?.kind === "Secret" && !secret.metadata.deletionTimestamp
        ? this.ctx.store.secrets.get(secret)
        : undefined;
    });
  }
}
