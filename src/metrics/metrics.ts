import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { Autoscaler } from "../autoscale/autoscaler.js";
import type { Manager } from "../controllers/manager.js";
import type { Logger } from "../log.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import { observeApps } from "./apps.js";
import { observeAws } from "./aws.js";
import { observeLoop } from "./loop.js";
import { groupSeries } from "./text.js";
import { UsageSampler } from "./usage-sampler.js";

export interface MetricsOptions {
  readonly manager: Manager;
  readonly store: Store;
  readonly providers: ProviderRegistry;
  readonly log: Logger;
  /** One stats pass of the engines this often (15 s by default). */
  readonly usageIntervalMs?: number;
  /** Stats calls at once per engine during a pass (16 by default). */
  readonly statsConcurrency?: number;
  readonly clock?: Clock;
}

/** Rendered tenant text is reused this long: a tenant polling in a loop renders it once. */
const GROUP_TEXT_TTL_MS = 1000;

/**
 * A process's metrics, in registries of its own (never prom-client's global one, so tests can
 * make several): `loop` holds the operator's series (the loop, store, API, AWS and the process),
 * `apps` the per-app and per-service series that tenants may read for their own group.
 */
export class Metrics {
  readonly loop = new Registry();
  readonly apps = new Registry();
  readonly sampler: UsageSampler;
  /** Scales the autoscaled apps after each stats pass: it runs wherever the metrics do. */
  readonly autoscaler: Autoscaler;
  private readonly store: Store;
  private readonly detach: () => void;
  private appsText: { at: number; text: Promise<string> } | undefined;

  constructor(options: MetricsOptions) {
    this.sampler = new UsageSampler({
      store: options.store,
      providers: options.providers,
      log: options.log,
      ...(options.usageIntervalMs !== undefined ? { intervalMs: options.usageIntervalMs } : {}),
      ...(options.statsConcurrency !== undefined ? { concurrency: options.statsConcurrency } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      onPass: () => this.autoscaler.pass(this.sampler.latest(), (g, a) => this.sampler.traffic.rateOf(g, a)),
    });
    this.autoscaler = new Autoscaler({
      store: options.store,
      enqueue: (key) => options.manager.enqueue(key),
      log: options.log,
      providers: options.providers,
    });
    this.store = options.store;
    collectDefaultMetrics({ register: this.loop });
    this.detach = observeLoop(this.loop, options.manager, options.store);
    observeAws(this.loop, options.providers);
    observeApps(this.apps, options.store, this.sampler);
    this.samplerGauges();
  }

  get contentType(): string {
    return this.loop.contentType;
  }

  start(): void {
    this.sampler.start();
  }

  stop(): void {
    this.sampler.stop();
    this.detach();
  }

  /** Every series, for a scraper. */
  async text(): Promise<string> {
    return `${await this.loop.metrics()}\n${await this.appsMetrics()}`;
  }

  /** The apps registry and the edge's series of the apps that exist (a deleted app's go with it). */
  private async appsMetrics(): Promise<string> {
    const live = new Set(this.store.view({ kind: "App" }).map((a) => `${a.metadata.group}/${a.metadata.name}`));
    return `${await this.apps.metrics()}\n${this.sampler.traffic.text((g, a) => live.has(`${g}/${a}`))}`;
  }

  /** One group's app and service series only. */
  async groupText(group: string): Promise<string> {
    const now = performance.now();
    if (!this.appsText || now - this.appsText.at > GROUP_TEXT_TTL_MS)
      this.appsText = { at: now, text: this.appsMetrics() };
    return groupSeries(await this.appsText.text, group);
  }

  private samplerGauges(): void {
    const gauges: Array<[string, string, () => number | undefined]> = [
      [
        "airloft_usage_pass_duration_seconds",
        "How long the last stats pass over the engines took.",
        () => this.sampler.lastPassMs,
      ],
      [
        "airloft_usage_pass_timestamp_seconds",
        "When the last stats pass ended (seconds since the epoch); per-replica figures are this old.",
        () => this.sampler.lastPassAt,
      ],
    ];
    for (const [name, help, ms] of gauges)
      new Gauge({
        name,
        help,
        registers: [this.loop],
        collect() {
          const value = ms();
          if (value !== undefined) this.set(value / 1000);
        },
      });
  }
}
