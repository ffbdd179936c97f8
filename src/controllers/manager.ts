import { EventEmitter } from "node:events";
import { TerminalError, errorMessage } from "../errors.js";
import { keyOf, objectKey, parseKey } from "../resources/kinds.js";
import type { Kind } from "../resources/types.js";
import type { StoreEvent } from "../store/store.js";
import { systemClock, type Clock, type Timer } from "../util/clock.js";
import { AppController } from "./app.js";
import type { Controller } from "./controller.js";
import type { ControllerContext } from "./context.js";
import { GroupController } from "./group.js";
import { QuotaController } from "./quota.js";
import { ServiceController } from "./service.js";
import { WorkQueue, type QueueOptions } from "./queue.js";

export interface ManagerOptions {
  readonly workers?: number;
  /** Every object is reconciled again about this often, to catch drift. */
  readonly resyncMs?: number;
  /** Resync spreads over resyncMs * (1 ± jitter), so many installations do not beat in step. */
  readonly jitter?: number;
  readonly clock?: Clock;
  readonly queue?: QueueOptions;
  readonly random?: () => number;
  /** The controllers to run; Group and App by default. */
  readonly controllers?: readonly Controller[];
}

/**
 * Runs the controllers: store changes and a jittered resync put keys on one work queue, and
 * bounded workers reconcile them. What happens after a reconcile is decided here alone.
 */
export class Manager {
  readonly queue: WorkQueue;
  /** "started" with the key as a reconcile begins; "reconciled" after each one that did not fail. */
  /** started, then reconciled or failed (a retry or a stall follows), per key. */
  readonly events = new EventEmitter<{ started: [string]; reconciled: [string]; failed: [string] }>();
  private readonly controllers = new Map<Kind, Controller>();
  private readonly workers: number;
  private readonly resyncMs: number;
  private readonly jitter: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private resyncTimer: Timer | undefined;
  private running: Promise<void>[] = [];
  private readonly onStoreChange = (event: StoreEvent): void => this.handleStoreEvent(event);

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
    const defaults = [new GroupController(ctx), new QuotaController(ctx), new ServiceController(ctx), new AppController(ctx)];
    for (const controller of options.controllers ?? defaults) this.controllers.set(controller.kind, controller);
  }

  start(): void {
    this.ctx.store.events.on("change", this.onStoreChange);
    this.enqueueAll();
    this.scheduleResync();
    this.running = Array.from({ length: this.workers }, () => this.work());
  }

  /** Stops taking work, lets in-flight reconciles finish, and flushes the store. */
  async stop(): Promise<void> {
    this.ctx.store.events.off("change", this.onStoreChange);
    this.resyncTimer?.cancel();
    this.queue.shutdown();
    await Promise.all(this.running);
    this.running = [];
    await this.ctx.store.flush();
  }

  enqueue(key: string): void {
    if (this.controllers.has(parseKey(key).kind)) this.queue.add(key);
  }

  enqueueAll(): void {
    for (const obj of this.ctx.store.list()) this.enqueue(keyOf(obj));
  }

  private scheduleResync(): void {
    const spread = 1 + this.jitter * (2 * this.random() - 1);
    this.resyncTimer = this.clock.schedule(this.resyncMs * spread, () => {
      this.enqueueAll();
      this.scheduleResync();
    });
  }

  private handleStoreEvent(event: StoreEvent): void {
    const { type, key, object } = event;
    const group = object.metadata.group;
    const enqueueGroup = (kind?: Kind): void => {
      for (const o of this.ctx.store.list({ group: group ?? object.metadata.name, ...(kind ? { kind } : {}) })) this.enqueue(keyOf(o));
    };
    switch (type) {
      case "added":
      case "spec":
      case "deleting":
        this.enqueue(key);
        // Usage changed: quotas recount; a quota changed: its apps re-check their limits.
        if (object.kind === "App" || object.kind === "Service") enqueueGroup("Quota");
        if (object.kind === "Quota") enqueueGroup("App");
        break;
      case "status":
        // A group's readiness gates its objects; a service's readiness gates the apps bound to it.
        if (object.kind === "Group") enqueueGroup();
        if (object.kind === "Service") enqueueGroup("App");
        break;
      case "removed":
        // A deleting group waits for its objects to go; usage went down.
        if (group) this.enqueue(objectKey("Group", "", group));
        if (object.kind === "App" || object.kind === "Service") enqueueGroup("Quota");
        break;
      case "metadata":
        break;
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const controller = this.controllers.get(parseKey(key).kind);
      this.events.emit("started", key);
      try {
        const result = (await controller?.reconcile(key)) ?? {};
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
        this.events.emit("reconciled", key);
      } catch (err) {
        if (err instanceof TerminalError) {
          this.queue.forget(key);
          this.ctx.log.warn(`${key} stalled: ${errorMessage(err)}`);
        } else {
          const delay = this.queue.addRateLimited(key);
          this.ctx.log.info(`${key} failed, retrying in ${delay} ms: ${errorMessage(err)}`);
        }
        this.events.emit("failed", key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
