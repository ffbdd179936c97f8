import { type ClientOptions, withClient } from "../client/open.js";
import type { ResourceClient } from "../client/types.js";
import { parseRef, UsageError } from "../context.js";
import { printLine, untilInterrupted } from "./logs.js";

export interface RunOptions extends ClientOptions {
  readonly group?: string;
  readonly detach?: boolean;
}

/** How often the run's end is asked for once its output ended (the engine closes the stream first). */
const EXIT_POLL_MS = 200;

/**
 * `airloft run app/NAME -- CMD ARGS`: runs the command like a job of the app (its image, env,
 * secrets and bound services), streams its output, and exits with its exit code; with --detach,
 * prints the run's id and leaves it running (`airloft logs run/ID` follows it).
 */
export async function runCommand(words: string[], command: string[], options: RunOptions): Promise<number> {
  const ref = parseRef(words, options.group);
  if (ref.kind !== "App") throw new UsageError("runs are of apps: airloft run app/NAME -- COMMAND [ARGS...]");
  if (command.length === 0) throw new UsageError("give the command after --: airloft run app/NAME -- COMMAND");
  return withClient(options, { write: false, command: "airloft run" }, async (client) => {
    const app = await client.find(ref);
    if (app.kind !== "App") throw new UsageError("runs are of apps");
    const group = app.metadata.group ?? "";
    const id = await client.startRun(app, command);
    if (options.detach) {
      process.stdout.write(`${id}\n`);
      return 0;
    }
    process.stderr.write(`run ${id} started; Ctrl-C leaves it running (airloft logs run/${id} -g ${group} -f)\n`);
    return followRun(client, group, id);
  });
}

/** Streams a run's output until it ends, then returns its exit code (130 on Ctrl-C: the run goes on). */
export async function followRun(client: ResourceClient, group: string, id: string): Promise<number> {
  return untilInterrupted(async (signal) => {
    await client.runLogs(group, id, { follow: true, signal, write: (_run, line) => printLine(line) });
    if (signal.aborted) return 130;
    for (;;) {
      const state = await client.runState(group, id);
      if (!state.running) return state.exitCode ?? 1;
      await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
    }
  });
}
