import { displayName } from "../resources/kinds.js";
import type { Kind, Resource } from "../resources/types.js";
import { ForbiddenError } from "./accounts.js";
import type { Principal } from "./tokens.js";

/**
 * Who may do what. An admin may do everything. A group's token sees its Group, and the apps,
 * services and quotas in it; it writes only apps and services: a tenant cannot raise its own
 * quota or change its provider settings.
 */
export const TENANT_WRITABLE: ReadonlySet<Kind> = new Set(["App", "Service", "Secret", "Alert"]);

/** The group an object belongs to: its metadata.group, or its own name for a Group. */
export function tenantOf(obj: Pick<Resource, "kind" | "metadata">): string {
  return obj.kind === "Group" ? obj.metadata.name : (obj.metadata.group ?? "");
}

export function canSee(principal: Principal, obj: Pick<Resource, "kind" | "metadata">): boolean {
  return principal.kind === "admin" || tenantOf(obj) === principal.name;
}

export function assertCanSeeGroup(principal: Principal, group: string): void {
  if (principal.kind !== "admin" && group !== principal.name)
    throw new ForbiddenError(`group ${principal.name} cannot read group ${group}`);
}

export function assertCanWrite(principal: Principal, obj: Pick<Resource, "kind" | "metadata">): void {
  if (principal.kind === "admin") return;
  if (tenantOf(obj) !== principal.name)
    throw new ForbiddenError(
      `group ${principal.name} cannot change ${displayName(obj)}: it belongs to group ${tenantOf(obj)}`,
    );
  if (!TENANT_WRITABLE.has(obj.kind)) throw new ForbiddenError(`only an admin can change ${displayName(obj)}`);
}

export function assertAdmin(principal: Principal, what: string): void {
  if (principal.kind !== "admin") throw new ForbiddenError(`only an admin can ${what}`);
}
