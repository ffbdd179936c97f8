import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { newLines } from "../../src/providers/aws/console-logs.js";
import { FrameDemuxer } from "../../src/providers/docker/log-frames.js";
import { deliverLines, eachReplica, lastLines } from "../../src/providers/log-lines.js";
import { MAX_TAIL, parseLogQuery } from "../../src/util/log-query.js";

function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** The lines `deliverLines` writes for these chunks, read through the engine's frame decoder when `framed`. */
async function linesOf(chunks: Buffer[], framed: boolean): Promise<string[]> {
  const seen: string[] = [];
  const decoders = framed ? [new FrameDemuxer()] : [];
  await deliverLines(Readable.from(chunks), "web-0", { write: (_r, line) => void seen.push(line) }, ...decoders);
  return seen;
}

describe("log lines: the engine's frames, line splitting, queries", () => {
  it("decodes stdout and stderr frames cut anywhere, into lines", async () => {
    const whole = Buffer.concat([frame(1, "one\ntw"), frame(2, "o\nthree\n"), frame(1, "last, no end")]);
    for (const cut of [1, 3, 8, 9, 15, 20]) {
      const parts = [whole.subarray(0, cut), whole.subarray(cut)];
      assert.deepEqual(await linesOf(parts, true), ["one", "two", "three", "last, no end"], `cut at ${cut}`);
    }
  });

  it("passes a line without an end on in bounded pieces", async () => {
    const long = "a".repeat(40 * 1024);
    const lines = await linesOf([Buffer.from(`${long}\nshort\r\n`)], false);
    assert.deepEqual(
      lines.map((l) => l.length),
      [16 * 1024, 16 * 1024, 8 * 1024, 5],
    );
    assert.equal(lines.join("").length, long.length + 5);
  });

  it("stops reading when the signal aborts, without an error", async () => {
    const stop = new AbortController();
    const endless = Readable.from(
      (function* () {
        for (;;) yield Buffer.from("tick\n");
      })(),
    );
    let seen = 0;
    await deliverLines(endless, "web-0", {
      signal: stop.signal,
      write: () => {
        seen += 1;
        if (seen === 10) stop.abort();
      },
    });
    assert.equal(seen, 10);
    assert.ok(endless.destroyed, "the source is closed");
  });

  it("a replica whose reading fails stops the others' following, and the failure is passed on", async () => {
    let stopped = false;
    const reading = eachReplica(["follows", "fails"], { follow: true, write: () => undefined }, async (r, each) => {
      if (r === "fails") throw new Error("no such container");
      await new Promise((resolve) => each.signal?.addEventListener("abort", resolve, { once: true }));
      stopped = true;
    });
    await assert.rejects(reading, /no such container/);
    await new Promise((r) => setImmediate(r));
    assert.ok(stopped, "the following replica was stopped");
  });

  it("takes the last lines of a console output, and only the new ones of a later one", () => {
    assert.deepEqual(lastLines("a\nb\nc\n", 2), ["b", "c"]);
    assert.deepEqual(lastLines("a\r\nb", undefined), ["a", "b"]);
    assert.deepEqual(newLines("a\nb\n", "a\nb\nc\nd\n"), ["c", "d"]);
    assert.deepEqual(newLines("a\nb\n", "a\nb\n"), []);
    assert.deepEqual(newLines("old\n", "x\ny\n"), ["x", "y"], "the window moved past: all of it");
  });

  it("checks a log query the same way for the CLI and the API", () => {
    const now = new Date("2026-11-30T16:00:00Z");
    assert.deepEqual(parseLogQuery({ follow: "true", tail: "5", since: "10m" }, now), {
      follow: true,
      tail: 5,
      since: new Date("2026-11-30T15:50:00Z"),
    });
    assert.deepEqual(parseLogQuery({}, now), { follow: false });
    assert.equal(parseLogQuery({ tail: String(MAX_TAIL) }).tail, MAX_TAIL);
    for (const bad of [{ tail: "10001" }, { tail: "1e3" }, { tail: " 5" }, { since: "-5m" }, { since: "" }]) {
      assert.throws(() => parseLogQuery(bad, now), { code: "BadRequest" }, JSON.stringify(bad));
    }
    assert.throws(() => parseLogQuery({ since: "1900-01-01T00:00:00Z" }, now), /since is a time/);
  });
});
