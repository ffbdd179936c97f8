import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { airloft, REPO_ROOT, TSX } from "../support/cli.js";

describe("airloft serve options", function () {
  this.timeout(20_000);

  it("refuses a body limit or token lifetime it cannot use, before it starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "airloft-serve-options-"));
    try {
      for (const [args, message] of [
        [["--max-body", "lots"], /--max-body must be a number of bytes/],
        [["--token-ttl", "0s"], /--token-ttl must be longer than a second/],
      ] as const) {
        const r = await airloft(["--state", join(dir, "state.json"), "serve", "--port", "0", ...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--log-format json writes the loop's log lines as one JSON object a line; another format is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "airloft-log-format-"));
    try {
      const bad = await airloft(["--state", join(dir, "state.json"), "controller", "--log-format", "xml"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--log-format is text or json, not xml/);
      const args = ["--import", TSX, join(REPO_ROOT, "src/cli/index.ts"), "--state", join(dir, "state.json")];
      const child = spawn(process.execPath, [...args, "controller", "-o", "json"], {
        env: { ...process.env, AIRLOFT_LOG_LEVEL: "info" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      const first = await new Promise<string>((resolve, reject) => {
        child.stderr.on("data", (c: Buffer) => {
          err += c.toString();
          if (err.includes("\n")) resolve(err.split("\n")[0] ?? "");
        });
        child.once("exit", (code) => reject(new Error(`exited with ${code}: ${err}`)));
      });
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      const entry = JSON.parse(first) as { level?: string; message?: string; timestamp?: string };
      assert.equal(entry.level, "info");
      assert.match(entry.message ?? "", /controller running on/);
      assert.ok(entry.timestamp && Number.isFinite(Date.parse(entry.timestamp)), first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
