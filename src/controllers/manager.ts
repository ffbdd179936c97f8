import { EventEmitter } from "node:events";
import { errorMessage, TerminalError } from "../errors.js";
import { parseKey } from "../resources/kinds.js";
import type { Kind } from "../resources/types.js";
import { KINDS_IN_ORDER } from "../store/kind-index.js";
import type { StoreEvent } from "../store/store.js";
import { type Clock, systemClock, type Timer } from "../util/clock.js";
import { threadShare } from "../util/thread-share.js";
import { APP_WATCHES, AppController } from "./app.js";
import type { ControllerContext } from "./context.js";
import type { Controller } from "./controller.js";
import { GROUP_WATCHES, GroupController } from "./group.js";
import { type QueueOptions, WorkQueue } from "./queue.js";
import { QUOTA_WATCHES, QuotaController } from "./quota.js";
import { SERVICE_WATCHES, ServiceController } from "./service.js";
import { WatchRouter } from "./watch-router.js";
import type { WatchDeclaration } from "./watches.js";

/** What each kind's controller watches; the manager applies those of the kinds it runs. */
const WATCHES: readonly WatchDeclaration[] = [GROUP_WATCHES, QUOTA_WATCHES, SERVICE_WATCHES, APP_WATCHES];

/** What follows a failed reconcile. */
export type FailureOutcome = "retry" | "stalled" | "cancelled";

export interface ManagerOptions {
  readonly workers?: number;
  /** Every object is reconciled again about this often, to catch drift. */
  readonly resyncMs?: number;
  /** Resync spreads over resyncMs * (1 ± jitter), so many installations do not beat in step. */
  readonly jitter?: number;
  readonly clock?: Clock;
  readonly queue?: QueueOptions;
  readonly random?: () => number;
  /** The controllers to run; Group, Quota, Service and App by default. */
  readonly controllers?: readonly Controller[];
  /** More controllers beside those (the Alert controller), each with what it watches. */
  readonly extra?: ReadonlyArray<{ readonly controller: Controller; readonly watches: WatchDeclaration }>;
  /** What they watch; each kind's own declaration (APP_WATCHES...) by default. */
  readonly watches?: readonly WatchDeclaration[];
  /** Work that runs beside the controllers while the loop runs (apps' scheduled jobs). */
  readonly background?: readonly BackgroundWork[];
}

/** Started with the loop and stopped with it. */
export interface BackgroundWork {
  start(): void;
  stop(): Promise<void>;
}

/**
 * Runs the controllers: store changes (routed by the controllers' watch declarations) and a
 * jittered resync put keys on one work queue, and bounded workers reconcile them. What happens
 * after a reconcile is decided here alone.
 */
export class Manager {
  readonly queue: WorkQueue;
  /** started, then reconciled or failed (and what follows: a retry, a stall, or a cancel), per key. */
  readonly events = new EventEmitter<{ started: [string]; reconciled: [string]; failed: [string, FailureOutcome] }>();
  private readonly controllers = new Map<Kind, Controller>();
  private readonly workers: number;
  private readonly resyncMs: number;
  private readonly jitter: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private resyncTimer: Timer | undefined;
  private running: Promise<void>[] = [];
  private readonly router: WatchRouter;
  private readonly background: readonly BackgroundWork[];
  /** Aborted by stop(): in-flight reconciles end at their provider's next step. */
  private stopping = new AbortController();
  /** The reconciles running now, to cancel one whose object is marked for deletion. */
  private readonly inFlight = new Map<string, AbortController>();
  private readonly onStoreChange = (event: StoreEvent): void => {
    // Converging what is being deleted is wasted work: its deletion waits for the reconcile.
    if (event.type === "deleting") this.inFlight.get(event.key)?.abort(new Error("the object is being deleted"));
    this.router.handle(event);
  };

