import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { deliverLines, eachReplica } from "../log-lines.js";
import { LABEL } from "../ownership.js";
import type { LiveReplicas, LogOptions } from "../types.js";
import { dockerClient, engineError } from "./engine.js";
import { FrameDemuxer } from "./log-frames.js";

/** The containers one object owns, as the engine has them now, in replica order: one list call by uid. */
async function ownedContainers(address: string, uid: string): Promise<Docker.ContainerInfo[]> {
  try {
    const filters = { label: [`${LABEL.uid}=${uid}`] };
    const containers = await dockerClient(address).listContainers({ all: true, filters });
    return containers.sort((a, b) => Number(a.Labels[LABEL.replica]) - Number(b.Labels[LABEL.replica]));
  } catch (err) {
    throw engineError(address, err);
  }
}

export async function liveContainers(address: string, uid: string): Promise<LiveReplicas> {
  const containers = await ownedContainers(address, uid);
  return {
    title: `Containers (on ${address} now)`,
    columns: ["REPLICA", "CONTAINER", "NAME", "STATUS", "PORTS", "CONFIG"],
    rows: containers.map((c) => [
      c.Labels[LABEL.replica] ?? "?",
      c.Id.slice(0, 12),
      (c.Names[0] ?? "").replace(/^\//, ""),
      c.Status,
      c.Ports.filter((p) => p.PublicPort)
        .map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}`)
        .join(",") || "-",
      c.Labels[LABEL.configHash] ?? "-",
    ]),
  };
}

/** Every replica's output, a line at a time, until the logs end (or, following, the containers stop or `signal` aborts). */
export async function containerLogs(address: string, uid: string, name: string, options: LogOptions): Promise<void> {
  const docker = dockerClient(address);
  const containers = await ownedContainers(address, uid);
  const query = {
    follow: options.follow,
    stdout: true,
    stderr: true,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.since ? { since: options.since.getTime() / 1000 } : {}),
  };
  await eachReplica(containers, options, async (c, replicaOptions) => {
    const replica = `${name}-${c.Labels[LABEL.replica] ?? "?"}`;
    if (replicaOptions.signal?.aborted) return;
    // A stream even without follow (dockerode buffers those whole): a long log is read as it is sent.
    const stream = await new Promise<Readable>((resolve, reject) =>
      docker.modem.dial(
        {
          path: `/containers/${c.Id}/logs?`,
          method: "GET",
          options: query,
          isStream: true,
          statusCodes: { 200: true, 404: "no such container", 500: "server error" },
          ...(replicaOptions.signal ? { abortSignal: replicaOptions.signal } : {}),
        },
        (err: unknown, data: unknown) => (err ? reject(engineError(address, err)) : resolve(data as Readable)),
      ),
    ).catch((err: unknown) => {
      if (replicaOptions.signal?.aborted) return undefined;
      throw err;
    });
    if (!stream) return;
    // Without a TTY the engine multiplexes stdout and stderr into one stream of frames.
    await deliverLines(stream, replica, replicaOptions, new FrameDemuxer());
  });
}
