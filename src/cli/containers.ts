import type Docker from "dockerode";
import { dockerClient, engineError, resolveEngineAddress } from "../providers/docker/engine.js";
import { LABEL } from "../providers/ownership.js";
import { objectKey } from "../resources/kinds.js";
import type { Resource } from "../resources/types.js";
import type { Store } from "../store/store.js";

/**
 * The containers an object owns on its group's engine, as the engine has them now, in replica
 * order: one list call filtered by the object's uid. For `describe` and `logs`.
 */
export async function ownedContainers(store: Store, obj: Resource): Promise<{ address: string; docker: Docker; containers: Docker.ContainerInfo[] }> {
  const group = store.get(objectKey("Group", "", obj.metadata.group ?? ""));
  const address = resolveEngineAddress(group?.kind === "Group" ? group.spec.docker?.host : undefined);
  const docker = dockerClient(address);
  try {
    const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL.uid}=${obj.metadata.uid ?? ""}`] } });
    containers.sort((a, b) => Number(a.Labels[LABEL.replica]) - Number(b.Labels[LABEL.replica]));
    return { address, docker, containers };
  } catch (err) {
    throw engineError(address, err);
  }
}
