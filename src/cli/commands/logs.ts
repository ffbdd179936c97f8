import { PassThrough } from "node:stream";
import { createInterface } from "node:readline";
import { LABEL } from "../../providers/ownership.js";
import { ownedContainers } from "../containers.js";
import { findObject, openStore, parseRef, UsageError, type GlobalOptions } from "../context.js";

export interface LogsOptions extends GlobalOptions {
  readonly group?: string;
  readonly follow?: boolean;
  readonly tail?: string;
}

/** Every replica's output, each line prefixed with the replica ("web-1 | ..."). */
export async function logsCommand(words: string[], options: LogsOptions): Promise<number> {
  const store = await openStore(options, { write: false, command: "airloft logs" });
  const app = findObject(store, parseRef(words, options.group));
  if (app.kind !== "App") throw new UsageError("logs are for apps: airloft logs app/NAME");
  const { docker, containers } = await ownedContainers(store, app);
  const streams = containers.map(async (c) => {
    const prefix = `${app.metadata.name}-${c.Labels[LABEL.replica] ?? "?"} | `;
    const out = new PassThrough();
    const lines = createInterface({ input: out });
    lines.on("line", (line) => process.stdout.write(prefix + line + "\n"));
    const done = new Promise<void>((resolve) => lines.once("close", resolve));
    const container = docker.getContainer(c.Id);
    const tail = options.tail ? { tail: Number(options.tail) } : {};
    if (options.follow) {
      const stream = await container.logs({ follow: true, stdout: true, stderr: true, ...tail });
      docker.modem.demuxStream(stream, out, out);
      stream.on("end", () => out.end());
    } else {
      const buffer = await container.logs({ follow: false, stdout: true, stderr: true, ...tail });
      const stream = new PassThrough();
      docker.modem.demuxStream(stream, out, out);
      stream.end(buffer);
      stream.on("end", () => out.end());
    }
    await done;
  });
  await Promise.all(streams);
  return 0;
}
