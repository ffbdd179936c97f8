import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { errorMessage } from "../errors.js";
import { listSources } from "../gitops/sources.js";
import type { Logger } from "../log.js";
import { keyOf } from "../resources/kinds.js";
import type { Alert, AlertStatus, StoredEvent } from "../resources/types.js";
import type { Store, StoreEvent } from "../store/store.js";
import { type Clock, systemClock, type Timer } from "../util/clock.js";
import { AddressPolicy } from "./address-policy.js";
import { resolveAlertTarget } from "./alert-refs.js";
import { backoffMs } from "./backoff.js";
import { fromConditions, fromEvent, type Notification, type SeenConditions, seenConditions } from "./events.js";
import { alertMatches } from "./matching.js";
import { genericPayload, slackPayload } from "./payload.js";
import { PendingDeliveries } from "./pending.js";
import { DeliveryQueue } from "./queue.js";
import { type SendResult, send } from "./send.js";
import { SIGNATURE_HEADER, sign, TIMESTAMP_HEADER } from "./signature.js";
import { fromSync, type SeenSync, syncSeen } from "./source-events.js";

export interface NotifierOptions {
  /** CIDRs a webhook may reach although private or loopback (`--notify-allow-cidr`). */
  readonly allowCidrs?: readonly string[];
  /** Deliveries waiting at most, in all (1,000) and per group (200); the oldest is dropped past it. */
  readonly capacity?: number;
  readonly perGroup?: number;
  /** Requests at once, and per Alert (8 and 2): one hung receiver cannot hold every slot. */
  readonly concurrency?: number;
  readonly perAlert?: number;
  /** Attempts before giving up (5), each ending after timeoutMs (5 s), retried after backoffMs. */
  readonly attempts?: number;
  readonly timeoutMs?: number;
  readonly backoff?: { readonly baseMs: number; readonly capMs: number };
  /** How often sources are read for failed syncs (2 s). */
  readonly sourcePollMs?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Sends one request; the real HTTP sender by default. */
  readonly send?: typeof send;
}

interface Delivery {
  readonly alertKey: string;
  readonly alertUid: string;
  readonly id: string;
  readonly notification: Notification;
  readonly attempt: number;
}

/** A tenant's thousand Alerts must not make a thousand requests per event. */
const MAX_ALERTS_PER_NOTIFICATION = 20;

export type DeliveryOutcome = "sent" | "failed" | "retried" | "dropped";

/**
 * Turns what the store records (condition transitions, recorded events, failed syncs) into
 * webhook deliveries of the matching Alerts. The store's listeners only add to a bounded queue:
 * nothing here waits inside a reconcile. Deliveries run on their own, signed, with a timeout,
 * retried with backoff and jitter, and end in the Alert's status and events.
 */
