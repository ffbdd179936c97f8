import { ValidationError } from "../errors.js";
import { DEFAULT_BIND_ADDRESS } from "../providers/docker/desired.js";
import type { LoadedManifest } from "../resources/loader.js";
import type { Principal } from "./tokens.js";

/** What the server, not a tenant's manifest, decides. Admins are not held to it. */
export interface TenantRules {
  /** The host addresses tenants' apps may publish ports on (`spec.publish.hostIP`). */
  readonly publishAddresses: readonly string[];
}

export const DEFAULT_TENANT_RULES: TenantRules = { publishAddresses: ["127.0.0.1"] };

/**
 * A tenant's manifests against the server's rules: an app may not publish on an address the
 * server has not given tenants (0.0.0.0 would put it on every interface of the host), nor ask
 * for the swarm's manager nodes, which run the cluster for every tenant.
 */
export function tenantRuleErrors(
  principal: Principal,
  manifests: readonly LoadedManifest[],
  rules: TenantRules,
): ValidationError[] {
  if (principal.kind === "admin") return [];
  const errors: ValidationError[] = [];
  for (const { object, source } of manifests) {
    if (object.kind !== "App") continue;
    const managers = (object.spec.placement?.constraints ?? []).find(selectsManagers);
    if (managers !== undefined)
      errors.push(
        new ValidationError(
          source,
          "spec.placement.constraints",
          `tenants may not place apps on the swarm's manager nodes (${managers}): they run the cluster`,
        ),
      );
    if (object.spec.port === undefined) continue;
    // Without hostIP an app publishes on the engine default, which the server may not allow either.
    const hostIP = object.spec.publish?.hostIP ?? DEFAULT_BIND_ADDRESS;
    if (!rules.publishAddresses.includes(hostIP)) {
      const what =
        object.spec.publish?.hostIP === undefined ? `the default ${hostIP}; set spec.publish.hostIP` : hostIP;
      errors.push(
        new ValidationError(
          source,
          "spec.publish.hostIP",
          `this server lets tenants publish on ${rules.publishAddresses.join(", ")} only, not ${what}`,
        ),
      );
    }
  }
  return errors;
}

/** `node.role==manager` or `node.role!=worker`, in any spacing or case: a constraint that asks for managers. */
function selectsManagers(constraint: string): boolean {
  const match = /^\s*node\.role\s*(==|!=)\s*(\w+)\s*$/i.exec(constraint);
  if (!match) return false;
  const role = (match[2] ?? "").toLowerCase();
  return match[1] === "==" ? role === "manager" : role === "worker";
}
