import { LABEL, ownerLabels } from "../ownership.js";
import { NODE_LABEL } from "./desired.js";
import type { SwarmSnapshot } from "./observe.js";
import type { SwarmOperation } from "./plan.js";

/** The owner kind of the one-off job that empties a deleted service's volume. */
export const WIPE_KIND = "Wipe";

export interface WipeTarget {
  readonly instance: string;
  readonly group: string;
  readonly name: string;
  readonly uid: string;
  /** The Swarm service whose data goes, and the node its volume is on. */
  readonly serviceName: string;
  readonly node: string;
  readonly volume: string;
  readonly dataPath: string;
  readonly image: string;
}

/**
 * deletionPolicy Delete on Swarm: the manager reaches no other node's volumes, so a one-off job
 * on the volume's node empties it once the service is gone (the empty volume stays there). It
 * waits out the server's stop timeout first, so a last write at shutdown is removed too.
 */
export function planWipe(
  target: WipeTarget,
  snapshot: SwarmSnapshot,
): { operations: SwarmOperation[]; pending: boolean } {
  const where = `service:${target.group}/${target.name}`;
  const job = snapshot.services.find((s) => s.owner?.kind === WIPE_KIND && s.owner.uid === target.uid);
  if (!job)
    return {
      operations: [{ op: "create-service", target: where, cause: "deletionPolicy Delete", spec: wipeSpec(target) }],
      pending: true,
    };
  // The finished job stays as the record that the data is gone; garbage collection removes it
  // once the Service has left the store.
  const done = snapshot.tasks.some((t) => t.serviceId === job.id && t.state === "complete");
  return { operations: [], pending: !done };
}

function wipeSpec(target: WipeTarget): { name: string; labels: Record<string, string>; body: Record<string, unknown> } {
  const name = `${target.serviceName}-wipe`;
  const labels = {
    ...ownerLabels({
      instance: target.instance,
      group: target.group,
      kind: WIPE_KIND,
      name: target.name,
      uid: target.uid,
    }),
    [NODE_LABEL]: target.node,
  };
  const data = target.dataPath;
  return {
    name,
    labels,
    body: {
      Name: name,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: target.image,
          Command: ["sh", "-c", `sleep 12; rm -rf ${data}/* ${data}/.[!.]* 2>/dev/null; true`],
          Mounts: [{ Type: "volume", Source: target.volume, Target: data }],
          Labels: { [LABEL.instance]: target.instance },
        },
        RestartPolicy: { Condition: "on-failure" },
        Placement: { Constraints: [`node.id==${target.node}`] },
      },
      Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
    },
  };
}
