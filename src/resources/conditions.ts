import type { BaseStatus, Condition, ConditionStatus, ConditionType } from "./types.js";

export interface ConditionInput {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/** Sets a condition; lastTransitionTime moves only when the status itself changes. */
export function setCondition<S extends BaseStatus>(
  status: S,
  input: ConditionInput,
  generation: number,
  now: Date = new Date(),
): S {
  const conditions = [...(status.conditions ?? [])];
  const index = conditions.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? conditions[index] : undefined;
  const next: Condition = {
    ...input,
    lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : now.toISOString(),
    observedGeneration: generation,
  };
  if (index >= 0) conditions[index] = next;
  else conditions.push(next);
  const order: ConditionType[] = ["Ready", "Reconciling", "Stalled", "Scheduled"];
  conditions.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
  return { ...status, conditions };
}

export function removeCondition<S extends BaseStatus>(status: S, type: ConditionType): S {
  return { ...status, conditions: (status.conditions ?? []).filter((c) => c.type !== type) };
}

export function getCondition(status: BaseStatus | undefined, type: ConditionType): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/** Ready=True at the current generation: what `apply` and `wait` wait for. */
export function isReadyAt(obj: { metadata: { generation?: number }; status?: BaseStatus }): boolean {
  const ready = getCondition(obj.status, "Ready");
  return ready?.status === "True" && ready.observedGeneration === obj.metadata.generation;
}

/** Stalled=True at the current generation: failed for good until the spec changes. */
export function isStalledAt(obj: { metadata: { generation?: number }; status?: BaseStatus }): boolean {
  const stalled = getCondition(obj.status, "Stalled");
  return stalled?.status === "True" && stalled.observedGeneration === obj.metadata.generation;
}
