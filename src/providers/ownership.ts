/** Ownership labels (Docker) and tags (AWS) on everything AirLoft creates (DESIGN.md, Ownership). */
export const LABEL = {
  instance: "airloft.dev/instance",
  group: "airloft.dev/group",
  kind: "airloft.dev/kind",
  name: "airloft.dev/name",
  uid: "airloft.dev/uid",
  configHash: "airloft.dev/config-hash",
  replica: "airloft.dev/replica",
} as const;

export interface OwnedLabels {
  readonly instance: string;
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly configHash: string | undefined;
  readonly replica: number | undefined;
}

/** Parses labels once into typed fields; undefined when they do not mark an AirLoft object. */
export function parseOwnedLabels(labels: Record<string, string> | undefined): OwnedLabels | undefined {
  if (!labels) return undefined;
  const instance = labels[LABEL.instance];
  const group = labels[LABEL.group];
  const kind = labels[LABEL.kind];
  const name = labels[LABEL.name];
  const uid = labels[LABEL.uid];
  if (!instance || group === undefined || !kind || !name || !uid) return undefined;
  const replicaText = labels[LABEL.replica];
  const replica = replicaText !== undefined && /^\d+$/.test(replicaText) ? Number(replicaText) : undefined;
  return { instance, group, kind, name, uid, configHash: labels[LABEL.configHash], replica };
}

export function ownerLabels(
  owner: Omit<OwnedLabels, "configHash" | "replica"> & { configHash?: string; replica?: number },
): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL.instance]: owner.instance,
    [LABEL.group]: owner.group,
    [LABEL.kind]: owner.kind,
    [LABEL.name]: owner.name,
    [LABEL.uid]: owner.uid,
  };
  if (owner.configHash !== undefined) labels[LABEL.configHash] = owner.configHash;
  if (owner.replica !== undefined) labels[LABEL.replica] = String(owner.replica);
  return labels;
}
