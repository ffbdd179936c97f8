import type Docker from "dockerode";
import { runBounded } from "../../util/pool.js";
import { dockerClient } from "./engine.js";
import { oneLine } from "./probe.js";

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

export const LOG_LINES = 3;
export const LOG_LINE_CHARS = 120;
/** Shorter values are too common ("true", ports) to hide, and too short to be a credential. */
const MIN_SECRET_LENGTH = 4;

/**
 * The last lines of a container's output as a condition may show them: each on one line and
 * cut, and every env value (service passwords among them) replaced by ***, since an app may
 * print its environment.
 */
export function safeLogLines(output: string, env: Readonly<Record<string, string>>, lines = LOG_LINES): string[] {
  const secrets = Object.entries(env)
    .filter(([name, value]) => name !== "PORT" && value.length >= MIN_SECRET_LENGTH)
    .map(([, value]) => value)
    .sort((a, b) => b.length - a.length);
  return output
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .slice(-lines)
    .map((line) =>
      oneLine(
        secrets.reduce((text, secret) => text.split(secret).join("***"), line),
        LOG_LINE_CHARS,
      ),
    );
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
