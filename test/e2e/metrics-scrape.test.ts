import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_PREFIX } from "../../src/resources/kinds.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { edgeGet } from "../../support/http-load.js";
import { freePort } from "../../support/ports.js";
import { airloft } from "../support/cli.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { caddyImage, EDGE_IMAGE } from "../support/edge-image.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "mtx";
const MANIFESTS = `apiVersion: airloft.dev/v1alpha1
kind: Group
metadata:
  name: ${GROUP}
spec:
  provider: docker
  docker: { edge: { domain: ${GROUP}.localhost } }
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: web
  group: ${GROUP}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "echo ok > /www/index.html && exec httpd -f -p $PORT -h /www"]
  port: 8080
`;

interface PromResult {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** Debian's prometheus on 127.0.0.1 with a temp config and data folder; stopped by its pid. */
class PrometheusProcess {
  url = "";
  output = "";
  private child: ChildProcess | undefined;

  constructor(private readonly dir: string) {}

  async start(config: string): Promise<void> {
    const port = await freePort();
    writeFileSync(join(this.dir, "prometheus.yml"), config);
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(
      "prometheus",
      [
        `--config.file=${join(this.dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(this.dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    await this.until(async () => (await fetch(`${this.url}/-/ready`).catch(() => undefined))?.ok === true, "ready");
  }

  stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid, "SIGTERM");
    return exited;
  }

  /** An instant PromQL query through the HTTP API. */
  async query(promql: string): Promise<PromResult[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data?: { result: PromResult[] }; error?: string };
    if (body.status !== "success") throw new Error(`${promql}: ${body.error}`);
    return body.data?.result ?? [];
  }

  /** Waits until the query returns a series (a scrape interval is a second here). */
  async series(promql: string): Promise<PromResult[]> {
    let found: PromResult[] = [];
    await this.until(async () => (found = await this.query(promql)).length > 0, promql);
    return found;
  }

  private async until(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 90_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`prometheus: no ${what} in time: ${this.output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

describe("metrics: Debian's prometheus scrapes airloft serve on a real engine", function () {
  this.timeout(240_000);
  let dir: string;
  let server: ServeProcess;
  let prometheus: PrometheusProcess;
  let engineHost: string;
  let admin: string;
  let edgePort: number;

  before(async function () {
    requireComponent(this, "prometheus", commandMissing("prometheus", "apt-get install prometheus"));
    const engine = await requireEngine(this);
    engineHost = engine.host;
    requireComponent(this, "caddy", commandMissing("caddy", "apt-get install caddy"));
    await caddyImage(engine.host);
    edgePort = await freePort();
    dir = mkdtempSync(join(tmpdir(), "airloft-prom-"));
    const tokenFile = join(dir, "metrics-token");
    writeFileSync(tokenFile, "metrics-e2e-token-0123456789\n", { mode: 0o600 });
    writeFileSync(join(dir, "wrong-token"), "not-the-metrics-token-000\n", { mode: 0o600 });
    server = new ServeProcess({
      DOCKER_HOST: engine.host,
      AIRLOFT_EDGE_IMAGE: EDGE_IMAGE,
      AIRLOFT_EDGE_HTTP_PORT: String(edgePort),
      AIRLOFT_EDGE_HTTPS_PORT: String(await freePort()),
    });
    await server.start(["--metrics-token-file", tokenFile, "--stats-interval", "1s"]);
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    const applied = await server.api("POST", `${API_PREFIX}/apply`, admin, MANIFESTS);
    assert.equal(applied.status, 200, JSON.stringify(applied.json));
    const target = server.url.replace(/^http:\/\//, "");
    const job = (name: string, credentials: string) =>
      `  - job_name: ${name}\n    authorization:\n      type: Bearer\n      credentials_file: ${credentials}\n    static_configs:\n      - targets: ["${target}"]\n`;
    prometheus = new PrometheusProcess(dir);
    await prometheus.start(
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${job("airloft", tokenFile)}${job("wrong", join(dir, "wrong-token"))}`,
    );
  });

  after(async function () {
    this.timeout(120_000);
    await prometheus?.stop();
    if (server?.url) await server.deleteGroups([GROUP]);
    await server?.stop();
    server?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes with the token (up 1) and is refused without it (up 0)", async () => {
    const up = await prometheus.series('up{job="airloft"} == 1');
    assert.equal(up.length, 1);
    const refused = await prometheus.series('up{job="wrong"} == 0');
    assert.equal(refused.length, 1);
  });

  it("sees the applied app's reconciles and its replica ready on the real engine", async () => {
    const reconciles = await prometheus.series(
      'airloft_reconciles_total{job="airloft",kind="App",result="success"} > 0',
    );
    assert.ok(Number(reconciles[0]?.value[1]) >= 1);
    const ready = await prometheus.series(`airloft_replicas_ready{group="${GROUP}",kind="app",name="web"} == 1`);
    assert.equal(ready.length, 1);
    const desired = await prometheus.query(`airloft_replicas_desired{group="${GROUP}",name="web"}`);
    assert.equal(desired[0]?.value[1], "1");
  });

  it("sees each replica's memory and CPU from the engine's stats", async () => {
    const memory = await prometheus.series(`airloft_replica_memory_bytes{group="${GROUP}",name="web",replica="0"} > 0`);
    assert.equal(memory.length, 1);
    const cpu = await prometheus.series(`airloft_replica_cpu_cores{group="${GROUP}",name="web",replica="0"} >= 0`);
    assert.equal(cpu.length, 1);
    const restarts = await prometheus.series(`airloft_replica_restarts{group="${GROUP}",name="web"}`);
    assert.equal(restarts[0]?.value[1], "0");
    const requests = await prometheus.series('airloft_api_requests_total{route="/metrics",status="200"} > 0');
    assert.equal(requests.length, 1, "its own scrapes are counted under the route template");
  });

  it("sees the app's requests through the edge, read from Caddy's own metrics", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await edgeGet(edgePort, `web.${GROUP}.localhost`)).status, 200);
    const requests = await prometheus.series(`airloft_edge_requests_total{group="${GROUP}",app="web",code="2xx"} >= 5`);
    assert.equal(requests.length, 1);
    const latency = await prometheus.series(
      `airloft_edge_request_duration_seconds_bucket{group="${GROUP}",app="web",le="+Inf"} >= 5`,
    );
    assert.equal(latency.length, 1);
    const sent = await prometheus.series(`airloft_edge_sent_bytes_total{group="${GROUP}",app="web"} > 0`);
    assert.equal(sent.length, 1);
  });

  it("airloft top shows each replica's CPU and memory, through the server and on the state file", async () => {
    const row = /^mtx\s+app\/web\s+0\s+(\d+m|-)\s+\d+Mi\s+0\s+\S+$/m;
    const remote = await airloft(["--server", server.url, "top", "-g", GROUP], {
      env: { AIRLOFT_TOKEN: admin, AIRLOFT_CONFIG: join(dir, "none.json"), DOCKER_HOST: "unix:///nonexistent" },
    });
    assert.equal(remote.code, 0, remote.stderr);
    assert.match(remote.stdout, /^GROUP\s+NAME\s+REPLICA\s+CPU\(cores\)\s+MEMORY\s+RESTARTS\s+APP REQ\/S$/m);
    assert.match(remote.stdout, row);
    const local = await airloft(["--state", server.state, "top"], { env: { DOCKER_HOST: engineHost } });
    assert.equal(local.code, 0, local.stderr);
    assert.match(local.stdout, /^mtx\s+app\/web\s+0\s+\d+m\s+\d+Mi\s+0\s+\S+$/m, "two passes here give a CPU figure");
  });
});
