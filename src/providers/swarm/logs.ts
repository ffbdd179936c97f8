import { Readable } from "node:stream";
import { dockerClient, engineError } from "../docker/engine.js";
import { FrameDemuxer } from "../docker/log-frames.js";
import { deliverLines } from "../log-lines.js";
import type { LogOptions } from "../types.js";

/**
 * One Swarm task's output through the manager (which fetches it from the task's node), a line at
 * a time. dockerode streams only when following; a finished read comes whole and is split the same way.
 */
export async function taskLogs(address: string, taskId: string, replica: string, options: LogOptions): Promise<void> {
  if (options.signal?.aborted) return;
  const query = {
    follow: options.follow,
    stdout: true,
    stderr: true,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(options.since ? { since: Math.floor(options.since.getTime() / 1000) } : {}),
    ...(options.signal ? { abortSignal: options.signal } : {}),
  };
  const task = dockerClient(address).getTask(taskId) as unknown as {
    logs(opts: object): Promise<NodeJS.ReadableStream | Buffer>;
  };
  const output = await task.logs(query).catch((err: unknown) => {
    if (options.signal?.aborted) return undefined;
    throw engineError(address, err);
  });
  if (!output) return;
  const source = Buffer.isBuffer(output) ? Readable.from([output]) : (output as Readable);
  // Without a TTY the engine multiplexes stdout and stderr into one stream of frames.
  await deliverLines(source, replica, options, new FrameDemuxer());
}
