import { parseOwnedLabels } from "../../src/providers/ownership.js";
import type { ObservedService } from "../../src/providers/swarm/observe.js";

/** A Swarm service as observe() gives it: its name and labels, the rest settled unless given. */
export function observedService(
  fields: Pick<ObservedService, "name" | "labels"> & Partial<ObservedService>,
): ObservedService {
  return {
    id: "s1",
    version: 1,
    owner: parseOwnedLabels(fields.labels),
    replicas: 1,
    previousHash: undefined,
    updateState: undefined,
    updateMessage: undefined,
    secretNames: [],
    image: "x",
    ...fields,
  };
}
