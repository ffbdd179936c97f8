/**
 * The hostile tenant of bench/abuse.ts: waves of requests, each a loop that runs until stopped,
 * and stalled readers that ask for a stream or a large answer and never read it.
 */

import { randomBytes } from "node:crypto";
import type { ClientRequest } from "node:http";
import { Agent } from "node:http";
import { connect, type Socket } from "node:net";
import { type SendOptions, send } from "./send.js";

const API = "/apis/airloft.dev/v1alpha1";

/** A loop of the attack: `concurrency` loops each send `next(i)` (several requests at once), then pause. */
export interface Wave {
  /** nesting, bulk, large or logins: AIRLOFT_BENCH_ATTACK picks waves by it. */
  readonly key: string;
  readonly name: string;
  readonly concurrency: number;
  readonly pauseMs: number;
  readonly next: (i: number) => readonly SendOptions[];
}

export interface WaveReport {
  readonly name: string;
  readonly requests: number;
  /** Answers by status ("0": no answer: refused, cut or timed out). */
  readonly statuses: Record<string, number>;
  readonly maxMs: number;
  /** One answer per non-2xx status, cut short, to show what the server said. */
  readonly samples: Record<string, string>;
}

/** Readers that send a request and never read its answer; `request(i)` is its path and headers. */
export interface StalledSpec {
  readonly count: number;
  readonly request: (i: number) => { path: string; headers: Record<string, string> };
  /** A reader the server disconnects asks again after this long, as a hostile client would. */
  readonly reconnectMs: number;
}

export interface StalledReport {
  readonly count: number;
  /** Status of each answer the readers got (they read only its first bytes). */
  readonly statuses: Record<string, number>;
  /** Connections the server closed while they were stalled. */
  readonly closedByServer: number;
  /** Readers still open, with a 200, at the end. */
  readonly openAtEnd: number;
}

export interface AttackReport {
  readonly waves: readonly WaveReport[];
  readonly stalled: StalledReport;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the waves and the stalled readers until stop(). */
export function startAttack(
  url: string,
  waves: readonly Wave[],
  stalledSpec: StalledSpec,
): { stop(): Promise<AttackReport> } {
  let running = true;
  const inFlight = new Set<ClientRequest>();
  const stalled = new StalledReaders(url, stalledSpec);
  stalled.start();
  const reports = waves.map((wave) => ({
    name: wave.name,
    requests: 0,
    statuses: {} as Record<string, number>,
    maxMs: 0,
    samples: {} as Record<string, string>,
  }));
  const loops = waves.flatMap((wave, w) =>
    Array.from({ length: wave.concurrency }, async (_, lane) => {
      const report = reports[w];
      if (!report) return;
      for (let i = lane; running; i += wave.concurrency) {
        const answers = await Promise.all(wave.next(i).map((options) => send(url, options, true, inFlight)));
        for (const a of answers) {
          if (!running && a.status === 0) continue; // cut by stop()
          report.requests += 1;
          report.statuses[a.status] = (report.statuses[a.status] ?? 0) + 1;
          report.maxMs = Math.max(report.maxMs, Math.round(a.ms));
          if ((a.status < 200 || a.status >= 300) && report.samples[a.status] === undefined)
            report.samples[a.status] = (a.error ?? a.body).slice(0, 300);
        }
        if (wave.pauseMs > 0 && running) await sleep(wave.pauseMs);
      }
    }),
  );
  return {
    async stop() {
      running = false;
      for (const req of inFlight) req.destroy();
      await Promise.all(loops);
      return { waves: reports, stalled: stalled.stop() };
    },
  };
}

class StalledReaders {
  private readonly sockets = new Set<Socket>();
  private readonly statuses: Record<string, number> = {};
  private readonly healthy = new Set<Socket>();
  private closedByServer = 0;
  private running = true;
  private readonly target: URL;

  constructor(
    url: string,
    private readonly spec: StalledSpec,
  ) {
    this.target = new URL(url);
  }

  start(): void {
    for (let i = 0; i < this.spec.count; i++) this.open(i);
  }

