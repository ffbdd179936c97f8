import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { WatchConnection } from "../../src/server/watch-connection.js";
import { type PacedWriter, WritePacer } from "../../src/server/write-pacer.js";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A writer that has `pieces` pieces to write, recording each turn it gets in `log`. */
function writer(name: string, pieces: number, log: string[]): PacedWriter {
  let left = pieces;
  return {
    writeSome: () => {
      log.push(name);
      left -= 1;
      return left > 0;
    },
  };
}

/** A response whose client takes `accepts` writes, then stops reading (write returns false, no 'drain'). */
function stalledResponse(accepts: number): { res: ServerResponse; written: string[] } {
  const written: string[] = [];
  const res = Object.assign(new EventEmitter(), {
    writableLength: 0,
    writableEnded: false,
    write: (line: string) => {
      written.push(line);
      return written.length < accepts;
    },
    end: () => undefined,
    destroy: () => undefined,
  });
  return { res: res as unknown as ServerResponse, written };
}

describe("write pacer: streams write in turns of the event loop", () => {
  it("never writes inline, and gives waiting writers pieces round-robin", async () => {
    const log: string[] = [];
    // A zero slice: one piece per turn, so the order shows.
    const pacer = new WritePacer(0);
    pacer.wake(writer("a", 3, log));
    pacer.wake(writer("b", 2, log));
    assert.deepEqual(log, [], "wake() only asks for a turn");
    for (let i = 0; i < 6; i++) await turn();
    assert.deepEqual(log, ["a", "b", "a", "b", "a"]);
  });

  it("gives one turn however often a writer asks, and none once forgotten", async () => {
    const log: string[] = [];
    const pacer = new WritePacer();
    const w = writer("a", 1, log);
    pacer.wake(w);
    pacer.wake(w);
    await turn();
    await turn();
    assert.deepEqual(log, ["a"]);
    pacer.wake(w);
    pacer.forget(w);
    await turn();
    assert.deepEqual(log, ["a"]);
  });

  it("a watch whose client stops reading lists no further than its connection takes", async () => {
    let listed = 0;
    const listing = (function* () {
      for (let i = 0; i < 10_000; i++) {
        listed += 1;
        yield `{"type":"ADDED","n":${i}}\n`;
      }
    })();
    const { res, written } = stalledResponse(3);
    const connection = new WatchConnection(res, {
      principal: { kind: "group", name: "evil", uid: "u", version: 0 },
      initial: listing,
      maxBehindBytes: 1 << 20,
      lifetimeMs: 60_000,
      position: () => "1",
      onClose: () => undefined,
      throttle: () => 0,
      pacer: new WritePacer(),
    });
    connection.start();
    assert.equal(listed, 0, "nothing is listed in the request's own turn");
    for (let i = 0; i < 5; i++) await turn();
    assert.equal(written.length, 3);
    assert.equal(listed, 3, "the listing is read only as the client takes it");
    connection.end();
  });
});
