import type Docker from "dockerode";
import type { Group } from "../../resources/types.js";
import { runBounded } from "../../util/pool.js";
import { LABEL, parseOwnedLabels } from "../ownership.js";
import type { ReplicaUsage } from "../types.js";
import { dockerClient, engineError } from "./engine.js";

/**
 * One stats pass over an engine: one list call for this installation's running containers in the
 * given groups, then for each a one-shot stats read and an inspect (for the restart count), at
 * most `concurrency` at once. One-shot stats return at once (a streamed read waits a second for a
 * second sample): CPU rates come from the difference of two passes, made by the caller.
 */
export async function engineUsage(
  address: string,
  instanceId: string,
  groups: ReadonlySet<string>,
  concurrency: number,
): Promise<ReplicaUsage[]> {
  const docker = dockerClient(address);
  let containers: Docker.ContainerInfo[];
  try {
    const filters = { label: [`${LABEL.instance}=${instanceId}`], status: ["running"] };
    containers = await docker.listContainers({ filters });
  } catch (err) {
    throw engineError(address, err);
  }
  const mine = containers.flatMap((c) => {
    const owner = parseOwnedLabels(c.Labels);
    return owner && groups.has(owner.group) && owner.replica !== undefined ? [{ id: c.Id, owner }] : [];
  });
  const read = await runBounded(mine, concurrency, ({ id, owner }) =>
    containerUsage(docker, id, { ...owner, replica: String(owner.replica) }),
  );
  return read.filter((u): u is ReplicaUsage => u !== undefined);
}

/** Which replica a container is, for its usage. */
export type ReplicaIdentity = Pick<ReplicaUsage, "group" | "kind" | "name" | "uid" | "replica">;

/** One container's one-shot stats and restart count; undefined once it is gone. */
export async function containerUsage(
  docker: Docker,
  id: string,
  who: ReplicaIdentity,
): Promise<ReplicaUsage | undefined> {
  try {
    const container = docker.getContainer(id);
    const [stats, inspect] = await Promise.all([
      container.stats({ stream: false, "one-shot": true }),
      container.inspect(),
    ]);
    return {
      group: who.group,
      kind: who.kind,
      name: who.name,
      uid: who.uid,
      replica: who.replica,
      cpuSeconds: stats.cpu_stats.cpu_usage.total_usage / 1e9,
      readAt: Date.parse(stats.read) || Date.now(),
      memoryBytes: memoryInUse(stats.memory_stats),
      restarts: inspect.RestartCount ?? 0,
    };
  } catch {
    // Stopped or removed since the list: it has no usage to report.
    return undefined;
  }
}

/** Usage less the reclaimable page cache, as the docker CLI computes it (cgroup v2, then v1). */
function memoryInUse(memory: Docker.MemoryStats): number {
  const stats = (memory.stats ?? {}) as unknown as Record<string, number | undefined>;
  const cache = stats.inactive_file ?? stats.total_inactive_file ?? 0;
  return Math.max(0, (memory.usage ?? 0) - cache);
}

/** One read per engine of the groups' names on it; an engine that is down must not hide the others' figures. */
export async function perEngine<T>(
  groups: readonly Group[],
  provider: { address(group: Group): string },
  read: (address: string, groups: ReadonlySet<string>) => Promise<readonly T[]>,
): Promise<T[]> {
  const byAddress = new Map<string, Set<string>>();
  for (const group of groups) {
    const address = provider.address(group);
    byAddress.set(address, (byAddress.get(address) ?? new Set()).add(group.metadata.name));
  }
  const passes = [...byAddress].map(([address, names]) => read(address, names));
  return (await Promise.allSettled(passes)).flatMap((p) => (p.status === "fulfilled" ? p.value : []));
}