export class Notifier {
  /** One entry per delivery outcome, for the metrics. */
  readonly outcomes = new EventEmitter<{ outcome: [DeliveryOutcome] }>();
  readonly policy: AddressPolicy;
  private readonly queue: DeliveryQueue<Delivery>;
  private readonly pending: PendingDeliveries<Delivery>;
  private readonly seen = new Map<string, SeenConditions>();
  private readonly syncs = new Map<string, SeenSync>();
  private readonly inFlight = new Map<string, number>();
  private running = 0;
  private wake: { at: number; timer: Timer } | undefined;
  private poll: Timer | undefined;
  private stopped = true;
  private readonly clock: Clock;
  private readonly sender: typeof send;
  private readonly settled = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  private readonly onChange = (event: StoreEvent): void => this.guard(() => this.changed(event));
  private readonly onRecorded = (key: string, event: StoredEvent): void => this.guard(() => this.recorded(key, event));

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly options: NotifierOptions = {},
  ) {
    this.policy = new AddressPolicy(options.allowCidrs ?? []);
    this.clock = options.clock ?? systemClock;
    this.sender = options.send ?? send;
    this.pending = new PendingDeliveries(store, (err) =>
      this.log.error(`notifications not written: ${errorMessage(err)}`),
    );
    const dropped = (d: Delivery): void => {
      this.pending.end(d);
      this.outcomes.emit("outcome", "dropped");
      this.log.warn(`notification ${d.notification.event} of ${d.alertKey} dropped: the delivery queue is full`);
    };
    this.queue = new DeliveryQueue(options.capacity ?? 1000, dropped, options.perGroup ?? 200);
  }

  /** Deliveries dropped because the queue was full. */
  get dropped(): number {
    return this.queue.dropped;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Starts from what is recorded now: only what changes from here on is sent, and what was left waiting. */
  start(): void {
    this.stopped = false;
    for (const { delivery, dueAt } of this.pending.all()) this.queue.add(delivery, dueAt, delivery.notification.group);
    for (const obj of this.store.view()) this.seen.set(keyOf(obj), seenConditions(obj));
    for (const source of listSources(this.store)) this.syncs.set(source.name, syncSeen(source));
    this.store.events.on("change", this.onChange);
    this.store.events.on("recorded", this.onRecorded);
    this.schedulePoll();
    this.pump();
  }

  /** Stops taking events and ends the requests in flight (what is waiting stays in the state file). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.store.events.off("change", this.onChange);
    this.store.events.off("recorded", this.onRecorded);
    this.poll?.cancel();
    this.wake?.timer.cancel();
    this.wake = undefined;
    await Promise.all([...this.settled]);
  }

  /** Queues a notification for the Alerts of its group that want it (the first 20 by name). */
  dispatch(n: Notification): void {
    let matched = 0;
    for (const alert of this.store.view({ group: n.group, kind: "Alert" })) {
      if (alert.kind !== "Alert" || !alertMatches(alert, n)) continue;
      if (++matched > MAX_ALERTS_PER_NOTIFICATION) break;
      const delivery = {
        alertKey: keyOf(alert),
        alertUid: alert.metadata.uid ?? "",
        id: randomUUID(),
        notification: n,
        attempt: 1,
      };
      // Kept first: the queue may drop it at once, and a drop ends it.
      this.pending.keep(delivery, this.clock.now());
      this.queue.add(delivery, this.clock.now(), n.group);
    }
    this.pump();
  }

  /** A listener must never throw into the store's caller (a reconcile). */
  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.log.error(`notifications: ${errorMessage(err)}`);
    }
  }

  private changed(event: StoreEvent): void {
    if (event.type === "removed") {
      this.seen.delete(event.key);
      return;
    }
    const before = this.seen.get(event.key);
    this.seen.set(event.key, seenConditions(event.object, before));
    const n = fromConditions(before, event.object, new Date(this.clock.now()).toISOString());
    if (n) this.dispatch(n);
  }

  private recorded(key: string, event: StoredEvent): void {
    const obj = this.store.peek(key);
    const n = obj ? fromEvent(obj, event) : undefined;
    if (n) this.dispatch(n);
  }

  private schedulePoll(): void {
    this.poll = this.clock.schedule(this.options.sourcePollMs ?? 2000, () => {
      this.guard(() => {
        for (const source of listSources(this.store)) {
          const before = this.syncs.get(source.name) ?? "";
          this.syncs.set(source.name, syncSeen(source));
          for (const n of fromSync(before, source)) this.dispatch(n);
        }
      });
      if (!this.stopped) this.schedulePoll();
    });
  }

  /** Starts what is due, as far as the limits allow, and wakes up for what is due later. */
  private pump(): void {
    if (this.stopped) return;
    const limit = this.options.concurrency ?? 8;
    const perAlert = this.options.perAlert ?? 2;
    while (this.running < limit) {
      const next = this.queue.take(this.clock.now(), (d) => (this.inFlight.get(d.alertKey) ?? 0) < perAlert);
      if (!next) break;
      this.running += 1;
      this.inFlight.set(next.alertKey, (this.inFlight.get(next.alertKey) ?? 0) + 1);
      const done: Promise<void> = this.deliver(next)
        .catch((err: unknown) => {
          this.log.error(`notification of ${next.alertKey}: ${errorMessage(err)}`);
        })
        .finally(() => {
          this.running -= 1;
          this.inFlight.set(next.alertKey, (this.inFlight.get(next.alertKey) ?? 1) - 1);
          this.settled.delete(done);
          this.pump();
        });
      this.settled.add(done);
    }
    // What is due now but held by the limits starts when a delivery ends; a timer waits for the rest.
    const due = this.queue.nextDue(this.clock.now());
    if (due === undefined || (this.wake && this.wake.at <= due)) return;
    this.wake?.timer.cancel();
    this.wake = {
      at: due,
      timer: this.clock.schedule(Math.max(0, due - this.clock.now()), () => {
        this.wake = undefined;
        this.pump();
      }),
    };
  }

  private async deliver(d: Delivery): Promise<void> {
    const alert = this.store.peek(d.alertKey);
    // Deleted, or replaced by another of the same name: its deliveries go with it.
    if (alert?.kind !== "Alert" || alert.metadata.uid !== d.alertUid || alert.metadata.deletionTimestamp) {
      this.pending.end(d);
      return;
    }
    const result = await this.attempt(alert, d);
    // Stopped meanwhile: the request was cut short, and the delivery stays for the next start.
    if (this.stopped) return;
    const attempts = this.options.attempts ?? 5;
    if (result.ok) {
      this.pending.end(d);
      this.outcomes.emit("outcome", "sent");
      await this.record(d, result, "Succeeded");
    } else if (result.retry && d.attempt < attempts) {
      this.outcomes.emit("outcome", "retried");
      const wait = backoffMs(d.attempt, {
        ...(this.options.backoff ?? { baseMs: 1000, capMs: 60_000 }),
        ...(this.options.random ? { random: this.options.random } : {}),
      });
      const next = { ...d, attempt: d.attempt + 1 };
      this.pending.keep(next, this.clock.now() + wait);
      this.queue.add(next, this.clock.now() + wait, d.notification.group);
    } else {
      this.pending.end(d);
      this.outcomes.emit("outcome", "failed");
      await this.record(d, result, "Failed");
      await this.store.recordEvent(d.alertKey, {
        type: "Warning",
        reason: "NotificationFailed",
        message: `${d.notification.event} of ${d.notification.kind.toLowerCase()}/${d.notification.name} not delivered after ${d.attempt} attempt(s): ${result.message}`,
      });
    }
  }

  /** One request: the body, signed when the Alert has a key. Never logs the URL (it may carry a token). */
  private async attempt(alert: Alert, d: Delivery): Promise<SendResult> {
    const target = resolveAlertTarget(this.store, alert);
    if ("missing" in target) return { ok: false, message: `missing ${target.missing.join(", ")}`, retry: false };
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      return { ok: false, message: "the URL is not valid", retry: false };
    }
    const timestamp = Math.floor(this.clock.now() / 1000);
    const context = { id: d.id, timestamp, alert: `alert/${alert.metadata.group}/${alert.metadata.name}` };
    const payload =
      alert.spec.format === "slack" ? slackPayload(d.notification, context) : genericPayload(d.notification, context);
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { [TIMESTAMP_HEADER]: String(timestamp), "user-agent": "airloft-notifier" };
    if (target.signingKey !== undefined) headers[SIGNATURE_HEADER] = sign(body, target.signingKey);
    return this.sender(url, body, headers, {
      policy: this.policy,
      timeoutMs: this.options.timeoutMs ?? 5000,
      signal: this.stopping.signal,
    });
  }

  private async record(d: Delivery, result: SendResult, outcome: "Succeeded" | "Failed"): Promise<void> {
    const n = d.notification;
    await this.store.updateStatus<AlertStatus>(d.alertKey, (s) => ({
      ...s,
      lastDelivery: {
        time: new Date(this.clock.now()).toISOString(),
        event: n.event,
        object: `${n.kind.toLowerCase()}/${n.name}`,
        result: outcome,
        attempts: d.attempt,
        message: result.message,
      },
      delivered: (s.delivered ?? 0) + (outcome === "Succeeded" ? 1 : 0),
      failures: (s.failures ?? 0) + (outcome === "Failed" ? 1 : 0),
    }));
  }
}