  stop(): StalledReport {
    this.running = false;
    const openAtEnd = this.healthy.size;
    for (const socket of this.sockets) socket.destroy();
    return { count: this.spec.count, statuses: this.statuses, closedByServer: this.closedByServer, openAtEnd };
  }

  private open(i: number): void {
    const { path, headers } = this.spec.request(i);
    const socket = connect({ host: this.target.hostname, port: Number(this.target.port) });
    this.sockets.add(socket);
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: ${this.target.host}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    socket.write(lines.join("\r\n"));
    // Read the status line only, then stop reading: the kernel's buffers fill, then the server's.
    socket.once("data", (chunk: Buffer) => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(chunk.toString("latin1"))?.[1] ?? "?";
      this.statuses[status] = (this.statuses[status] ?? 0) + 1;
      if (status === "200") this.healthy.add(socket);
      socket.pause();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.sockets.delete(socket);
      this.healthy.delete(socket);
      if (!this.running) return;
      this.closedByServer += 1;
      setTimeout(() => {
        if (this.running) this.open(i);
      }, this.spec.reconnectMs);
    });
  }
}

// ---- manifests ----

/** A small app of a hostile group: what the preload stores and the bulk applies update. */
export function hostileApp(group: string, i: number, wave: number): object {
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: `app-${i}`, group },
    spec: { image: "example/app:1", env: { WAVE: String(wave) } },
  };
}

/**
 * An apply body of `count` apps of a group (from app-`from`), as files of at most 1,000
 * documents (the loader's limit per file).
 */
export function bulkBody(group: string, from: number, count: number, wave: number): string {
  const files: Array<{ name: string; content: string }> = [];
  for (let start = 0; start < count; start += 1000) {
    const docs = Array.from({ length: Math.min(1000, count - start) }, (_, j) =>
      JSON.stringify(hostileApp(group, from + start + j, wave)),
    );
    files.push({ name: `${group}-${from + start}.yaml`, content: docs.join("\n---\n") });
  }
  return JSON.stringify({ files });
}

/** Text that fills `bytes` (hex, so that nothing compresses it or escapes it). */
function filler(bytes: number): string {
  return randomBytes(Math.ceil(bytes / 2))
    .toString("hex")
    .slice(0, bytes);
}

/**
 * A valid app carrying about `bytes` of env and annotations (the schema allows 32 KiB per env
 * value and 4 KiB per annotation, and any number of them); `tag` changes it on each update.
 */
export function largeApp(group: string, name: string, bytes: number, tag: number, blob: string): object {
  const env: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const inAnnotations = Math.floor(bytes / 5);
  let used = 0;
  for (let i = 0; used < inAnnotations; i++, used += 4000)
    annotations[`example.com/note-${i}`] = blob.slice(i * 4000, (i + 1) * 4000);
  for (let i = 0; used < bytes; i++, used += 30_000) env[`BLOB_${i}`] = blob.slice(i * 30_000, (i + 1) * 30_000);
  env.TAG = String(tag);
  return {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group, annotations },
    spec: { image: "example/app:1", env },
  };
}

/** The sizes large objects cycle through: one under the per-object limit this server may have, two over. */
export const LARGE_SIZES = [200_000, 450_000, 900_000] as const;

/**
 * The large-objects wave for either server: `put(group, name, app)` says how that server takes
 * the i-th app (cycling through LARGE_SIZES, updated on each round).
 */
function largeObjectsWave(
  group: (i: number) => string,
  put: (group: string, name: string, app: object) => SendOptions,
): Wave {
  const blob = filler(Math.max(...LARGE_SIZES));
  return {
    key: "large",
    name: `large objects (${LARGE_SIZES.map((s) => `${s / 1000} KB`).join(", ")})`,
    concurrency: 2,
    pauseMs: 0,
    next: (i) => {
      const g = group(i);
      const name = `big-${i % 5}`;
      return [put(g, name, largeApp(g, name, LARGE_SIZES[i % LARGE_SIZES.length] ?? 200_000, i, blob))];
    },
  };
}

// ---- the attack on AirLoft ----

