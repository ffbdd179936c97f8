import { createHash } from "node:crypto";

export function digest(...parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** ELBv2 names (32 characters) cannot hold a uid; a hash of installation and uid names them. */
export function namePrefix(instanceId: string): string {
  return `al${digest(instanceId).slice(0, 6)}-`;
}

export function loadBalancerName(instanceId: string, groupUid: string): string {
  return `${namePrefix(instanceId)}${digest(groupUid).slice(0, 16)}`;
}

export function targetGroupName(instanceId: string, uid: string): string {
  return `${namePrefix(instanceId)}${digest(uid).slice(0, 23)}`;
}

/**
 * Same app, config, replica and attempt: same token, so a retried RunInstances cannot start a
 * second instance. AWS keeps a token bound to its instance after termination, so a relaunch of
 * the replica (stopped by hand, scaled down and up, rolled back) needs the next attempt.
 */
export function runClientToken(uid: string, configHash: string, replica: number, attempt: number): string {
  return digest("run", uid, configHash, String(replica), ...(attempt > 0 ? [String(attempt)] : [])).slice(0, 64);
}

export function securityGroupName(group: string, groupUid: string, role: string): string {
  return `airloft-${group}-${role}-${digest(groupUid).slice(0, 8)}`;
}

export function toTags(labels: Readonly<Record<string, string>>): Array<{ Key: string; Value: string }> {
  return Object.entries(labels).map(([Key, Value]) => ({ Key, Value }));
}

export function tagRecord(
  tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? "";
  return out;
}

/** The i-th subnet of `newBits` more bits inside an IPv4 CIDR: ("10.0.0.0/16", 4, 1) -> 10.0.16.0/20. */
export function subnetCidr(cidr: string, newBits: number, index: number): string {
  const [base, prefixText] = cidr.split("/");
  const prefix = Number(prefixText);
  const [a = 0, b = 0, c = 0, d = 0] = (base ?? "").split(".").map(Number);
  const start = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const newPrefix = prefix + newBits;
  if (newPrefix > 28) throw new RangeError(`${cidr} is too small for ${2 ** newBits} subnets`);
  const value = (start + index * 2 ** (32 - newPrefix)) >>> 0;
  return `${[value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".")}/${newPrefix}`;
}
