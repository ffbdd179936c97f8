import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { airloft } from "../support/cli.js";

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
});
