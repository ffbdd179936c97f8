import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { API_PREFIX } from "../../src/resources/kinds.js";
import { REPO_ROOT, TSX } from "./cli.js";

export const SERVE_ADMIN_PASSWORD = "e2e-admin-password";

/** `airloft serve` as its own process, on a free port of 127.0.0.1, with a temp state file. */
export class ServeProcess {
  readonly dir: string;
  readonly state: string;
  url = "";
  output = "";
  private child: ChildProcess | undefined;

  /**
   * `entry`: what runs the CLI, the sources through tsx unless given (the bundle's file, say).
   */
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly entry: readonly string[] = ["--import", TSX, join(REPO_ROOT, "src/cli/index.ts")],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "airloft-serve-"));
    this.state = join(this.dir, "state.json");
  }

  async start(extraArgs: readonly string[] = []): Promise<string> {
    const child = spawn(
      process.execPath,
      [...this.entry, "--state", this.state, "serve", "--port", "0", "--resync", "5s", ...extraArgs],
      {
        cwd: this.dir,
        env: { ...process.env, AIRLOFT_ADMIN_PASSWORD: SERVE_ADMIN_PASSWORD, AIRLOFT_LOG_LEVEL: "warn", ...this.env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    const stdout = child.stdout;
    if (!stdout) throw new Error("serve has no stdout");
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${this.output}`)), 60_000);
      child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${this.output}`)));
      createInterface({ input: stdout }).on("line", (line) => {
        this.output += `${line}\n`;
        const match = /serving .* at (http:\/\/\S+)/.exec(line);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    return this.url;
  }

  /** SIGTERM, then the exit code (graceful shutdown: in-flight work ends, the store is flushed). */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  /**
   * Deletes groups with everything in them and waits until they are gone: group names are
   * unique per engine, and the suites share one.
   */
  async deleteGroups(groups: readonly string[]): Promise<void> {
    const admin = await this.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    for (const group of groups) await this.api("DELETE", `${API_PREFIX}/groups/${group}?cascade=true`, admin);
    const deadline = Date.now() + 60_000;
    for (const group of groups) {
      while ((await this.api("GET", `${API_PREFIX}/groups/${group}`, admin)).status !== 404) {
        if (Date.now() > deadline) throw new Error(`group ${group} was not deleted: ${this.output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** SIGKILL: no shutdown, no flush; whatever was in flight is cut. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }

  /** The server's process id, to look at what it holds open (/proc/PID/fd). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Logs in through the API and returns the token. */
  async token(account: { admin: string } | { group: string }, password: string): Promise<string> {
    const res = await fetch(`${this.url}/api/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...account, password }),
    });
    const body = (await res.json()) as { token?: string; message?: string };
    if (!body.token) throw new Error(`login failed: ${body.message}`);
    return body.token;
  }

  async api(method: string, path: string, token: string, body?: string): Promise<{ status: number; json: unknown }> {
    const res = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/yaml" } : {}) },
      ...(body ? { body } : {}),
    });
    return { status: res.status, json: await res.json().catch(() => undefined) };
  }
}
