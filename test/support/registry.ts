import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../support/ports.js";

/**
 * Debian's docker-registry on 127.0.0.1 (or the test swarm's bridge address), with htpasswd auth
 * when a user is given, and its config and data in a temp folder.
 */
export class TestRegistry {
  private constructor(
    readonly address: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(user?: string, password?: string, host = "127.0.0.1"): Promise<TestRegistry> {
    const dir = mkdtempSync(join(tmpdir(), "airloft-registry-"));
    const port = await freePort();
    if (user && password) writeFileSync(join(dir, "htpasswd"), execFileSync("htpasswd", ["-Bbn", user, password]));
    writeFileSync(
      join(dir, "config.yml"),
      [
        "version: 0.1",
        "log: {level: warn}",
        `storage: {filesystem: {rootdirectory: ${join(dir, "data")}}}`,
        `http: {addr: "${host}:${port}"}`,
        ...(user ? [`auth: {htpasswd: {realm: airloft-test, path: ${join(dir, "htpasswd")}}}`] : []),
        "",
      ].join("\n"),
    );
    const child = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: "ignore" });
    const address = `${host}:${port}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await fetch(`http://${address}/v2/`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === (user ? 401 : 200)) break;
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill();
        throw new Error(`docker-registry did not start on ${address}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return new TestRegistry(address, child, dir);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
