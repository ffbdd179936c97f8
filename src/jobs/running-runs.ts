import type { RunningRuns } from "../controllers/context.js";
import type { ProviderRegistry } from "../providers/registry.js";
import { groupRunsOf } from "./aws-group-runs.js";
import { awsTasksOf } from "./aws-runs.js";
import { listRuns } from "./docker-runs.js";
import { dockerOf } from "./run-template.js";

/**
 * How old the listing of a group's runs on AWS the quota's count may take: the quota looks every
 * 2 s while runs run, and each look is not worth an EC2 call (the job pass lists as often).
 */
const AWS_COUNT_MAX_AGE_MS = 15_000;

/** A group's runs running: containers by their labels (Docker), task instances by their tags (AWS). */
export function engineRuns(providers: ProviderRegistry, now: () => number = Date.now): RunningRuns {
  return {
    async running(group) {
      const provider = await providers.for(group);
      const docker = dockerOf(provider);
      if (docker)
        return (await listRuns(docker.address(group), docker.instanceId, group.metadata.name)).filter((r) => r.running);
      const tasks = awsTasksOf(provider);
      if (!tasks) return [];
      return groupRunsOf(tasks).running(group, { maxAgeMs: AWS_COUNT_MAX_AGE_MS, now: now() });
    },
  };
}
