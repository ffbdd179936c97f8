import { EventEmitter } from "node:events";
import type { ProviderRegistry } from "../providers/registry.js";

export type RunStarts = EventEmitter<{ started: [group: string] }>;

const hubs = new WeakMap<ProviderRegistry, RunStarts>();

/**
 * Where one-off runs' starts are told, one per provider registry: the API's run access and the
 * loop that keeps quotas share the registry, so the loop recounts the group's quota at once
 * instead of at its next resync. (A run's end shows within the quota's 2 s look while runs run.)
 */
export function runStarts(providers: ProviderRegistry): RunStarts {
  let hub = hubs.get(providers);
  if (!hub) hubs.set(providers, (hub = new EventEmitter()));
  return hub;
}
