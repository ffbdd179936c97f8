import type Docker from "dockerode";
import { LABEL, type OwnedLabels, parseOwnedLabels } from "../ownership.js";
import { SnapshotCache } from "../snapshot-cache.js";
import { dockerClient, engineError } from "./engine.js";

export interface ObservedContainer {
  readonly id: string;
  readonly name: string;
  readonly state: string; // created | running | paused | restarting | exited | dead | removing
  /** Docker's own health (command checks): "healthy", "unhealthy", "starting" or undefined. */
  readonly health: string | undefined;
  readonly owner: OwnedLabels;
  readonly imageId: string;
  readonly ports: ReadonlyArray<{ privatePort: number; publicPort?: number; ip?: string }>;
  /** The container's address on each network it joined, by network name (the edge's upstreams). */
  readonly networks: Readonly<Record<string, string>>;
}

export interface ObservedNetwork {
  readonly id: string;
  readonly name: string;
  readonly owner: OwnedLabels;
  readonly subnets: readonly string[];
  readonly gateways: readonly string[];
}

export interface ObservedVolume {
  readonly name: string;
  readonly owner: OwnedLabels;
}

export interface ObservedImage {
  readonly id: string;
  readonly tags: readonly string[];
}

/** Everything AirLoft needs to know of one engine, read in one pass: four list calls. */
export interface Snapshot {
  readonly address: string;
  readonly takenAt: number;
  readonly containers: readonly ObservedContainer[];
  readonly networks: readonly ObservedNetwork[];
  readonly volumes: readonly ObservedVolume[];
  readonly images: readonly ObservedImage[];
}

function healthOf(status: string | undefined): string | undefined {
  const match = /\((healthy|unhealthy|health: starting)\)/.exec(status ?? "");
  return match?.[1] === "health: starting" ? "starting" : match?.[1];
}

async function takeSnapshot(address: string, instanceId: string): Promise<Snapshot> {
  const docker = dockerClient(address);
  const filters = { label: [`${LABEL.instance}=${instanceId}`] };
  try {
    const [containers, networks, volumes, images] = await Promise.all([
      docker.listContainers({ all: true, filters }),
      docker.listNetworks({ filters }),
      docker.listVolumes({ filters }),
      docker.listImages(),
    ]);
    return {
      address,
      takenAt: Date.now(),
      containers: containers.flatMap((c) => {
        const owner = parseOwnedLabels(c.Labels);
        if (!owner) return [];
        return [
          {
            id: c.Id,
            name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
            state: c.State,
            health: healthOf(c.Status),
            owner,
            imageId: c.ImageID,
            ports: c.Ports.map((p) => ({
              privatePort: p.PrivatePort,
              ...(p.PublicPort ? { publicPort: p.PublicPort } : {}),
              ...(p.IP ? { ip: p.IP } : {}),
            })),
            networks: Object.fromEntries(
              Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => [name, n.IPAddress ?? ""]),
            ),
          },
        ];
      }),
      networks: observeNetworks(networks),
      volumes: (volumes.Volumes ?? []).flatMap((v) => {
        const owner = parseOwnedLabels(v.Labels ?? undefined);
        return owner ? [{ name: v.Name, owner }] : [];
      }),
      images: images.map((i) => ({ id: i.Id, tags: i.RepoTags ?? [] })),
    };
  } catch (err) {
    throw engineError(address, err);
  }
}

/** The engine's networks that carry AirLoft's labels (the Swarm provider reads its overlays the same way). */
export function observeNetworks(networks: readonly Docker.NetworkInspectInfo[]): ObservedNetwork[] {
  return networks.flatMap((n) => {
    const owner = parseOwnedLabels(n.Labels);
    const ipam = n.IPAM?.Config ?? [];
    const subnets = ipam.flatMap((c) => (c.Subnet ? [c.Subnet] : []));
    const gateways = ipam.flatMap((c) => (c.Gateway ? [c.Gateway] : []));
    return owner ? [{ id: n.Id, name: n.Name, owner, subnets, gateways }] : [];
  });
}

/** One snapshot per engine address, shared by the reconciles of a pass. */
export function engineSnapshots(instanceId: string): SnapshotCache<Snapshot> {
  return new SnapshotCache((address) => takeSnapshot(address, instanceId));
}
