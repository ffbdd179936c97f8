import { errorMessage } from "../errors.js";
import { bindingNames, SERVICE_TEMPLATES } from "../resources/templates.js";
import type { Service, ServiceStatus } from "../resources/types.js";
import type { FinalizeOutcome, Outcome } from "./reconciler.js";
import { collectOperations, Reconciler } from "./reconciler.js";
import { markPullFailure, pullStallHolds, resolveOrWait, secretKeysOf, whenSecretChanges } from "./secret-refs.js";
import { type WatchDeclaration, whenGroupChanges } from "./watches.js";

/** A service reads its group: the group's readiness gates it. */
export const SERVICE_WATCHES: WatchDeclaration = {
  kind: "Service",
  references: (service) => (service.kind === "Service" ? secretKeysOf(service) : []),
  watches: [whenGroupChanges("Service"), whenSecretChanges("Service")],
};

/** Runs a backing service from its template on the group's provider. */
export class ServiceController extends Reconciler<"Service"> {
  readonly kind = "Service" as const;

  protected async reconcileObject(
    service: Service,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<Outcome<ServiceStatus>> {
    const waited = this.waitForGroup(service);
    if ("outcome" in waited) return waited.outcome;
    const { group } = waited;
    const password = this.ctx.store.secretsOf(service).password;
    if (!password) throw new Error(`service ${service.metadata.name} has no stored credentials`);
    const secrets = resolveOrWait<ServiceStatus>(this.ctx.store, service);
    if ("outcome" in secrets) return secrets.outcome;
    const template = SERVICE_TEMPLATES[service.spec.template];
    const provider = await this.ctx.providers.for(group);
    const outcome = await provider
      .reconcileService(service, group, { password }, { onOperation: report, signal, secrets: secrets.resolved })
      .catch((err: unknown) => {
        throw markPullFailure(err, secrets.resolved);
      });
    const host = outcome.host ?? service.metadata.name;
    return {
      status: {
        address: `${host}:${template.port}`,
        host,
        variables: bindingNames(template, undefined),
        volume: outcome.volume,
        ...(outcome.node ? { node: outcome.node } : {}),
        image: outcome.image,
        instances: [...outcome.replicas],
      },
      ready: outcome.converged,
      reason: outcome.converged ? "Converged" : "WaitingForHealthCheck",
      message: outcome.converged
        ? `${template.name} ready at ${host}:${template.port}`
        : `waiting for the ${template.name} health check`,
      operations: outcome.operations,
    };
  }

  protected override stallHolds(service: Service): boolean {
    return pullStallHolds(this.ctx.store, service);
  }

  protected async finalizeObject(
    service: Service,
    report: (op: string) => void,
    signal: AbortSignal,
  ): Promise<FinalizeOutcome> {
    const group = this.groupOf(service);
    if (!group) return { done: true, operations: [] };
    const { operations, onOperation } = collectOperations(report);
    try {
      const done = await (await this.ctx.providers.for(group)).finalizeService(service, group, { onOperation, signal });
      return { done, operations };
    } catch (err) {
      throw new Error(`removing service ${service.metadata.name}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
