import { Worker, type WorkerOptions } from "node:worker_threads";
import { errorMessage } from "../errors.js";
import { ApiError } from "./http.js";
import type { ManifestBody, ParsedBody } from "./manifest-body.js";
import { decodeFailure, decodeParsed, type ParseRequest, type WorkerMessage } from "./manifest-worker-protocol.js";

/** An idle worker is stopped after this long: its heap is memory the server holds for nothing. */
const IDLE_MS = 30_000;
/**
 * The worker's heap limit: a body that needs more ends the worker (its request fails, the next
 * starts another), never the server. The body limit keeps real applies far below it.
 */
const WORKER_HEAP_MB = 512;
/** A small young generation: the worker's garbage is collected more often, and holds less memory. */
const YOUNG_GENERATION_MB = 8;
/**
 * A parse still unanswered after this long ends its worker (503): a body within the limits takes
 * a second or two even on a busy machine, and a hung worker would hold the gate's one slot.
 */
const PARSE_TIMEOUT_MS = 60_000;
/** After this many workers in a row ended before they were ready, none is started again. */
const MAX_FAILED_STARTS = 3;

export interface ManifestWorkerOptions {
  /** The worker's heap limit (MiB). */
  readonly heapMb?: number;
  /** How long an idle worker is kept (ms). */
  readonly idleMs?: number;
  /** How long a parse may take before its worker is ended (ms). */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly resolve: (parsed: ParsedBody) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Parses apply bodies on a worker thread: the YAML parse, the schema checks and the garbage they
 * leave cost the server's own thread nothing, so heavy writers do not lengthen its turns (issue
 * 13). Started when first needed and stopped when idle; a worker that dies or hangs fails only
 * the bodies it held, and the next body starts a new one. If workers keep dying before they are
 * ready (a broken install), `available` turns false and bodies are parsed on the server's thread,
 * as without a worker.
 */
export class ManifestWorker {
  private worker: Worker | undefined;
  /** Whether the current worker has said it is ready (its modules loaded). */
  private ready = false;
  private failedStarts = 0;
  private closed = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ManifestWorkerOptions = {}) {}

  /** Whether a worker thread runs now. */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Whether bodies may be sent here: not after close(), nor once workers keep failing to start. */
  get available(): boolean {
    return !this.closed && this.failedStarts < MAX_FAILED_STARTS;
  }

  parse(input: ManifestBody): Promise<ParsedBody> {
    if (!this.available)
      return Promise.reject(
        unavailable(this.closed ? "the server is closing" : "the manifest parser could not be started"),
      );
    const worker = this.running();
    const id = this.nextId++;
    return new Promise<ParsedBody>((resolve, reject) => {
      const timer = setTimeout(
        () => this.end(worker, `it took more than ${this.options.timeoutMs ?? PARSE_TIMEOUT_MS} ms`),
        this.options.timeoutMs ?? PARSE_TIMEOUT_MS,
      );
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, input } satisfies ParseRequest);
    });
  }

  /** Stops the worker for good; bodies it held fail. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    if (!worker) return;
    this.lost(worker, unavailable("the server is closing"));
    await worker.terminate();
  }

  private running(): Worker {
    clearTimeout(this.idleTimer);
    let worker = this.worker;
    if (!worker) {
      const started = startWorker(this.options.heapMb ?? WORKER_HEAP_MB);
      started.on("message", (message: WorkerMessage) => this.received(message));
      started.on("messageerror", (err) => this.end(started, `its answer could not be read (${errorMessage(err)})`));
      started.on("error", (err) => this.lost(started, stopped(errorMessage(err))));
      started.on("exit", (code) => this.lost(started, stopped(`it exited with code ${code}`)));
      worker = started;
      this.worker = worker;
      this.ready = false;
    }
    // Held while it works, so that a server closing its last socket still gets its answers.
    worker.ref();
    return worker;
  }

  private received(message: WorkerMessage): void {
    if ("ready" in message) {
      this.ready = true;
      this.failedStarts = 0;
      return;
    }
    const reply = message;
    const job = this.pending.get(reply.id);
    if (!job) return;
    this.pending.delete(reply.id);
    clearTimeout(job.timer);
    try {
      if ("parsed" in reply) job.resolve(decodeParsed(reply.parsed));
      else job.reject(decodeFailure(reply.failure));
    } catch (err) {
      job.reject(stopped(`its answer could not be read (${errorMessage(err)})`));
    }
    if (this.pending.size > 0) return;
    this.worker?.unref();
    this.idleTimer = setTimeout(() => this.stopIdle(), this.options.idleMs ?? IDLE_MS).unref();
  }

  private stopIdle(): void {
    const worker = this.worker;
    if (!worker || this.pending.size > 0) return;
    this.worker = undefined;
    void worker.terminate();
  }

  /** Ends a worker that hangs or answers what cannot be read; its bodies fail. */
  private end(worker: Worker, why: string): void {
    this.lost(worker, stopped(why));
    void worker.terminate();
  }

  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    // Only a worker that never got ready counts: one that a body took down started fine.
    if (!this.ready && !this.closed) this.failedStarts++;
    for (const job of this.pending.values()) {
      clearTimeout(job.timer);
      job.reject(err);
    }
    this.pending.clear();
  }
}

function stopped(why: string): ApiError {
  return unavailable(`the manifest parser stopped while it parsed this body (${why}); a new one takes the next`);
}

function unavailable(message: string): ApiError {
  return new ApiError(503, "Unavailable", message);
}

/** The worker's thread: the bundle's entry when running built, the sources through tsx otherwise. */
function startWorker(heapMb: number): Worker {
  const options: WorkerOptions = {
    resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    // Not the process's flags, which a worker inherits by default: a `--import` (a benchmark's probe,
    // tsx) would load again in the thread, and a .ts one fails there before tsx is registered.
    execArgv: [],
  };
  const here = new URL(import.meta.url);
  const fromSources = here.pathname.endsWith(".ts");
  return new Worker(
    new URL(fromSources ? "./manifest-worker-sources.mjs" : "./manifest-worker-main.js", here),
    options,
  );
}
