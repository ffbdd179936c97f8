import type Docker from "dockerode";
import { runBounded } from "../../util/pool.js";
import { LOG_LINES, safeLogLines } from "../../util/safe-log-lines.js";
import { dockerClient } from "./engine.js";

/** What the engine knows of a container that exited or fails its command check: read with inspect and logs. */
export interface CrashFacts {
  readonly exitCode: number;
  /** When it last exited, in ms since the epoch; 0 when the engine does not say. */
  readonly finishedAt: number;
  /** Restarts by the engine's own restart policy since the container was last started by AirLoft. */
  readonly engineRestarts: number;
  /** The restart policy the container has now ("no" when none). */
  readonly restartPolicy: string;
  /** The exit code of the last command check, for an unhealthy container. */
  readonly checkExitCode: number | undefined;
  readonly logLines: readonly string[];
}

/** Reads the facts of a few containers: one inspect and one short log read each, a few at a time. */
export async function readCrashFacts(
  address: string,
  ids: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<Map<string, CrashFacts>> {
  const docker = dockerClient(address);
  const facts = new Map<string, CrashFacts>();
  await runBounded(ids, 4, async (id) => {
    // A container removed meanwhile has no facts: the next pass sees it gone.
    const read = await crashFactsOf(docker, id, env).catch(() => undefined);
    if (read) facts.set(id, read);
  });
  return facts;
}

async function crashFactsOf(docker: Docker, id: string, env: Readonly<Record<string, string>>): Promise<CrashFacts> {
  const container = docker.getContainer(id);
  const info = await container.inspect();
  const finished = Date.parse(info.State.FinishedAt);
  const checks = (info.State as { Health?: { Log?: Array<{ ExitCode?: number }> } }).Health?.Log ?? [];
  return {
    exitCode: info.State.ExitCode,
    finishedAt: Number.isFinite(finished) && finished > 0 ? finished : 0,
    engineRestarts: info.RestartCount,
    restartPolicy: info.HostConfig.RestartPolicy?.Name || "no",
    checkExitCode: checks.at(-1)?.ExitCode,
    logLines: safeLogLines(await lastOutput(container, Date.parse(info.State.StartedAt)), env),
  };
}

/** The last lines of stdout and stderr of the last run (a restarted container keeps the earlier runs' too). */
async function lastOutput(container: Docker.Container, startedAt: number): Promise<string> {
  // The engine stamps StartedAt after the process may have written its first lines: a second early.
  const since = Number.isFinite(startedAt) && startedAt > 0 ? { since: Math.floor(startedAt / 1000) - 1 } : {};
  const raw = await container.logs({ follow: false, stdout: true, stderr: true, tail: LOG_LINES * 2, ...since });
  return demuxFrames(raw).toString("utf8");
}

/** Without a TTY the engine sends frames: a type byte, three zero bytes, a 32-bit length, the bytes. */
export function demuxFrames(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, Math.min(raw.length, at + 8 + size)));
    at += 8 + size;
  }
  return Buffer.concat(parts);
}
