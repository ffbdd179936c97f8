import { strict as assert } from "node:assert";
import { ApiError } from "../../src/server/http.js";
import { admitStream } from "../../src/server/stream-cap.js";
import type { Principal } from "../../src/server/tokens.js";

const principal = (kind: Principal["kind"], name: string): Principal => ({ kind, name, uid: `u-${name}`, version: 0 });

describe("the per-account stream cap (logs and watches)", () => {
  it("refuses an account's stream past the cap with 429, counting that account's streams only", () => {
    const acme = principal("group", "acme");
    const open = [{ principal: acme }, { principal: acme }, { principal: principal("group", "acme-2") }];
    admitStream(open.slice(0, 1), acme, 2, "log");
    assert.throws(
      () => admitStream(open, acme, 2, "watch"),
      (err: unknown) =>
        err instanceof ApiError &&
        err.status === 429 &&
        err.message === "group acme has 2 watch streams open, the most one account may have; close one first",
    );
    admitStream(open, principal("group", "acme-2"), 2, "log");
    // An admin is trusted with the server's time: not counted, even under a cap of 0.
    admitStream(open, principal("admin", "acme"), 0, "log");
  });
});
