/**
 * A Service's data on its own EBS volume, like the Docker named volume: tagged with the service's
 * group and name (so a Service of the same name finds it again), attached to its instance,
 * mounted by the user data, and kept or deleted by `storage.deletionPolicy`.
 */
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  paginateDescribeVolumes,
  type Volume,
} from "@aws-sdk/client-ec2";
import { TerminalError } from "../../errors.js";
import { LABEL, type OwnedLabels, parseOwnedLabels } from "../ownership.js";
import type { AwsClients } from "./clients.js";
import { tagRecord, toTags } from "./names.js";
import { ROLE_TAG } from "./observe.js";

/** Where the data volume appears on the instance (AL2023's udev rules link NVMe devices to this name). */
export const DATA_DEVICE = "/dev/sdf";
/** The role tag of a data volume; an instance's root volume carries the owner tags without it. */
export const DATA_ROLE = "data";

export interface ObservedVolume {
  readonly id: string;
  readonly owner: OwnedLabels;
  readonly zone: string;
  /** creating | available | in-use | deleting */
  readonly state: string;
  readonly attachedTo: string | undefined;
}

export function observedVolume(v: Volume): ObservedVolume[] {
  const owner = parseOwnedLabels(tagRecord(v.Tags));
  if (!owner || !v.VolumeId) return [];
  const attachment = (v.Attachments ?? []).find((a) => a.State === "attached" || a.State === "attaching");
  return [
    {
      id: v.VolumeId,
      owner,
      zone: v.AvailabilityZone ?? "",
      state: v.State ?? "unknown",
      attachedTo: attachment?.InstanceId,
    },
  ];
}

/**
 * The installation's data volumes in a region, read only where a service is reconciled, so that
 * apps pay nothing for them (a root volume carries the owner tags but not the data role).
 */
export async function describeDataVolumes(clients: AwsClients, instanceId: string): Promise<ObservedVolume[]> {
  const Filters = [
    { Name: `tag:${LABEL.instance}`, Values: [instanceId] },
    { Name: `tag:${ROLE_TAG}`, Values: [DATA_ROLE] },
  ];
  const out: ObservedVolume[] = [];
  for await (const page of paginateDescribeVolumes({ client: clients.ec2 }, { Filters }))
    out.push(...(page.Volumes ?? []).flatMap(observedVolume));
  return out;
}

export interface DesiredVolume {
  readonly sizeGiB: number;
  readonly deletionPolicy: "Retain" | "Delete";
  readonly tags: Readonly<Record<string, string>>;
}

export type VolumeOp =
  | { readonly op: "create-volume"; readonly zone: string; readonly volume: DesiredVolume }
  | { readonly op: "attach-volume"; readonly volumeId: string; readonly instanceId: string }
  | { readonly op: "delete-volume"; readonly volumeId: string };

/** `storage.size` ("10Gi", "512Mi", "20G") in whole GiB, at least 1; 10 when unset. */
export function volumeSizeGiB(size: string | undefined): number {
  if (size === undefined) return 10;
  const m = /^(\d+(?:\.\d+)?)\s*(Mi|Gi|Ti|M|G|T)?$/.exec(size.trim());
  if (!m) throw new TerminalError("InvalidConfig", `storage.size ${JSON.stringify(size)} is not a size such as 10Gi`);
  const factor: Record<string, number> = { Mi: 1 / 1024, M: 1 / 1024, Gi: 1, G: 1, Ti: 1024, T: 1024 };
  const gib = Math.ceil(Number(m[1]) * (factor[m[2] ?? "Gi"] ?? 1));
  if (gib > 16_384) throw new TerminalError("InvalidConfig", `storage.size ${size} is above EBS's 16 TiB`);
  return Math.max(1, gib);
}

/** The service's volume among those the snapshot holds: the one attached to `instanceId`, else the oldest id. */
export function findVolume(
  volumes: readonly ObservedVolume[],
  owner: { group: string; name: string },
  instanceId: string | undefined,
): ObservedVolume | undefined {
  const mine = volumes
    .filter((v) => v.owner.group === owner.group && v.owner.kind === "Service" && v.owner.name === owner.name)
    .sort((a, b) => a.id.localeCompare(b.id));
  return mine.find((v) => instanceId !== undefined && v.attachedTo === instanceId) ?? mine[0];
}

/**
 * The volume's next step for the service's current instance: made in the instance's zone once it
 * runs, attached once both are available; nothing while either is on its way.
 */
export function planVolume(
  desired: DesiredVolume,
  volume: ObservedVolume | undefined,
  current: { id: string; state: string; zone?: string | undefined } | undefined,
): { ops: VolumeOp[]; attached: boolean } {
  if (volume && current && volume.attachedTo === current.id) return { ops: [], attached: true };
  if (!current || current.state !== "running" || !current.zone) return { ops: [], attached: false };
  if (!volume) return { ops: [{ op: "create-volume", zone: current.zone, volume: desired }], attached: false };
  if (volume.state !== "available" || volume.zone !== current.zone) return { ops: [], attached: false };
  return { ops: [{ op: "attach-volume", volumeId: volume.id, instanceId: current.id }], attached: false };
}

/** A removed service's volume: deleted only under the Delete policy, once no instance holds it. */
export function planVolumeRemoval(policy: "Retain" | "Delete", volume: ObservedVolume | undefined): VolumeOp[] {
  return policy === "Delete" && volume ? [{ op: "delete-volume", volumeId: volume.id }] : [];
}

/** Runs one volume operation; returns the volume it made or changed, if any. */
export async function executeVolumeOp(clients: AwsClients, op: VolumeOp): Promise<ObservedVolume[]> {
  switch (op.op) {
    case "create-volume": {
      const tags = toTags({ ...op.volume.tags });
      const out = await clients.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: op.zone,
          Size: op.volume.sizeGiB,
          VolumeType: "gp3",
          Encrypted: true,
          TagSpecifications: [{ ResourceType: "volume", Tags: tags }],
        }),
      );
      return observedVolume({ ...out, Tags: tags });
    }
    case "attach-volume":
      await clients.ec2.send(
        new AttachVolumeCommand({ VolumeId: op.volumeId, InstanceId: op.instanceId, Device: DATA_DEVICE }),
      );
      return [];
    case "delete-volume":
      await clients.ec2.send(new DeleteVolumeCommand({ VolumeId: op.volumeId }));
      return [];
  }
}
