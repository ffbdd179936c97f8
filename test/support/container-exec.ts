import type Docker from "dockerode";
import { FrameDemuxer } from "../../src/providers/docker/log-frames.js";

/** Runs a command in a running container and returns what it printed (stdout and stderr), trimmed. */
export async function execOutput(docker: Docker, container: string, cmd: string[]): Promise<string> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const frames = stream.pipe(new FrameDemuxer());
    frames.on("data", (c: Buffer) => chunks.push(c));
    frames.on("end", resolve);
    stream.on("error", reject);
  });
  return Buffer.concat(chunks).toString().trim();
}
