import { strict as assert } from "node:assert";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../../src/store/store.js";
import { chaosKills, chaosRandom, endScripts, sleep, spawnScript } from "../support/chaos.js";
import { REPO_ROOT } from "../support/cli.js";

const WRITER = join(REPO_ROOT, "test/support/store-writer.ts");

/** What each writer loop had acknowledged when it was killed. */
class Acks {
  readonly byLoop = new Map<number, number>();
  total = 0;
  ready = false;
  readonly onLine = (line: string): void => {
    if (line === "ready") this.ready = true;
    const match = /^ack (\d+) (\d+)$/.exec(line);
    if (!match) return;
    this.byLoop.set(Number(match[1]), Number(match[2]));
    this.total++;
  };
}

/** Every acknowledged counter is in the file, which parses; returns the stored counters. */
async function checkFile(path: string, acks: Acks): Promise<void> {
  JSON.parse(readFileSync(path, "utf8")); // parses as a whole
  const store = await Store.open(path, { write: false });
  for (const [loop, acked] of acks.byLoop) {
    const app = store.get(`App/crash/writer-${loop}`);
    const stored = app?.kind === "App" ? Number(app.spec.env?.COUNTER) : 0;
    assert.ok(stored >= acked, `writer ${loop}: acknowledged ${acked}, the file holds ${stored}`);
  }
}

describe("the store under SIGKILL and a second writer (real processes)", function () {
  this.timeout(600_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "airloft-chaos-store-"));
  });
  afterEach(async () => {
    await endScripts();
    rmSync(dir, { recursive: true, force: true });
  });

  const kills = chaosKills(12);
  it(`is killed ${kills} times while writing hard: the file always parses and holds every acknowledged write`, async () => {
    const path = join(dir, "state.json");
    const random = chaosRandom("store kills");
    let acknowledged = 0;
    for (let i = 0; i < kills; i++) {
      const acks = new Acks();
      const writer = spawnScript(WRITER, [path, "4"], acks.onLine);
      while (!acks.ready) {
        if (writer.child.exitCode !== null) assert.fail(`the writer exited: ${writer.stderr()}`);
        await sleep(5);
      }
      await sleep(5 + random() * 250);
      writer.child.kill("SIGKILL");
      await writer.exited;
      await checkFile(path, acks);
      acknowledged += acks.total;
      const leftovers = readdirSync(dir).filter((f) => f.endsWith(".tmp"));
      assert.ok(leftovers.length <= 1, `temp files pile up: ${leftovers.join(", ")}`);
    }
    // The next writer takes over the dead one's lock and clears its temp file.
    const store = await Store.open(path, { write: true, command: "check" });
    await store.close();
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
    );
    process.stdout.write(`      ${kills} kills survived, ${acknowledged} acknowledged writes, none lost\n`);
    assert.ok(acknowledged > kills, "the writer got writes acknowledged between kills");
  });

  it("refuses a second writer clearly, and loses no update of the first", async () => {
    const path = join(dir, "state.json");
    const [first, second] = [new Acks(), new Acks()];
    const a = spawnScript(WRITER, [path, "2"], first.onLine);
    const b = spawnScript(WRITER, [path, "2"], second.onLine);
    // One of the two gets the lock; the other stops at once with the holder's name and pid.
    const loserCode = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const [winner, winnerAcks, loser] = loserCode === a ? [b, second, a] : [a, first, b];
    assert.equal(await loser.exited, 1);
    assert.match(loser.stderr(), /the state file is locked by "store-writer" \(pid \d+/);
    while (winnerAcks.total < 20) await sleep(10);
    winner.child.kill("SIGKILL");
    await winner.exited;
    await checkFile(path, winnerAcks);
    assert.equal((loser === a ? first : second).total, 0, "the refused writer wrote nothing");
  });
});