  constructor(
    private readonly ctx: ControllerContext,
    options: ManagerOptions = {},
  ) {
    this.workers = options.workers ?? 4;
    this.resyncMs = options.resyncMs ?? 30_000;
    this.jitter = options.jitter ?? 0.2;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.queue = new WorkQueue({ clock: this.clock, ...options.queue });
    const defaults = [
      new GroupController(ctx),
      new QuotaController(ctx),
      new ServiceController(ctx),
      new AppController(ctx),
    ];
    const extra = options.extra ?? [];
    for (const controller of [...(options.controllers ?? defaults), ...extra.map((e) => e.controller)])
      this.controllers.set(controller.kind, controller);
    // A controller without a declaration still hears its own kind (For).
    const declared = [...(options.watches ?? WATCHES), ...extra.map((e) => e.watches)];
    const watches = [...this.controllers.keys()].map(
      (kind) => declared.find((w) => w.kind === kind) ?? { kind, watches: [] },
    );
    this.router = new WatchRouter(watches, ctx.store, (key) => this.enqueue(key));
    this.background = options.background ?? [];
  }

  start(): void {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.ctx.store.events.on("change", this.onStoreChange);
    this.enqueueAll();
    this.scheduleResync();
    for (const work of this.background) work.start();
    this.running = Array.from({ length: this.workers }, () => this.work());
  }

  /** Stops taking work, cancels in-flight reconciles at their provider's next step, and flushes the store. */
  async stop(): Promise<void> {
    this.ctx.store.events.off("change", this.onStoreChange);
    this.router.stop();
    this.resyncTimer?.cancel();
    this.queue.shutdown();
    this.stopping.abort(new Error("the loop is stopping"));
    await Promise.all([...this.running, ...this.background.map((w) => w.stop())]);
    this.running = [];
    await this.ctx.store.flush();
  }

  enqueue(key: string): void {
    if (this.controllers.has(parseKey(key).kind)) this.queue.add(key);
  }

  /**
   * Every object a controller acts on, kind by kind in list order, from the kind index's own sets:
   * a resync of 20,000 objects sorted every key and built each one again (110 to 150 ms on the
   * server's thread under load).
   */
  enqueueAll(): void {
    for (const kind of KINDS_IN_ORDER)
      if (this.controllers.has(kind)) for (const key of this.ctx.store.keysOfKind(kind)) this.queue.add(key);
  }

  private scheduleResync(): void {
    const spread = 1 + this.jitter * (2 * this.random() - 1);
    this.resyncTimer = this.clock.schedule(this.resyncMs * spread, () => {
      this.enqueueAll();
      this.scheduleResync();
    });
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const controller = this.controllers.get(parseKey(key).kind);
      this.events.emit("started", key);
      const cancel = new AbortController();
      this.inFlight.set(key, cancel);
      const signal = AbortSignal.any([this.stopping.signal, cancel.signal]);
      try {
        const result = (await controller?.reconcile(key, signal)) ?? {};
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
        this.events.emit("reconciled", key);
      } catch (err) {
        let outcome: FailureOutcome = "retry";
        if (signal.aborted) {
          outcome = "cancelled";
          // Deleted meanwhile: its deletion starts now. Stopping: nothing more to do.
          this.queue.forget(key);
          if (!this.stopping.signal.aborted) this.queue.add(key);
          this.ctx.log.info(`${key} cancelled: ${errorMessage(signal.reason)}`);
        } else if (err instanceof TerminalError) {
          outcome = "stalled";
          this.queue.forget(key);
          this.ctx.log.warn(`${key} stalled: ${errorMessage(err)}`);
        } else {
          const delay = this.queue.addRateLimited(key);
          this.ctx.log.info(`${key} failed, retrying in ${delay} ms: ${errorMessage(err)}`);
        }
        this.events.emit("failed", key, outcome);
      } finally {
        this.inFlight.delete(key);
        this.queue.done(key);
      }
      // A reconcile that needs no I/O (an app waiting for its group, a fast provider) resolves in
      // microtasks: without this, a worker would run a batch of thousands without letting a
      // timer or a request in. In a server it also waits while sliced work has used its share.
      await threadShare.next();
    }
  }
}
