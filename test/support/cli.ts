import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "../..");
/** tsx as an absolute URL: `--import tsx` would resolve from the cwd, a temp folder here. */
export const TSX = import.meta.resolve("tsx");

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the airloft command from the sources, as a separate process, as a user would. */
export function airloft(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX, join(ROOT, "src/cli/index.ts"), ...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 180_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export const REPO_ROOT = ROOT;

/** `airloft ARGS` (a long-running command) from the sources in the background; its stderr is kept. */
export interface BackgroundCli {
  readonly child: ChildProcess;
  /** What it wrote on stderr so far. */
  log(): string;
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>;
}

export function startAirloft(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): BackgroundCli {
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli/index.ts"), ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  return {
    child,
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
