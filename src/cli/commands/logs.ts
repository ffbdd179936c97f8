import { once } from "node:events";
import { parseLogQuery } from "../../util/log-query.js";
import { type ClientOptions, withClient } from "../client/open.js";
import { parseRef, UsageError } from "../context.js";

export interface LogsOptions extends ClientOptions {
  readonly group?: string;
  readonly follow?: boolean;
  readonly tail?: string;
  readonly since?: string;
}

/**
 * Every replica's output, each line prefixed with the replica ("web-1 | ..."), read by the group's
 * provider here or through the server's API; with --follow until Ctrl-C. A run's (`run/ID`)
 * output comes as it was written, without a prefix.
 */
export async function logsCommand(words: string[], options: LogsOptions): Promise<number> {
  const run = runOf(words, options.group);
  const ref = run ? undefined : parseRef(words, options.group);
  if (ref && ref.kind !== "App" && ref.kind !== "Service")
    throw new UsageError("logs are for apps and services: airloft logs app/NAME, service/NAME or run/ID");
  const query = parseLogQuery({ follow: options.follow ? "true" : "false", tail: options.tail, since: options.since });
  return untilInterrupted((signal) =>
    withClient(options, { write: false, command: "airloft logs" }, async (client) => {
      if (run) {
        await client.runLogs(run.group, run.id, { ...query, signal, write: (_run, line) => printLine(line) });
        return 0;
      }
      const obj = ref && (await client.find(ref));
      if (obj?.kind !== "App" && obj?.kind !== "Service") throw new UsageError("logs are for apps and services");
      await client.logs(obj, { ...query, signal, write: (replica, line) => printLine(`${replica} | ${line}`) });
      return 0;
    }),
  );
}

/** Runs `work` with a signal that Ctrl-C aborts (instead of ending the process). */
export async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const interrupt = (): void => stop.abort();
  process.once("SIGINT", interrupt);
  try {
    return await work(stop.signal);
  } finally {
    process.off("SIGINT", interrupt);
  }
}

/** A pipe that reads slowly holds back the engine's stream rather than this process's memory. */
export async function printLine(line: string): Promise<void> {
  if (!process.stdout.write(`${line}\n`)) await once(process.stdout, "drain");
}

/** `run/ID -g G` or `run/G/ID`: a run's id and group, or undefined for another kind. */
function runOf(words: readonly string[], group: string | undefined): { group: string; id: string } | undefined {
  const parts = words.flatMap((w) => w.split("/")).filter((p) => p !== "");
  if (parts[0] !== "run" && parts[0] !== "runs") return undefined;
  if (parts.length === 3) return { group: parts[1] ?? "", id: parts[2] ?? "" };
  if (parts.length === 2 && group) return { group, id: parts[1] ?? "" };
  throw new UsageError("expected run/ID with -g GROUP, or run/GROUP/ID");
}
