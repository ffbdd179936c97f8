import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { stringify } from "yaml";
import { TEST_IMAGE } from "../../support/engine.js";

/**
 * The same N single-replica web apps written for docker-compose and for AirLoft, for the
 * benchmarks that measure one against the other.
 */

// httpd as PID 1 ignores SIGTERM, which would make every stop wait out the engine's 10 s grace.
const COMMAND = [
  "sh",
  "-c",
  "trap 'exit 0' TERM; mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www & wait",
];

const greeting = (i: number, changed: boolean): string => (changed && i === 0 ? "changed" : "hello");

/** A compose file of `n` services; `changed` alters the first one's environment. */
export function composeFile(n: number, changed = false): string {
  const services: Record<string, object> = {};
  for (let i = 0; i < n; i++) {
    services[`app${i}`] = {
      image: TEST_IMAGE,
      command: COMMAND,
      environment: { GREETING: greeting(i, changed) },
      ports: ["127.0.0.1::8080"],
      restart: "unless-stopped",
    };
  }
  return stringify({ version: "2.4", services });
}

/** The equivalent manifests: a Group and `n` Apps in it. */
export function manifests(n: number, group: string, changed = false): string {
  const docs: object[] = [
    { apiVersion: "airloft.dev/v1alpha1", kind: "Group", metadata: { name: group }, spec: { provider: "docker" } },
  ];
  for (let i = 0; i < n; i++) {
    docs.push({
      apiVersion: "airloft.dev/v1alpha1",
      kind: "App",
      metadata: { name: `app${i}`, group },
      spec: { image: TEST_IMAGE, command: COMMAND, port: 8080, env: { GREETING: greeting(i, changed) } },
    });
  }
  return docs.map((d) => stringify(d)).join("---\n");
}

export interface Timing {
  readonly wallMs: number;
  /** User and system time of the command and its children (bash's `times`): less swayed by other load. */
  readonly cpuMs: number;
}

/** Runs a command to its end; exit codes in `ok` count as success. */
export function measured(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  ok: readonly number[] = [0],
): Promise<Timing> {
  const started = performance.now();
  // bash runs it and then reports its children's CPU time as the last line on stderr.
  const script = '"$@" >/dev/null; code=$?; times >&2; exit $code';
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      ["-c", script, "bash", command, ...args],
      { env, cwd, maxBuffer: 64 << 20, timeout: 600_000 },
      (err, _stdout, stderr) => {
        const wallMs = performance.now() - started;
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        if (!ok.includes(code)) {
          reject(new Error(`${command} ${args.join(" ")} failed (${code}): ${stderr.slice(-2000)}`));
          return;
        }
        const seconds = (stderr.trim().split("\n").at(-1) ?? "").match(/(\d+)m([\d.]+)s/g) ?? [];
        const cpuMs = seconds.reduce((sum, t) => {
          const [, m, s] = /(\d+)m([\d.]+)s/.exec(t) ?? [];
          return sum + (Number(m) * 60 + Number(s)) * 1000;
        }, 0);
        resolve({ wallMs, cpuMs });
      },
    );
  });
}

/** Runs a command to its end; its wall time in milliseconds. */
export async function timed(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  return (await measured(command, args, env, cwd)).wallMs;
}
