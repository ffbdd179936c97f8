import { EventEmitter } from "node:events";
import { TerminalError, errorMessage } from "../errors.js";
import { isReadyAt } from "../resources/conditions.js";
import { keyOf, objectKey, parseKey } from "../resources/kinds.js";
import type { Group, Kind } from "../resources/types.js";
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

/** Events a pending group-wide enqueue waits for at most (a cascade of a 20,000-object group is 2 waits). */
const MAX_EVENTS_BEFORE_FLUSH = 10_000;

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
  /**
   * Group-wide enqueues wait for the end of the event-loop turn: an apply of 3,000 apps emits
   * 3,000 events, and its group's quotas are listed once, not once per app.
   */
  private readonly pending = new Map<string, PendingGroup>();
  private flushTimer: NodeJS.Immediate | undefined;
  /** The store's delivered-events count when the pending enqueues started waiting. */
  private flushWaitFrom: number | undefined;
  /** What a group's objects last saw of it (readiness and facts), so that other status writes (a deletion's progress) requeue nothing. */
  private readonly groupSeen = new Map<string, string>();

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
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    this.pending.clear();
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
    for (const obj of this.ctx.store.view()) this.enqueue(keyOf(obj));
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
    switch (type) {
      case "added":
      case "spec":
      case "deleting":
        this.enqueue(key);
        // Usage changed: quotas recount; a quota changed: its apps re-check their limits.
        if (group && (object.kind === "App" || object.kind === "Service")) this.enqueueLater(group, { kind: "Quota" });
        if (group && object.kind === "Quota") this.enqueueLater(group, { kind: "App" });
        break;
      case "status":
        // A group's readiness gates its objects; a service's readiness gates the apps bound to it.
        if (object.kind === "Group" && this.groupChanged(object)) this.enqueueLater(object.metadata.name, { all: true });
        if (group && object.kind === "Service") this.enqueueLater(group, { boundTo: object.metadata.name });
        break;
      case "removed":
        // A deleting group waits for its objects to go; usage went down.
        if (group) this.enqueue(objectKey("Group", "", group));
        if (group && (object.kind === "App" || object.kind === "Service")) this.enqueueLater(group, { kind: "Quota" });
        if (object.kind === "Group") this.groupSeen.delete(object.metadata.name);
        break;
      case "metadata":
        break;
    }
  }

  /**
   * Whether a group's status changed in a way its objects see: readiness or the facts they use
   * (network, load balancer). Progress messages, such as a held deletion's count, do not.
   */
  private groupChanged(group: Group): boolean {
    const { conditions: _conditions, ...facts } = group.status ?? {};
    const seen = `${isReadyAt(group)} ${JSON.stringify(facts)}`;
    if (this.groupSeen.get(group.metadata.name) === seen) return false;
    this.groupSeen.set(group.metadata.name, seen);
    return true;
  }

  /**
   * Enqueues a group's objects once this turn's events are in: all of them, those of one kind, or
   * the apps bound to a service.
   */
  private enqueueLater(group: string, what: { all: true } | { kind: Kind } | { boundTo: string }): void {
    let entry = this.pending.get(group);
    if (!entry) this.pending.set(group, (entry = { all: false, kinds: new Set(), services: new Set() }));
    if ("all" in what) entry.all = true;
    else if ("kind" in what) entry.kinds.add(what.kind);
    else entry.services.add(what.boundTo);
    this.flushTimer ??= setImmediate(() => this.flushPending());
  }

  private flushPending(): void {
    this.flushTimer = undefined;
    const store = this.ctx.store;
    // A big write's events come over several turns (src/store/outbox.ts): wait for the rest, so
    // that its group is listed once, not once per turn; but not past a bound of events, so that
    // a stream of writes cannot hold the enqueues back for ever.
    const { pending, delivered } = store.eventsInFlight;
    this.flushWaitFrom ??= delivered;
    if (pending > 0 && delivered - this.flushWaitFrom < MAX_EVENTS_BEFORE_FLUSH) {
      this.flushTimer = setImmediate(() => this.flushPending());
      return;
    }
    this.flushWaitFrom = undefined;
    // Read, not copied; by kind through the store's index: the quotas of a group cost its quotas.
    for (const [group, { all, kinds, services }] of this.pending) {
      if (all) {
        for (const o of store.view({ group })) this.enqueue(keyOf(o));
        continue;
      }
      for (const kind of kinds) for (const o of store.view({ group, kind })) this.enqueue(keyOf(o));
      if (services.size === 0 || kinds.has("App")) continue;
      for (const o of store.view({ group, kind: "App" })) {
        if (o.kind === "App" && (o.spec.services ?? []).some((b) => services.has(b.name))) this.enqueue(keyOf(o));
      }
    }
    this.pending.clear();
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
      // A reconcile that needs no I/O (an app waiting for its group, a fast provider) resolves in
      // microtasks: without this, a worker would run a batch of thousands without letting a
      // timer or a request in.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** The group-wide enqueues waiting for the end of the turn. */
interface PendingGroup {
  all: boolean;
  readonly kinds: Set<Kind>;
  /** Services whose status changed: the apps bound to them. */
  readonly services: Set<string>;
}