export interface AirloftAttackOptions {
  /** The hostile groups, each with its tenant's token and how many app-N it holds. */
  readonly hostile: ReadonlyArray<{ group: string; token: string; apps: number }>;
  /** The well-behaved tenant's group: its account gets the wrong passwords. */
  readonly victim: string;
  /** Wrong logins sent at once, every two seconds. */
  readonly loginBurst: number;
  readonly bulkSize: number;
  readonly stalledWatches: number;
}

/**
 * Deep nesting, thousands of objects per apply, large objects, parallel wrong logins from
 * several loopback addresses (127.0.0.2 to .7: the well-behaved tenant uses 127.0.0.1), and
 * stalled watches spread over the hostile accounts.
 */
export function airloftAttack(options: AirloftAttackOptions): { waves: Wave[]; stalled: StalledSpec } {
  const { hostile } = options;
  const pick = (i: number): { group: string; token: string; apps: number } => {
    const h = hostile[i % hostile.length];
    if (!h) throw new Error("no hostile groups");
    return h;
  };
  const json = (token: string): Record<string, string> => ({
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
  });
  const agent = new Agent({ keepAlive: true });
  const deep = JSON.stringify({
    files: [
      { name: "deep-list.yaml", content: `${"[".repeat(1000)}${"]".repeat(1000)}` },
      { name: "deep-map.yaml", content: `${"{a: ".repeat(1000)}1${"}".repeat(1000)}` },
    ],
  });
  return {
    waves: [
      {
        key: "nesting",
        name: "deep nesting (2 files of 1,000 brackets per apply)",
        concurrency: 2,
        pauseMs: 0,
        next: (i) => [{ method: "POST", path: `${API}/apply`, headers: json(pick(i).token), body: deep, agent }],
      },
      {
        key: "bulk",
        name: `${options.bulkSize.toLocaleString("en")} objects per apply (updates)`,
        concurrency: 1,
        pauseMs: 0,
        next: (i) => {
          const h = pick(i);
          return [
            {
              method: "POST",
              path: `${API}/apply`,
              headers: json(h.token),
              body: bulkBody(h.group, 0, Math.min(options.bulkSize, h.apps), i + 1),
              agent,
              timeoutMs: 60_000,
            },
          ];
        },
      },
      largeObjectsWave(
        (i) => pick(i).group,
        (group, name, app) => ({
          method: "PUT",
          path: `${API}/groups/${group}/apps/${name}`,
          headers: json(hostile.find((h) => h.group === group)?.token ?? ""),
          body: JSON.stringify(app),
          agent,
        }),
      ),
      {
        key: "logins",
        name: `wrong logins (${options.loginBurst} at once every 2 s, half on ${options.victim}, half random names)`,
        concurrency: 1,
        pauseMs: 2000,
        next: () =>
          Array.from({ length: options.loginBurst }, (_, j) => ({
            method: "POST",
            path: "/api/tokens",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(
              j % 2 === 0
                ? { group: options.victim, password: `guess-${randomBytes(6).toString("hex")}` }
                : { group: `ghost-${randomBytes(4).toString("hex")}`, password: "guess-password" },
            ),
            localAddress: `127.0.0.${2 + (j % 6)}`,
          })),
      },
    ],
    stalled: {
      count: options.stalledWatches,
      reconnectMs: 1000,
      request: (i) => {
        const h = pick(i);
        return { path: `${API}/groups/${h.group}/apps?watch=true`, headers: { authorization: `Bearer ${h.token}` } };
      },
    },
  };
}

// ---- the parts of it that apply to json-server (no auth, no batches, no watches) ----

export function jsonServerAttack(options: { hostileGroups: readonly string[]; stalledReaders: number }): {
  waves: Wave[];
  stalled: StalledSpec;
} {
  const agent = new Agent({ keepAlive: true });
  const group = (i: number): string => options.hostileGroups[i % options.hostileGroups.length] ?? "evil-0";
  return {
    waves: [
      largeObjectsWave(group, (g, name, app) => ({
        method: "PUT",
        path: `/apps/${g}.${name}`,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: `${g}.${name}`, group: g, ...app }),
        agent,
      })),
    ],
    stalled: {
      count: options.stalledReaders,
      reconnectMs: 1000,
      request: (i) => ({ path: `/apps?group=${group(i)}`, headers: {} }),
    },
  };
}
