import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { App, Resource, Service } from "../../src/resources/types.js";
import type { TestEngine } from "../../support/engine.js";
import { airloft, REPO_ROOT } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { httpGet } from "../support/http.js";
import { Workspace } from "../support/workspace.js";

const REDIS_IMAGE = "airloft-test/redis:1";

/** A CGI script that runs redis-cli against the bound service: /cgi-bin/redis?SET+k+v */
const CGI =
  "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nredis-cli --no-auth-warning -u \"$REDIS_URL\" $(echo \"$QUERY_STRING\" | tr '+' ' ')\n";

const meta = (kind: string, name: string, group?: string) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind,
  metadata: group ? { name, group } : { name },
});
const groupDoc = { ...meta("Group", "shop"), spec: { provider: "docker" } };
const quotaDoc = (replicas: number) => ({
  ...meta("Quota", "default", "shop"),
  spec: { hard: { apps: 3, replicas, services: 2 } },
});
const cacheDoc = { ...meta("Service", "cache", "shop"), spec: { template: "redis", image: REDIS_IMAGE } };
const kvDoc = (replicas = 1) => ({
  ...meta("App", "kv", "shop"),
  spec: {
    image: REDIS_IMAGE,
    replicas,
    port: 8080,
    services: [{ name: "cache" }],
    env: { CGI },
    command: [
      "sh",
      "-c",
      "mkdir -p /www/cgi-bin && echo ok > /www/index.html && printf '%s' \"$CGI\" > /www/cgi-bin/redis && chmod +x /www/cgi-bin/redis && exec httpd -f -p 8080 -h /www",
    ],
    healthCheck: { http: { path: "/" } },
  },
});

