import type { AppTraffic } from "../providers/types.js";

/**
 * The apps' edge counters from the last pass, and each app's request rate between the last two
 * passes (none after a counter went back: the edge restarted).
 */
export class EdgeTraffic {
  private last: readonly AppTraffic[] = [];
  private rates = new Map<string, number>();

  update(read: readonly AppTraffic[]): void {
    const before = new Map(this.last.map((t) => [keyOf(t.group, t.app), t]));
    const rates = new Map<string, number>();
    for (const now of read) {
      const prev = before.get(keyOf(now.group, now.app));
      const seconds = prev ? (now.readAt - prev.readAt) / 1000 : 0;
      const delta = total(now) - (prev ? total(prev) : 0);
      if (prev && seconds > 0 && delta >= 0) rates.set(keyOf(now.group, now.app), delta / seconds);
    }
    this.last = read;
    this.rates = rates;
  }

  latest(): readonly AppTraffic[] {
    return this.last;
  }

  /** Requests per second of an app between the last two passes. */
  rateOf(group: string, app: string): number | undefined {
    return this.rates.get(keyOf(group, app));
  }

  /** Prometheus text of the edge series, labelled by group and app, for the apps `keep` accepts. */
  text(keep: (group: string, app: string) => boolean): string {
    const apps = this.last.filter((t) => keep(t.group, t.app));
    if (apps.length === 0) return "";
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, samples: string[]) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
    const l = (t: AppTraffic, extra = "") => `group="${t.group}",app="${t.app}"${extra}`;
    family(
      "airloft_edge_requests_total",
      "counter",
      "Requests through the edge proxy, by app and status class (read from Caddy's metrics).",
      apps.flatMap((t) =>
        Object.entries(t.requests)
          .sort()
          .map(([cls, n]) => `airloft_edge_requests_total{${l(t, `,code="${cls}"`)}} ${n}`),
      ),
    );
    family(
      "airloft_edge_request_duration_seconds",
      "histogram",
      "Request latency at the edge proxy, by app (the app's answer included).",
      apps.flatMap((t) => [
        ...t.durationBuckets.map(
          ([le, n]) =>
            `airloft_edge_request_duration_seconds_bucket{${l(t, `,le="${le === Number.POSITIVE_INFINITY ? "+Inf" : le}"`)}} ${n}`,
        ),
        `airloft_edge_request_duration_seconds_sum{${l(t)}} ${t.durationSum}`,
        `airloft_edge_request_duration_seconds_count{${l(t)}} ${total(t)}`,
      ]),
    );
    family(
      "airloft_edge_received_bytes_total",
      "counter",
      "Bytes of requests (headers and body) the edge proxy received, by app.",
      apps.map((t) => `airloft_edge_received_bytes_total{${l(t)}} ${t.bytesIn}`),
    );
    family(
      "airloft_edge_sent_bytes_total",
      "counter",
      "Bytes of response bodies the edge proxy sent, by app.",
      apps.map((t) => `airloft_edge_sent_bytes_total{${l(t)}} ${t.bytesOut}`),
    );
    const rated = apps.filter((t) => this.rateOf(t.group, t.app) !== undefined);
    family(
      "airloft_edge_requests_per_second",
      "gauge",
      "Requests per second through the edge proxy between the last two stats passes, by app.",
      rated.map((t) => `airloft_edge_requests_per_second{${l(t)}} ${this.rateOf(t.group, t.app)}`),
    );
    return `${lines.join("\n")}\n`;
  }
}

function keyOf(group: string, app: string): string {
  return `${group}/${app}`;
}

function total(t: AppTraffic): number {
  return Object.values(t.requests).reduce((a, b) => a + b, 0);
}
