import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { airloft, REPO_ROOT, TSX } from "../support/cli.js";

const TOKEN = "controller-metrics-token-0123";

/** `airloft controller` with the given flags, until it says where its metrics are. */
async function controller(state: string, args: readonly string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["--import", TSX, join(REPO_ROOT, "src/cli/index.ts"), "--state", state, "controller", ...args],
    { env: { ...process.env, AIRLOFT_LOG_LEVEL: "warn", DOCKER_HOST: "unix:///nonexistent" }, stdio: "pipe" },
  );
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`controller exited with ${code}: ${output}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /serving metrics at (\S+)/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
  });
  return { url, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || !child.pid) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  await exited;
}

describe("metrics flags of airloft controller and serve", function () {
  this.timeout(30_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "airloft-metrics-cli-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("controller --metrics-address with a bare port serves /metrics on 127.0.0.1 only", async () => {
    const { url, child } = await controller(join(dir, "state.json"), ["--metrics-address", "0"]);
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^# TYPE airloft_reconciles_total counter$/m);
      assert.equal((await fetch(url.replace(/\/metrics$/, "/other"))).status, 404);
    } finally {
      await stop(child);
    }
  });

  it("controller --metrics-token-file asks the scraper for the token", async () => {
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const { url, child } = await controller(join(dir, "state.json"), [
      "--metrics-address",
      "127.0.0.1:0",
      "--metrics-token-file",
      tokenFile,
    ]);
    try {
      assert.equal((await fetch(url)).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: "Bearer nope" } })).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    } finally {
      await stop(child);
    }
  });

  it("refuses an open listener beyond this machine, a bad address and a short token, without echoing it", async () => {
    const state = join(dir, "state.json");
    const short = join(dir, "short");
    writeFileSync(short, "tiny-secret\n");
    for (const [args, message] of [
      [["controller", "--metrics-address", "0.0.0.0:0"], /beyond this machine: give --metrics-token-file/],
      [["controller", "--metrics-address", "nowhere"], /--metrics-address must be HOST:PORT or a port/],
      [["controller", "--metrics-address", "0", "--metrics-token-file", short], /at least 16 characters/],
      [["serve", "--port", "0", "--metrics-token-file", short], /at least 16 characters/],
      [["serve", "--port", "0", "--metrics-token-file", join(dir, "missing")], /cannot read .*ENOENT/],
      [["serve", "--port", "0", "--stats-interval", "10ms"], /--stats-interval must be 1s or more/],
    ] as const) {
      const r = await airloft(["--state", state, ...args], { env: { DOCKER_HOST: "unix:///nonexistent" } });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr + r.stdout, /tiny-secret/);
    }
  });
});
