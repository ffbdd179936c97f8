import type { RunningRuns } from "../controllers/context.js";
import type { ProviderRegistry } from "../providers/registry.js";
import { listRuns } from "./docker-runs.js";
import { dockerOf } from "./run-template.js";

/** A group's runs running on its engine, by their labels (Docker; none on another provider yet). */
export function engineRuns(providers: ProviderRegistry): RunningRuns {
  return {
    async running(group) {
      const docker = dockerOf(await providers.for(group));
      if (!docker) return [];
      return (await listRuns(docker.address(group), docker.instanceId, group.metadata.name)).filter((r) => r.running);
    },
  };
}
