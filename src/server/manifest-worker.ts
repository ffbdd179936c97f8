import { Worker, type WorkerOptions } from "node:worker_threads";
import { errorMessage } from "../errors.js";
import { ApiError } from "./http.js";
import type { ManifestBody, ParsedBody } from "./manifest-body.js";
import { decodeFailure, decodeParsed, type ParseReply, type ParseRequest } from "./manifest-worker-protocol.js";

/** An idle worker is stopped after this long: its heap is memory the server holds for nothing. */
const IDLE_MS = 30_000;
/**
 * The worker's heap limit: a body that needs more ends the worker (its request fails, the next
 * starts another), never the server. The body limit keeps real applies far below it.
 */
const WORKER_HEAP_MB = 512;

export interface ManifestWorkerOptions {
  /** The worker's heap limit (MiB). */
  readonly heapMb?: number;
  /** How long an idle worker is kept (ms). */
  readonly idleMs?: number;
}

/** See startWorker. */
const YOUNG_GENERATION_MB = 8;

interface Pending {
  readonly resolve: (parsed: ParsedBody) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Parses apply bodies on a worker thread: the YAML parse, the schema checks and the garbage they
 * leave cost the server's own thread nothing, so heavy writers do not lengthen its turns (issue
 * 13). Started when first needed and stopped when idle; a worker that dies fails only the bodies
 * it held, and the next body starts a new one.
 */
export class ManifestWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ManifestWorkerOptions = {}) {}

  /** Whether a worker thread runs now. */
  get started(): boolean {
    return this.worker !== undefined;
  }

  parse(input: ManifestBody): Promise<ParsedBody> {
    const worker = this.running();
    const id = this.nextId++;
    return new Promise<ParsedBody>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, input } satisfies ParseRequest);
    });
  }

  /** Stops the worker; bodies it held fail. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    if (!worker) return;
    this.lost(worker, new Error("the server is closing"));
    await worker.terminate();
  }

  private running(): Worker {
    clearTimeout(this.idleTimer);
    let worker = this.worker;
    if (!worker) {
      const started = startWorker(this.options.heapMb ?? WORKER_HEAP_MB);
      started.on("message", (reply: ParseReply) => this.settle(reply));
      started.on("error", (err) => this.lost(started, err));
      started.on("exit", (code) => this.lost(started, new Error(`it exited with code ${code}`)));
      worker = started;
      this.worker = worker;
    }
    // Held while it works, so that a server closing its last socket still gets its answers.
    worker.ref();
    return worker;
  }

  private settle(reply: ParseReply): void {
    const job = this.pending.get(reply.id);
    if (!job) return;
    this.pending.delete(reply.id);
    if ("parsed" in reply) job.resolve(decodeParsed(reply.parsed));
    else job.reject(decodeFailure(reply.failure));
    if (this.pending.size > 0) return;
    this.worker?.unref();
    this.idleTimer = setTimeout(() => void this.close(), this.options.idleMs ?? IDLE_MS).unref();
  }

  private lost(worker: Worker, err: unknown): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    for (const job of this.pending.values())
      job.reject(
        new ApiError(
          503,
          "Unavailable",
          `the manifest parser stopped while it parsed this body (${errorMessage(err)}); a new one takes the next`,
        ),
      );
    this.pending.clear();
  }
}

/** The worker's thread: the bundle's entry when running built, the sources through tsx otherwise. */
function startWorker(heapMb: number): Worker {
  // None of the process's flags: its --import hooks (tsx, a profiler's) do not carry over to a thread.
  // A small young generation: the worker's garbage is collected more often, in its own thread,
  // and holds less of the server's memory.
  const options: WorkerOptions = {
    resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    execArgv: [],
  };
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./manifest-worker.js", here), options);
  return new Worker(new URL("./manifest-worker-sources.mjs", here), options);
}
