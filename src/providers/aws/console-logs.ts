import { GetConsoleOutputCommand } from "@aws-sdk/client-ec2";
import { eachReplica, lastLines } from "../log-lines.js";
import type { LogOptions } from "../types.js";
import type { AwsClients } from "./clients.js";
import type { ObservedInstance } from "./observe.js";

/** EC2 refreshes an instance's console output every few minutes at best: asking more often finds nothing new. */
export const CONSOLE_POLL_MS = 30_000;

/** Where the previous output ends in the next one, to pass on only what is new; the window slides. */
const OVERLAP_CHARS = 1024;

/**
 * Every instance's console output (what the user-data script and the containers write to the
 * serial console), from EC2 GetConsoleOutput: no agent on the instance and no extra permission
 * beyond ec2:GetConsoleOutput. EC2 keeps only the last 64 KB and updates it late; it has no
 * per-line times, so `since` drops an instance's output last updated before it.
 */
export async function consoleLogs(
  clients: AwsClients,
  instances: readonly ObservedInstance[],
  name: string,
  options: LogOptions,
  pollMs = CONSOLE_POLL_MS,
): Promise<void> {
  await eachReplica(instances, options, async (instance, replicaOptions) => {
    const replica = `${name}-${instance.owner.replica ?? "?"}`;
    let previous: string | undefined;
    while (!replicaOptions.signal?.aborted) {
      const output = await read(clients, instance.id, replicaOptions);
      if (output === undefined) return;
      const fresh = previous === undefined ? lastLines(output, replicaOptions.tail) : newLines(previous, output);
      previous = output;
      for (const line of fresh) {
        if (replicaOptions.signal?.aborted) return;
        await replicaOptions.write(replica, line);
      }
      if (!replicaOptions.follow || !(await pause(pollMs, replicaOptions.signal))) return;
    }
  });
}

/** The console text, "" before the instance wrote any, or undefined once aborted. */
async function read(clients: AwsClients, instanceId: string, options: LogOptions): Promise<string | undefined> {
  try {
    const answer = await clients.ec2.send(
      new GetConsoleOutputCommand({ InstanceId: instanceId }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    if (options.since && answer.Timestamp && answer.Timestamp < options.since) return "";
    return Buffer.from(answer.Output ?? "", "base64").toString("utf8");
  } catch (err) {
    if (options.signal?.aborted) return undefined;
    throw err;
  }
}

/** The lines of `next` after what `previous` ended with; all of them when the window moved past it. */
export function newLines(previous: string, next: string): string[] {
  if (next === previous) return [];
  const end = previous.slice(-OVERLAP_CHARS);
  const at = end ? next.lastIndexOf(end) : -1;
  return lastLines(at === -1 ? next : next.slice(at + end.length), undefined);
}

/** Waits `ms`; false when aborted first. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve(true);
    }, ms);
    const stop = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}
