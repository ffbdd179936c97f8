import { LABEL } from "../../ownership.js";
import type { AppTraffic } from "../../types.js";
import { dockerClient } from "../engine.js";
import { readMetrics } from "./admin.js";
import { APP_SERVER_PREFIX } from "./config.js";

/** Caddy's sample lines we read; everything else in its /metrics is skipped. */
const WANTED =
  /^caddy_http_(request_duration_seconds_(bucket|sum|count)|request_size_bytes_sum|response_size_bytes_sum)\{/;
/** Caddy's text is a few KiB per app; more than this is not Caddy's and is not parsed. */
export const MAX_METRICS_BYTES = 8 * 1024 * 1024;

/**
 * Each app's counters from Caddy's Prometheus text: the app's own server (config.ts) names it;
 * requests by status class and the latency histogram from caddy_http_request_duration_seconds,
 * bytes in and out from the request and response size sums. Method and handler are summed over.
 */
export function parseCaddyMetrics(text: string, readAt: number): AppTraffic[] {
  const apps = new Map<string, Mutable>();
  for (const line of text.slice(0, MAX_METRICS_BYTES).split("\n")) {
    const wanted = WANTED.exec(line);
    if (!wanted) continue;
    const close = line.lastIndexOf("}");
    const labels = parseLabels(line.slice(line.indexOf("{") + 1, close));
    const value = Number(
      line
        .slice(close + 1)
        .trim()
        .split(" ")[0],
    );
    const owner = ownerOf(labels.server ?? "");
    if (!owner || !Number.isFinite(value)) continue;
    const key = `${owner.group}/${owner.app}`;
    let app = apps.get(key);
    if (!app) {
      app = { ...owner, readAt, requests: {}, buckets: new Map(), durationSum: 0, bytesIn: 0, bytesOut: 0 };
      apps.set(key, app);
    }
    const metric = wanted[1];
    if (metric === "request_duration_seconds_count") {
      const cls = statusClass(labels.code);
      app.requests[cls] = (app.requests[cls] ?? 0) + value;
    } else if (metric === "request_duration_seconds_bucket") {
      const le = labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(labels.le);
      if (!Number.isNaN(le)) app.buckets.set(le, (app.buckets.get(le) ?? 0) + value);
    } else if (metric === "request_duration_seconds_sum") app.durationSum += value;
    else if (metric === "request_size_bytes_sum") app.bytesIn += value;
    else app.bytesOut += value;
  }
  return [...apps.values()].map(({ buckets, ...rest }) => ({
    ...rest,
    durationBuckets: [...buckets].sort((a, b) => a[0] - b[0]),
  }));
}

type Mutable = {
  group: string;
  app: string;
  readAt: number;
  requests: Record<string, number>;
  buckets: Map<number, number>;
  durationSum: number;
  bytesIn: number;
  bytesOut: number;
};

function ownerOf(server: string): { group: string; app: string } | undefined {
  if (!server.startsWith(APP_SERVER_PREFIX)) return undefined;
  const [group, app, ...rest] = server.slice(APP_SERVER_PREFIX.length).split("_");
  return group && app && rest.length === 0 ? { group, app } : undefined;
}

/** "2xx" from "200"; anything else Caddy might write as "other". */
function statusClass(code: string | undefined): string {
  return code && /^[1-5]\d\d$/.test(code) ? `${code[0]}xx` : "other";
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) if (m[1] !== undefined) out[m[1]] = m[2] ?? "";
  return out;
}

/**
 * The counters of the groups' apps on one engine: one read of the edge's metrics (none when the
 * engine runs no edge of this installation). A failed read leaves the engine out of this pass.
 */
export async function edgeTraffic(
  address: string,
  instanceId: string,
  groups: ReadonlySet<string>,
): Promise<AppTraffic[]> {
  const docker = dockerClient(address);
  const filters = { label: [`${LABEL.instance}=${instanceId}`, `${LABEL.kind}=Edge`], status: ["running"] };
  const [edge] = await docker.listContainers({ filters });
  if (!edge) return [];
  const text = await readMetrics(docker, edge.Id);
  return parseCaddyMetrics(text, Date.now()).filter((t) => groups.has(t.group));
}
