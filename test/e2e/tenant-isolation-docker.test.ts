import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { App, Resource, Service } from "../../src/resources/types.js";
import type { TestEngine } from "../../support/engine.js";
import { airloft, REPO_ROOT } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { Workspace } from "../support/workspace.js";

const run = promisify(execFile);
const REDIS_IMAGE = "airloft-test/redis:1";

const meta = (kind: string, name: string, group?: string) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind,
  metadata: group ? { name, group } : { name },
});
const groupDoc = (name: string, spec: object = {}) => ({
  ...meta("Group", name),
  spec: { provider: "docker", ...spec },
});
const redisDoc = (group: string, name: string, deletionPolicy: "Retain" | "Delete" = "Retain") => ({
  ...meta("Service", name, group),
  spec: { template: "redis", image: REDIS_IMAGE, storage: { deletionPolicy } },
});

/**
 * Attacks one tenant could make on another through AirLoft's Docker provider (issue 13, items 2
 * and 10), on a real engine: names that join alike (group acme + service prod-db, group
 * acme-prod + service db) must not share a volume, and a Delete must not take another tenant's
 * data; the engine's request URLs, which dockerd logs and proxies see, must not carry env values.
 */
describe("tenant isolation on a real Docker engine", () => {
  let engine: TestEngine;
  let ws: Workspace;
  let env: NodeJS.ProcessEnv;

  const cli = (...args: string[]) => airloft(["--state", ws.state, ...args], { env, cwd: ws.dir });
  const apply = async (file: string, docs: object[]) => {
    const dir = join(ws.dir, "m");
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${file}.yaml`);
    writeFileSync(path, docs.map((d) => stringify(d)).join("---\n"));
    return cli("apply", "-f", path, "--timeout", "90s");
  };
  const getJson = async <T extends Resource>(ref: string, ...extra: string[]): Promise<T> => {
    const r = await cli("get", ref, "-o", "json", ...extra);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  const containerOf = async (kind: string, group: string, name: string) => {
    const list = await engine.docker.listContainers({
      all: true,
      filters: { label: [`airloft.dev/kind=${kind}`, `airloft.dev/group=${group}`, `airloft.dev/name=${name}`] },
    });
    assert.equal(list.length, 1, `one container for ${kind} ${group}/${name}`);
    return engine.docker.getContainer(list[0]?.Id ?? "").inspect();
  };
  const docker = (...args: string[]) => run("docker", args, { env: { ...process.env, DOCKER_HOST: engine.host } });
  /** What a container finds in its data folder: the file's content, or "" when there is none. */
  const readData = async (containerId: string, file: string) =>
    (await docker("exec", containerId, "sh", "-c", `cat /data/${file} 2>/dev/null || true`)).stdout.trim();
  const volumeNames = async () => ((await engine.docker.listVolumes()).Volumes ?? []).map((v) => v.Name);
  const instanceId = () => (JSON.parse(readFileSync(ws.state, "utf8")) as { instanceId: string }).instanceId;

  before(async function () {
    engine = await requireEngine(this);
    this.timeout(120_000);
    await run("sh", [join(REPO_ROOT, "scripts/redis-image.sh"), REDIS_IMAGE], {
      env: { ...process.env, DOCKER_HOST: engine.host },
    });
    ws = new Workspace();
    env = { DOCKER_HOST: engine.host, CI: "" };
  });

  after(async function () {
    this.timeout(180_000);
    if (ws)
      for (const group of ["acme", "acme-prod", "legacy", "squat"])
        await cli("delete", `group/${group}`, "--cascade", "--timeout", "60s");
    ws?.remove();
  });

  describe("volumes of two tenants whose names join alike (acme + prod-db, acme-prod + db)", () => {
    let theirVolume = "";

    it("gives the second tenant's service a volume of its own, not the first one's data", async function () {
      this.timeout(180_000);
      const first = await apply("acme", [groupDoc("acme"), groupDoc("acme-prod"), redisDoc("acme", "prod-db")]);
      assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
      const victim = await containerOf("Service", "acme", "prod-db");
      theirVolume = victim.Mounts.find((m) => m.Destination === "/data")?.Name ?? "";
      assert.ok(theirVolume, "acme/prod-db has a data volume");
      await docker("exec", victim.Id, "sh", "-c", "echo acme-private > /data/tenant.txt");

      const second = await apply("acme-prod", [redisDoc("acme-prod", "db", "Delete")]);
      assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
      const attacker = await containerOf("Service", "acme-prod", "db");
      const attackerVolume = attacker.Mounts.find((m) => m.Destination === "/data")?.Name ?? "";
      assert.notEqual(attackerVolume, theirVolume, `acme-prod/db mounts acme/prod-db's volume ${theirVolume}`);
      assert.equal(await readData(attacker.Id, "tenant.txt"), "", "acme-prod/db reads acme/prod-db's data");
      assert.equal((await getJson<Service>("service/acme-prod/db")).status?.volume, attackerVolume);
    });

    it("deletionPolicy Delete removes the deleter's volume only; the other tenant's retained data survives", async function () {
      this.timeout(180_000);
      const retain = await cli("delete", "service/acme/prod-db", "--timeout", "60s");
      assert.equal(retain.code, 0, `${retain.stdout}\n${retain.stderr}`);
      assert.ok((await volumeNames()).includes(theirVolume), "Retain keeps acme/prod-db's volume");

      const del = await cli("delete", "service/acme-prod/db", "--timeout", "60s");
      assert.equal(del.code, 0, `${del.stdout}\n${del.stderr}`);
      assert.ok(
        (await volumeNames()).includes(theirVolume),
        `deleting acme-prod/db (Delete) removed acme/prod-db's volume ${theirVolume}`,
      );
      assert.ok(
        !(await volumeNames()).includes("airloft-acme-prod_db-data"),
        "Delete removes acme-prod/db's own volume",
      );

      // Applied again (a new uid), acme/prod-db finds its data.
      const again = await apply("acme", [groupDoc("acme"), groupDoc("acme-prod"), redisDoc("acme", "prod-db")]);
      assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
      const back = await containerOf("Service", "acme", "prod-db");
      assert.equal(back.Mounts.find((m) => m.Destination === "/data")?.Name, theirVolume);
      assert.equal(await readData(back.Id, "tenant.txt"), "acme-private");
    });
  });

  it("keeps an existing installation's data on the volume name it had before names were qualified", async function () {
    this.timeout(180_000);
    const group = await apply("legacy-group", [groupDoc("legacy")]);
    assert.equal(group.code, 0, `${group.stdout}\n${group.stderr}`);
    // The volume an earlier AirLoft made for legacy/cache: its labels say it is that service's.
    const old = "airloft-legacy-cache-data";
    await engine.docker.createVolume({
      Name: old,
      Labels: {
        "airloft.dev/instance": instanceId(),
        "airloft.dev/group": "legacy",
        "airloft.dev/kind": "Service",
        "airloft.dev/name": "cache",
        "airloft.dev/uid": "an-earlier-incarnation",
      },
    });
    await docker("run", "--rm", "-v", `${old}:/data`, REDIS_IMAGE, "sh", "-c", "echo from-before > /data/old.txt");

    const r = await apply("legacy", [groupDoc("legacy"), redisDoc("legacy", "cache")]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const c = await containerOf("Service", "legacy", "cache");
    assert.equal(c.Mounts.find((m) => m.Destination === "/data")?.Name, old);
    assert.equal(await readData(c.Id, "old.txt"), "from-before");
    assert.ok(!(await volumeNames()).includes("airloft-legacy_cache-data"), "no second volume");
  });

  it("refuses a volume name held by a volume that is not the service's (NameConflict), and mounts nothing", async function () {
    this.timeout(180_000);
    await engine.docker.createVolume({ Name: "airloft-squat_cache-data", Labels: { owner: "someone else" } });
    const r = await apply("squat", [groupDoc("squat"), redisDoc("squat", "cache")]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(
      `${r.stdout}\n${r.stderr}`,
      /the volume name airloft-squat_cache-data is taken on this engine by something AirLoft did not create/,
    );
    const svc = await getJson<Service>("service/squat/cache");
    const stalled = svc.status?.conditions?.find((c) => c.type === "Stalled");
    assert.equal(stalled?.status, "True");
    assert.equal(stalled?.reason, "NameConflict");
    const list = await engine.docker.listContainers({
      all: true,
      filters: { label: ["airloft.dev/group=squat", "airloft.dev/kind=Service"] },
    });
    assert.equal(list.length, 0, "no container mounts the foreign volume");
  });

  describe("env values in the engine's request URLs", () => {
    let proxy: Server | undefined;
    let proxySocket = "";
    const urls: string[] = [];

    /** An HTTP proxy on a unix socket in front of the engine that records every request URL. */
    before(async () => {
      proxySocket = join(ws.dir, "recording-proxy.sock");
      const upstream = join(engine.dir, "docker.sock");
      proxy = createServer((req, res) => {
        urls.push(`${req.method ?? ""} ${req.url ?? ""}`);
        const forward = request(
          { socketPath: upstream, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on("error", () => res.destroy());
        req.pipe(forward);
      });
      await new Promise<void>((resolve) => proxy?.listen(proxySocket, resolve));
    });

    after(async function () {
      this.timeout(120_000);
      // The group's engine is the proxy: its objects go before the proxy does.
      await cli("delete", "group/vault", "--cascade", "--timeout", "60s");
      proxy?.closeAllConnections();
      await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    });

    it("creates containers, volumes and networks with their options in the body, never in the URL", async function () {
      this.timeout(240_000);
      const token = `tok-${randomBytes(12).toString("hex")}`;
      const host = `unix://${proxySocket}`;
      const kv = {
        ...meta("App", "kv", "vault"),
        spec: {
          image: REDIS_IMAGE,
          port: 8080,
          services: [{ name: "cache" }],
          env: { API_TOKEN: token },
          command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
          healthCheck: { http: { path: "/" } },
        },
      };
      const r = await apply("vault", [groupDoc("vault", { docker: { host } }), redisDoc("vault", "cache"), kv]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /service\/vault\/cache ready/);
      assert.match(r.stdout, /app\/vault\/kv ready: 1\/1 replicas ready/);

      const password = (
        await getJson<Service & { secrets: { password: string } }>("service/vault/cache", "--show-secrets")
      ).secrets.password;
      const app = await getJson<App>("app/vault/kv");
      assert.equal(app.status?.readyReplicas, 1);
      const envValues = [
        ...(await containerOf("Service", "vault", "cache")).Config.Env,
        ...(await containerOf("App", "vault", "kv")).Config.Env,
      ]
        .map((e) => e.slice(e.indexOf("=") + 1))
        .filter((v) => v.length >= 8 && !v.startsWith("/"));
      assert.ok(
        envValues.some((v) => v.includes(password)) && envValues.includes(token),
        "the containers carry the password and the token",
      );

      const creates = urls.filter((u) => /^POST \/(v[\d.]+\/)?(containers|volumes|networks)\/create\b/.test(u));
      assert.ok(
        creates.some((u) => u.includes("/containers/create")),
        `the proxy saw the container creations: ${urls.join("\n")}`,
      );
      assert.ok(
        creates.some((u) => u.includes("/volumes/create")) && creates.some((u) => u.includes("/networks/create")),
        "and the volume's and the network's",
      );
      for (const u of urls) {
        const decoded = safeDecode(u);
        for (const secret of [password, encodeURIComponent(password), token, ...envValues]) {
          assert.ok(
            !u.includes(secret) && !decoded.includes(secret),
            `a request URL carries an env value: ${u.slice(0, 300)}…`,
          );
        }
      }
      // Nor the labels and other options of any create call: only the container's name is in the URL.
      for (const u of creates) {
        const query = new URL(u.slice(u.indexOf(" ") + 1), "http://engine").searchParams;
        assert.deepEqual(
          [...query.keys()].filter((k) => k !== "name"),
          [],
          `options in the URL: ${u.slice(0, 300)}`,
        );
      }
    });
  });
});

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
