import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { LABEL } from "../ownership.js";
import type { LiveReplicas, LogOptions } from "../types.js";
import { dockerClient, engineError } from "./engine.js";

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

/** Every replica's output, a line at a time, until the logs end (or, following, the containers stop). */
export async function containerLogs(address: string, uid: string, name: string, options: LogOptions): Promise<void> {
  const docker = dockerClient(address);
  const containers = await ownedContainers(address, uid);
  const tail = options.tail !== undefined ? { tail: options.tail } : {};
  await Promise.all(
    containers.map(async (c) => {
      const replica = `${name}-${c.Labels[LABEL.replica] ?? "?"}`;
      const out = new PassThrough();
      const lines = createInterface({ input: out });
      lines.on("line", (line) => options.write(replica, line));
      const done = new Promise<void>((resolve) => lines.once("close", resolve));
      const container = docker.getContainer(c.Id);
      // Without a TTY the engine multiplexes stdout and stderr into one stream of frames.
      const stream = options.follow
        ? await container.logs({ follow: true, stdout: true, stderr: true, ...tail })
        : new PassThrough().end(await container.logs({ follow: false, stdout: true, stderr: true, ...tail }));
      docker.modem.demuxStream(stream, out, out);
      stream.on("end", () => out.end());
      await done;
    }),
  );
}
