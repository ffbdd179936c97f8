/**
 * A process that writes the store hard until it is killed, for the crash tests: LOOPS concurrent
 * loops each apply a changed spec to their own app, with status updates in between, and print
 * "ack LOOP N" once apply has returned (the write is acknowledged: it must survive a kill).
 * Usage: node --import tsx test/support/store-writer.ts STATE_FILE [LOOPS=4]
 */

import { Store } from "../../src/store/store.js";
import { appObject, groupObject, manifest } from "./manifests.js";

const [path, loopsText] = process.argv.slice(2);
if (!path) throw new Error("usage: store-writer.ts STATE_FILE [LOOPS]");
const store = await Store.open(path, { write: true, command: "store-writer" });
if (!store.get("Group//crash")) await store.apply([manifest(groupObject("crash", "docker"), "store-writer")]);
process.stdout.write("ready\n");

async function loop(id: number): Promise<never> {
  const key = `App/crash/writer-${id}`;
  const stored = store.get(key);
  let n = stored?.kind === "App" ? Number(stored.spec.env?.COUNTER ?? 0) : 0;
  for (;;) {
    n++;
    await store.apply([
      manifest(
        appObject("crash", `writer-${id}`, { image: "example/x:1", env: { COUNTER: String(n), PAD: "p".repeat(200) } }),
        "store-writer",
      ),
    ]);
    process.stdout.write(`ack ${id} ${n}\n`);
    await store.updateStatus(key, (s) => ({ ...s, observedGeneration: n, readyReplicas: n % 3 }));
    await store.recordEvent(key, { type: "Normal", reason: "Tick", message: `tick ${n}` });
  }
}

await Promise.all(Array.from({ length: Number(loopsText ?? 4) }, (_, i) => loop(i)));