describe("services bound to apps, and quotas, on a real Docker engine", () => {
  let engine: TestEngine;
  let ws: Workspace;
  let env: NodeJS.ProcessEnv;
  let dir: string;

  const cli = (...args: string[]) => airloft(["--state", ws.state, ...args], { env, cwd: ws.dir });
  const write = (docs: object[]) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "shop.yaml"), docs.map((d) => stringify(d)).join("---\n"));
  };
  const getJson = async <T extends Resource>(ref: string, ...extra: string[]): Promise<T> => {
    const r = await cli("get", ref, "-o", "json", ...extra);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  const redis = async (query: string): Promise<string> => {
    const app = await getJson<App>("app/shop/kv");
    const [url] = app.status?.endpoints ?? [];
    assert.ok(url, "kv has an endpoint");
    return (await httpGet(`${url}/cgi-bin/redis?${query}`)).body.trim();
  };
  const labelled = async (kind: string, name: string) =>
    engine.docker.listContainers({
      all: true,
      filters: { label: [`airloft.dev/kind=${kind}`, `airloft.dev/name=${name}`] },
    });

  before(async function () {
    engine = await requireEngine(this);
    await promisify(execFile)("sh", [join(REPO_ROOT, "scripts/redis-image.sh"), REDIS_IMAGE], {
      env: { ...process.env, DOCKER_HOST: engine.host },
    });
    ws = new Workspace();
    dir = join(ws.dir, "shop");
    env = { DOCKER_HOST: engine.host, CI: "" };
  });

  after(async function () {
    this.timeout(120_000);
    if (ws) await cli("delete", "group/shop", "--cascade");
    ws?.remove();
  });

  it("runs a Redis service and gives a bound app REDIS_URL; the app talks to it", async function () {
    this.timeout(180_000);
    write([groupDoc, quotaDoc(4), cacheDoc, kvDoc()]);
    const r = await cli("apply", "-f", dir);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /service\/shop\/cache ready: redis ready at cache:6379/);
    const cache = await getJson<Service>("service/shop/cache");
    assert.deepEqual((cache.status as { variables?: string[] }).variables, ["REDIS_URL"]);
    assert.equal((cache.status as { volume?: string }).volume, "airloft-shop_cache-data");

    assert.equal(await redis("PING"), "PONG");
    assert.equal(await redis("SET+greeting+hello"), "OK");
    assert.equal(await redis("GET+greeting"), "hello");
  });

  it("never prints the generated password unless asked, and the app's REDIS_URL carries it", async () => {
    const secret = (await getJson<Service & { secrets: { password: string } }>("service/shop/cache", "--show-secrets"))
      .secrets.password;
    assert.ok(secret.length >= 24);
    for (const args of [
      ["get", "-o", "json"],
      ["get", "-o", "yaml"],
      ["get", "-o", "wide"],
      ["describe", "service/shop/cache"],
      ["describe", "app/shop/kv"],
    ]) {
      const out = await cli(...args);
      assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), `${args.join(" ")} shows the password`);
    }
    const [kv] = await labelled("App", "kv");
    const inspected = await engine.docker.getContainer(kv?.Id ?? "").inspect();
    assert.ok(inspected.Config.Env.includes(`REDIS_URL=redis://default:${secret}@cache:6379/0`));
  });

  it("diff plans nothing for the running group, service and app; a service change plans its recreate", async function () {
    this.timeout(60_000);
    const same = await cli("diff", "-f", dir);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    write([
      groupDoc,
      quotaDoc(4),
      { ...cacheDoc, spec: { ...cacheDoc.spec, resources: { memory: "256Mi" } } },
      kvDoc(),
    ]);
    const changed = await cli("diff", "-f", dir);
    write([groupDoc, quotaDoc(4), cacheDoc, kvDoc()]);
    assert.equal(changed.code, 1, changed.stdout + changed.stderr);
    assert.match(changed.stdout, /^\s+~ service:shop\/cache:0 remove \(recreate\)$/m);
    assert.match(changed.stdout, /^\s+~ service:shop\/cache:0 create \(config changed\)$/m);
    assert.doesNotMatch(changed.stdout, /app:shop\/kv|group:shop/);
  });

  it("keeps the data when the service's container is recreated", async function () {
    this.timeout(120_000);
    const [before] = await labelled("Service", "cache");
    const kvBefore = (await labelled("App", "kv")).map((c) => c.Id);
    await engine.docker.getContainer(before?.Id ?? "").remove({ force: true });
    const r = await cli("apply", "-f", dir);
    assert.equal(r.code, 0, r.stderr);
    const [after] = await labelled("Service", "cache");
    assert.ok(after && after.Id !== before?.Id, "a new container");
    assert.equal(await redis("GET+greeting"), "hello");
    assert.deepEqual(
      (await labelled("App", "kv")).map((c) => c.Id),
      kvBefore,
      "the app did not roll: its variables did not change",
    );
  });

  it("rejects an apply over quota whole, with the numbers, and creates nothing", async () => {
    write([
      groupDoc,
      quotaDoc(4),
      cacheDoc,
      kvDoc(),
      { ...meta("App", "burst", "shop"), spec: { image: REDIS_IMAGE, replicas: 5, command: ["sleep", "600"] } },
    ]);
    const r = await cli("apply", "-f", dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /shop\.yaml:\d+:\d+ quota shop\/default: replicas 6 would exceed 4/);
    assert.equal((await cli("get", "app/shop/burst")).code, 2);
    assert.equal((await labelled("App", "burst")).length, 0);

    const quota = await getJson("quota/shop/default");
    assert.deepEqual((quota.status as { used?: Record<string, number> }).used, { apps: 1, replicas: 1, services: 1 });
  });

  it("a lowered quota deletes nothing, reports the excess and blocks scale-up", async function () {
    this.timeout(120_000);
    write([groupDoc, quotaDoc(0), cacheDoc, kvDoc()]);
    const lowered = await cli("apply", "-f", dir);
    assert.equal(lowered.code, 0, lowered.stderr);
    const quota = await getJson("quota/shop/default");
    const ready = quota.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.reason, "Exceeded");
    assert.match(ready?.message ?? "", /quota shop\/default: replicas 1 exceeds 0/);
    assert.equal((await labelled("App", "kv")).length, 1, "nothing deleted");

    write([groupDoc, quotaDoc(0), cacheDoc, kvDoc(2)]);
    const scale = await cli("apply", "-f", dir);
    assert.equal(scale.code, 2);
    assert.match(scale.stderr, /replicas 2 would exceed 0/);
  });

  it("holds a group's deletion while it owns objects, unless asked to cascade", async function () {
    this.timeout(120_000);
    const held = await cli("delete", "group/shop", "--timeout", "5s");
    assert.equal(held.code, 1);
    const group = await getJson("group/shop");
    assert.equal(group.status?.conditions?.find((c) => c.type === "Ready")?.reason, "DeletionBlocked");
    const cascade = await cli("delete", "group/shop", "--cascade");
    assert.equal(cascade.code, 0, cascade.stderr);
    assert.equal((await labelled("Service", "cache")).length, 0);
    const volumes = await engine.docker.listVolumes();
    assert.ok(
      (volumes.Volumes ?? []).some((v) => v.Name === "airloft-shop_cache-data"),
      "Retain keeps the data volume",
    );
  });
});
