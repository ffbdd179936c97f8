import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { App } from "../../src/resources/types.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { airloft, type CliResult, REPO_ROOT, TSX } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

/**
 * One list of commands, run both ways on one real engine: on a local state file (the embedded
 * loop) and with --server against `airloft serve`. Each way has its own group; every case
 * expects the same exit code and the same output of both.
 */
interface Way {
  readonly name: "local" | "server";
  readonly group: string;
  readonly dir: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

interface Case {
  readonly name: string;
  readonly args: (g: string) => string[];
  readonly code: number;
  readonly stdout?: (g: string) => RegExp[];
  readonly stderr?: (g: string) => RegExp[];
  readonly check?: (r: CliResult, g: string) => void;
  /** Runs until this shows on stdout, then is interrupted (get --watch). */
  readonly until?: (g: string) => RegExp;
  /** A controller holds the local state file meanwhile (the server's loop always runs). */
  readonly withController?: boolean;
}

const group = (g: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${g}\nspec:\n  provider: docker\n`;
const app = (g: string, name: string, replicas: number): string => `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: ${name}
  group: ${g}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "echo hi > /www/index.html && exec httpd -f -p $PORT -h /www"]
  replicas: ${replicas}
  port: 8080
  healthCheck:
    http:
      path: /
    intervalSeconds: 1
`;

/** A whole line of output; `pattern` is a regular expression's source. */
const line = (pattern: string): RegExp => new RegExp(`^${pattern}$`, "m");

const CASES: readonly Case[] = [
  {
    name: "apply creates and waits until Ready",
    args: () => ["apply", "-f", "group.yaml", "-f", "web.yaml"],
    code: 0,
    stdout: (g) => [
      line(`group/${g} created`),
      line(`app/${g}/web created`),
      new RegExp(`✓ app/${g}/web ready: 1/1 replicas ready`),
    ],
  },
  {
    name: "apply again changes nothing",
    args: () => ["apply", "-f", "web.yaml"],
    code: 0,
    stdout: (g) => [line(`app/${g}/web unchanged`)],
  },
  {
    name: "apply --dry-run shows the change and stores nothing",
    args: () => ["apply", "-f", "web-2.yaml", "--dry-run"],
    code: 0,
    stdout: (g) => [line(`app/${g}/web configured \\(dry run\\)`)],
  },
  {
    name: "diff shows spec changes and planned operations, exit 1",
    args: () => ["diff", "-f", "web-2.yaml"],
    code: 1,
    stdout: (g) => [
      line(`app/${g}/web`),
      /^\s+-\s+replicas: 1$/m,
      /^\s+\+\s+replicas: 2$/m,
      new RegExp(`~ app:${g}/web:1 create \\(missing\\)`),
    ],
  },
  {
    name: "diff of what is applied: no changes, exit 0",
    args: () => ["diff", "-f", "web.yaml"],
    code: 0,
    stdout: () => [/^no changes$/m],
  },
  {
    name: "get lists the objects",
    args: () => ["get"],
    code: 0,
    stdout: (g) => [
      /^KIND\s+GROUP\s+NAME\s+READY\s+REASON\s+AGE$/m,
      new RegExp(`^app\\s+${g}\\s+web\\s+True\\s+Converged`, "m"),
    ],
  },
  {
    name: "get -o json of one object",
    args: () => ["get", "app/web", "-o", "json"],
    code: 0,
    check: (r) => assert.equal((JSON.parse(r.stdout) as App).status?.readyReplicas, 1),
  },
  {
    name: "describe",
    args: () => ["describe", "app/web"],
    code: 0,
    stdout: () => [/^Kind:\s+App$/m, /^Replicas:\s+1 ready/m, /Created\s+created by apply/],
  },
  {
    name: "wait for Ready",
    args: () => ["wait", "app/web", "--for", "condition=Ready", "--timeout", "30s"],
    code: 0,
    stdout: () => [/^app\/web condition met$/m],
  },
  {
    name: "wait that times out",
    args: () => ["wait", "app/web", "--for", "condition=Stalled=True", "--timeout", "1s"],
    code: 1,
    stderr: () => [/timed out waiting for condition=Stalled=True on app\/web/],
  },
  { name: "suspend", args: () => ["suspend", "app/web"], code: 0, stdout: (g) => [line(`App/${g}/web suspended`)] },
  { name: "describe says so", args: () => ["describe", "app/web"], code: 0, stdout: () => [/^Suspended:\s+yes/m] },
  { name: "resume", args: () => ["resume", "app/web"], code: 0, stdout: (g) => [line(`App/${g}/web resumed`)] },
  {
    name: "reconcile, through the running loop",
    args: () => ["reconcile", "app/web"],
    code: 0,
    stdout: (g) => [line(`App/${g}/web queued for reconcile`)],
    withController: true,
  },
  {
    name: "get --watch prints the rows, then the changes",
    args: () => ["get", "app", "--watch", "-o", "json"],
    code: 0,
    until: (g) => new RegExp(`"type":"ADDED".*"name":"web","group":"${g}"`),
  },
  {
    name: "apply --prune applies a set",
    args: () => ["apply", "-f", "set-1", "--prune", "--source", "set"],
    code: 0,
    stdout: (g) => [line(`app/${g}/web unchanged`), line(`app/${g}/extra created`)],
  },
  {
    name: "apply --prune deletes what the set no longer defines, and waits until it is gone",
    args: () => ["apply", "-f", "set-2", "--prune", "--source", "set"],
    code: 0,
    stdout: (g) => [line(`app/${g}/extra deleted \\(pruned\\)`)],
    check: (r, g) => assert.doesNotMatch(r.stdout, new RegExp(`^app/${g}/web deleted`, "m")),
  },
  {
    name: "get sources lists the set",
    args: () => ["get", "sources"],
    code: 0,
    stdout: () => [/^NAME\s+KIND\s+PATH/m, /^set\s+apply\s+\S+\s+-\s+Succeeded\s+\S+\s+1\/1$/m],
  },
  {
    name: "get -o wide names the set",
    args: () => ["get", "app/web", "-o", "wide"],
    code: 0,
    stdout: (g) => [new RegExp(`^app\\s+${g}\\s+web\\s+True\\s+Converged\\s+\\S+\\s+1/1\\s+\\S+\\s+set\\s`, "m")],
  },
  { name: "describe names the set", args: () => ["describe", "app/web"], code: 0, stdout: () => [/^Source:\s+set$/m] },
  {
    name: "get of a pruned object: not found",
    args: (g) => ["get", `app/${g}/extra`],
    code: 2,
    stderr: () => [/not found/],
  },
  {
    name: "delete waits until the object is gone",
    args: () => ["delete", "app/web"],
    code: 0,
    stdout: (g) => [line(`app/${g}/web deleted`)],
  },
  { name: "wait --for delete of what is gone", args: (g) => ["wait", `app/${g}/web`, "--for", "delete"], code: 0 },
  {
    name: "get of a deleted object: not found",
    args: (g) => ["get", `app/${g}/web`],
    code: 2,
    stderr: () => [/not found/],
  },
];

describe("the same commands on a local state file and against airloft serve", function () {
  this.timeout(180_000);
  let server: ServeProcess;
  let ways: Way[];
  let localDir: string;
  let engineHost: string;

  before(async function () {
    const engine = await requireEngine(this);
    engineHost = engine.host;
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
    localDir = mkdtempSync(join(tmpdir(), "airloft-both-"));
    // The server's client cannot reach the engine: what it shows comes from the server.
    const credentials = join(server.dir, "credentials.json");
    const serverEnv = { DOCKER_HOST: "unix:///nonexistent", AIRLOFT_CONFIG: credentials, CI: "" };
    const login = await airloft(["login", "--server", server.url, "--admin", "admin"], {
      env: { ...serverEnv, AIRLOFT_PASSWORD: SERVE_ADMIN_PASSWORD },
      cwd: server.dir,
    });
    assert.equal(login.code, 0, login.stderr);
    ways = [
      {
        name: "local",
        group: "both-local",
        dir: localDir,
        args: ["--state", join(localDir, "state.json")],
        env: { DOCKER_HOST: engine.host },
      },
      { name: "server", group: "both-server", dir: server.dir, args: ["--server", server.url], env: serverEnv },
    ];
    for (const way of ways) {
      const g = way.group;
      writeFileSync(join(way.dir, "group.yaml"), group(g));
      writeFileSync(join(way.dir, "web.yaml"), app(g, "web", 1));
      writeFileSync(join(way.dir, "web-2.yaml"), app(g, "web", 2));
      mkdirSync(join(way.dir, "set-1"));
      mkdirSync(join(way.dir, "set-2"));
      writeFileSync(join(way.dir, "set-1", "web.yaml"), app(g, "web", 1));
      writeFileSync(join(way.dir, "set-1", "extra.yaml"), app(g, "extra", 1));
      writeFileSync(join(way.dir, "set-2", "web.yaml"), app(g, "web", 1));
    }
  });

  after(async function () {
    this.timeout(90_000);
    const local = ways?.find((w) => w.name === "local");
    if (local) {
      const args = [...local.args, "delete", `group/${local.group}`, "--cascade", "--timeout", "60s"];
      await airloft(args, { env: local.env, cwd: local.dir });
    }
    if (server?.url) await server.deleteGroups(["both-server"]);
    await server?.stop();
    server?.remove();
    if (localDir) rmSync(localDir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(c.name, async () => {
      await Promise.all(
        ways.map(async (way) => {
          const g = way.group;
          const r = await runCase(way, c);
          const shown = `${way.name}: airloft ${c.args(g).join(" ")}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
          assert.equal(r.code, c.code, shown);
          for (const pattern of c.stdout?.(g) ?? []) assert.match(r.stdout, pattern, shown);
          for (const pattern of c.stderr?.(g) ?? []) assert.match(r.stderr, pattern, shown);
          c.check?.(r, g);
        }),
      );
    });
  }

  it("logs shows the replicas' output both ways, from one implementation", async () => {
    await Promise.all(ways.map((w) => airloft([...w.args, "apply", "-f", "web.yaml"], { env: w.env, cwd: w.dir })));
    const [here, there] = await Promise.all(
      ways.map((w) => airloft([...w.args, "logs", "app/web", "--tail", "5"], { env: w.env, cwd: w.dir })),
    );
    assert.equal(here?.code, 0, here?.stderr);
    assert.equal(there?.code, 0, there?.stderr);
    assert.equal(here?.stdout, there?.stdout);
    const bad = await Promise.all(
      ways.map((w) => airloft([...w.args, "logs", "app/web", "--tail", "lots"], { env: w.env, cwd: w.dir })),
    );
    for (const r of bad) {
      assert.equal(r.code, 2);
      assert.match(r.stderr, /tail is a number of lines from 0 to 10000/);
    }
  });

  /** Runs a case one way: as a plain command, until a line shows, or beside a running controller. */
  async function runCase(way: Way, c: Case): Promise<CliResult> {
    const args = [...way.args, ...c.args(way.group)];
    if (c.until) return runUntil(way, args, c.until(way.group));
    if (!(c.withController && way.name === "local")) return airloft(args, { env: way.env, cwd: way.dir });
    const controller = spawnCli(way, [...way.args, "controller"]);
    try {
      await new Promise<void>((resolve, reject) => {
        controller.once("exit", (code) => reject(new Error(`the controller exited with ${code}`)));
        createInterface({ input: controller.stderr }).on("line", (line) => {
          if (/controller running/.test(line)) resolve();
        });
      });
      return await airloft(args, { env: { ...way.env, DOCKER_HOST: engineHost }, cwd: way.dir });
    } finally {
      const exited = new Promise((r) => controller.once("exit", r));
      controller.kill("SIGTERM");
      await exited;
    }
  }

  async function runUntil(way: Way, args: string[], pattern: RegExp): Promise<CliResult> {
    const child = spawnCli(way, args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
    for (let i = 0; i < 300 && !pattern.test(stdout) && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGINT");
    return { code: await exited, stdout, stderr };
  }

  function spawnCli(way: Way, args: readonly string[]) {
    return spawn(process.execPath, ["--import", TSX, join(REPO_ROOT, "src/cli/index.ts"), ...args], {
      cwd: way.dir,
      env: { ...process.env, AIRLOFT_LOG_LEVEL: "info", ...way.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }
});
