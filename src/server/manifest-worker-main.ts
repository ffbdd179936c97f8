/**
 * The manifest worker's thread (src/server/manifest-worker.ts): parses and checks apply bodies
 * off the server's thread, one at a time, and answers each with its manifests or its failure.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { runToEnd } from "../util/steps.js";
import { parseManifestBody } from "./manifest-body.js";
import {
  encodeFailure,
  encodeParsed,
  type ParseReply,
  type ParseRequest,
  type WorkerMessage,
} from "./manifest-worker-protocol.js";

const port = parentPort;
if (!port) throw new Error("the manifest worker runs as a worker thread of the server");
lowerPriority();
port.on("message", ({ id, input }: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id, parsed: encodeParsed(runToEnd(parseManifestBody(input))) };
  } catch (err) {
    reply = { id, failure: encodeFailure(err) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true } satisfies WorkerMessage);

/**
 * The thread runs at the lowest scheduling priority, so that a heavy tenant's parsing takes only
 * the CPU the server's own thread (and everything else on the machine) leaves: with the cores
 * busy, a worker at equal priority would take turns from the requests it was meant to spare.
 * Linux names a thread by its id (/proc/thread-self); elsewhere the thread keeps its priority.
 */
function lowerPriority(): void {
  try {
    const threadId = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(threadId)) setPriority(threadId, 19);
  } catch {
    // Not Linux: the worker parses at the server's own priority.
  }
}
