import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { App, Resource } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { airloft, REPO_ROOT, TSX } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { httpGet } from "../support/http.js";
import { Workspace } from "../support/workspace.js";

interface ContainerRow {
  id: string;
  name: string;
  state: string;
  app: string;
  replica: string;
}

describe("end to end on a real Docker engine", () => {
  let engine: TestEngine;
  let ws: Workspace;
  let env: NodeJS.ProcessEnv;

  const cli = (...args: string[]) => airloft(["--state", ws.state, ...args], { env, cwd: ws.dir });
  const getApp = async (name: string): Promise<App> => {
    const r = await cli("get", `app/demo/${name}`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as App;
  };
  const containers = async (): Promise<ContainerRow[]> => {
    const list = await engine.docker.listContainers({ all: true, filters: { label: ["airloft.dev/kind=App"] } });
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? "").slice(1),
      state: c.State,
      app: c.Labels["airloft.dev/name"] ?? "",
      replica: c.Labels["airloft.dev/replica"] ?? "",
    }));
  };
  const ofApp = async (app: string) =>
    (await containers()).filter((c) => c.app === app).sort((a, b) => a.replica.localeCompare(b.replica));

  before(async function () {
    engine = await requireEngine(this);
    ws = new Workspace();
    env = { DOCKER_HOST: engine.host, CI: "" };
  });

  after(() => ws?.remove());

  it("applies the example: a group and two apps, one calling the other by name", async function () {
    this.timeout(180_000);
    const r = await cli("apply", "-f", ws.manifests);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^group\/demo created$/m);
    assert.match(r.stdout, /^app\/demo\/api created$/m);
    assert.match(r.stdout, /^app\/demo\/web created$/m);
    assert.match(r.stdout, /app\/demo\/api ready: 2\/2 replicas ready/);

    const api = await getApp("api");
    assert.equal(api.status?.readyReplicas, 2);
    assert.equal(api.status?.endpoints?.length, 2);
    for (const endpoint of api.status?.endpoints ?? []) {
      assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match((await httpGet(endpoint)).body, /^hello from [0-9a-f]{12}$/m);
    }
    const web = await getApp("web");
    const [webUrl] = web.status?.endpoints ?? [];
    assert.ok(webUrl, "web has an endpoint");
    const answer = await httpGet(`${webUrl}/cgi-bin/api`);
    assert.equal(answer.status, 200);
    assert.match(answer.body, /web asked http:\/\/api:8080\/ and got: hello from [0-9a-f]{12}/);

    // Limits and isolation come from AirLoft, whatever the manifest says.
    const [apiContainer] = await ofApp("api");
    const inspected = await engine.docker.getContainer(apiContainer?.id ?? "").inspect();
    assert.equal(inspected.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(inspected.HostConfig.NanoCpus, 250_000_000);
    assert.equal(inspected.HostConfig.Privileged, false);
    assert.deepEqual(inspected.HostConfig.SecurityOpt, ["no-new-privileges:true"]);
    assert.equal(inspected.HostConfig.PortBindings?.["8080/tcp"]?.[0]?.HostIp, "127.0.0.1");

    const logs = await cli("logs", "app/api");
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^api-0 \| api starting on port 8080$/m);
    assert.match(logs.stdout, /^api-1 \| api starting on port 8080$/m);

    const described = await cli("describe", "app/demo/api");
    assert.match(described.stdout, /^Containers \(on unix:\/\/.* now\):$/m);
    assert.match(described.stdout, /^\s+Ready\s+True\s+Converged\s+\S+\s+2\/2 replicas ready$/m);

    const table = await cli("get");
    assert.match(table.stdout, /^KIND\s+GROUP\s+NAME\s+READY\s+REASON\s+AGE$/m);
    assert.match(table.stdout, /^app\s+demo\s+api\s+True\s+Converged\s+\d+s$/m);
  });

  it("re-applying unchanged manifests changes nothing", async () => {
    const before = await containers();
    const r = await cli("apply", "-f", ws.manifests);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^app\/demo\/api unchanged$/m);
    assert.deepEqual((await containers()).map((c) => c.id).sort(), before.map((c) => c.id).sort());
    const diff = await cli("diff", "-f", ws.manifests);
    assert.equal(diff.code, 0, diff.stdout + diff.stderr);
  });

  it("scales up and down", async () => {
    ws.edit<App>("api.yaml", (d) => (d.spec.replicas = 3));
    const diff = await cli("diff", "-f", ws.manifests);
    assert.equal(diff.code, 1);
    assert.match(diff.stdout, /^\s+-\s+replicas: 2$/m);
    assert.match(diff.stdout, /^\s+\+\s+replicas: 3$/m);
    assert.match(diff.stdout, /app:demo\/api:2 create \(missing\)/);
    assert.equal((await cli("apply", "-f", ws.manifests)).code, 0);
    assert.deepEqual(
      (await ofApp("api")).map((c) => c.replica),
      ["0", "1", "2"],
    );
    assert.equal((await getApp("api")).status?.readyReplicas, 3);

    ws.edit<App>("api.yaml", (d) => (d.spec.replicas = 1));
    const r = await cli("apply", "-f", ws.manifests);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app:demo\/api:2 remove \(scaled down\)/);
    assert.deepEqual(
      (await ofApp("api")).map((c) => c.replica),
      ["0"],
    );
    ws.edit<App>("api.yaml", (d) => (d.spec.replicas = 2));
    assert.equal((await cli("apply", "-f", ws.manifests)).code, 0);
  });

  it("recreates only the replicas of the app whose env changed, the new one ready before the old goes", async () => {
    const apiBefore = await ofApp("api");
    const webBefore = await ofApp("web");
    ws.edit<App>("api.yaml", (d) => (d.spec.env = { GREETING: "bonjour" }));
    const r = await cli("apply", "-f", ws.manifests);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app:demo\/api:0 create \(config changed\)/);
    assert.match(r.stdout, /app:demo\/api:0 remove \(replaced\)/);
    // The replacement was created before its predecessor was removed: a rolling update.
    assert.ok(r.stdout.indexOf("api:0 create") < r.stdout.indexOf("api:0 remove"));
    const apiAfter = await ofApp("api");
    assert.equal(apiAfter.length, 2);
    assert.ok(
      apiAfter.every((c) => !apiBefore.some((b) => b.id === c.id)),
      "every api replica is new",
    );
    assert.deepEqual(
      (await ofApp("web")).map((c) => c.id),
      webBefore.map((c) => c.id),
      "web is untouched",
    );
    for (const endpoint of (await getApp("api")).status?.endpoints ?? []) {
      assert.match((await httpGet(endpoint)).body, /^bonjour from/m);
    }
  });

  for (const command of ["controller", "watch"] as const)
    it(`${command}: restores a container removed by hand and one stopped by hand, on the next resync`, async function () {
      this.timeout(120_000);
      const [first, second] = await ofApp("api");
      assert.ok(first && second);
      const controller = spawn(
        process.execPath,
        [
          "--import",
          TSX,
          join(REPO_ROOT, "src/cli/index.ts"),
          "--state",
          ws.state,
          ...(command === "watch" ? ["watch", ws.manifests, "--interval", "2s"] : ["controller"]),
          "--resync",
          "1s",
        ],
        {
          cwd: ws.dir,
          env: { ...process.env, ...env },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      let log = "";
      controller.stderr.on("data", (d: Buffer) => (log += d.toString()));
      try {
        // A labelled container that no object owns, as a crash could leave behind.
        const instance = (JSON.parse(readFileSync(ws.state, "utf8")) as { instanceId: string }).instanceId;
        const ghost = await engine.docker.createContainer({
          Image: TEST_IMAGE,
          Cmd: ["sleep", "600"],
          name: `airloft-demo-ghost-0-${command}`,
          Labels: {
            "airloft.dev/instance": instance,
            "airloft.dev/group": "demo",
            "airloft.dev/kind": "App",
            "airloft.dev/name": "ghost",
            "airloft.dev/uid": "no-such-uid",
            "airloft.dev/replica": "0",
          },
        });
        await ghost.start();
        await engine.docker.getContainer(first.id).remove({ force: true });
        await engine.docker.getContainer(second.id).stop({ t: 1 });
        const deadline = Date.now() + 60_000;
        for (;;) {
          const now = await ofApp("api");
          const restored = now.find((c) => c.replica === first.replica && c.state === "running");
          const restarted = now.find((c) => c.id === second.id && c.state === "running");
          const ghostGone = !(await containers()).some((c) => c.app === "ghost");
          if (restored && restarted && now.length === 2 && ghostGone) break;
          if (Date.now() > deadline || controller.exitCode !== null)
            assert.fail(`not restored: ${JSON.stringify(now)}\n${log}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      } finally {
        if (controller.exitCode === null) {
          const exited = new Promise((r) => controller.once("exit", r));
          controller.kill("SIGTERM");
          await exited;
        }
      }
      assert.equal(controller.exitCode, 0, log);
    });

  it("an invalid manifest next to a valid one creates nothing", async () => {
    const before = await containers();
    const stateBefore = (await cli("get", "-o", "json")).stdout;
    ws.write(
      "manifests/zz-new.yaml",
      `${[
        "apiVersion: airloft.dev/v1alpha1",
        "kind: App",
        "metadata:",
        "  name: extra",
        "  group: demo",
        "spec:",
        "  image: airloft-examples/busybox:1",
        "  command: [sleep, '3600']",
      ].join("\n")}\n`,
    );
    ws.write(
      "manifests/zz-bad.yaml",
      `${[
        "apiVersion: airloft.dev/v1alpha1",
        "kind: App",
        "metadata:",
        "  name: bad",
        "  group: demo",
        "spec:",
        "  image: airloft-examples/busybox:1",
        "  replicas: -1",
        "  privileged: true",
      ].join("\n")}\n`,
    );
    const r = await cli("apply", "-f", ws.manifests);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /manifests\/zz-bad\.yaml:8:13 spec\.replicas: must be >= 0/);
    assert.match(r.stderr, /manifests\/zz-bad\.yaml:9:3 spec\.privileged: privileged containers are not allowed/);
    assert.match(r.stderr, /nothing was applied/);
    assert.equal((await cli("get", "-o", "json")).stdout, stateBefore);
    assert.deepEqual((await containers()).map((c) => c.id).sort(), before.map((c) => c.id).sort());
  });

  it("says which engine address it tried when the engine is unreachable, and keeps the objects", async () => {
    const other = new Workspace();
    try {
      const r = await airloft(["--state", other.state, "apply", "-f", other.manifests, "--timeout", "60s"], {
        env: { DOCKER_HOST: `unix://${other.dir}/missing.sock` },
        cwd: other.dir,
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(`cannot reach the Docker engine at unix://${other.dir}/missing.sock.*DOCKER_HOST`),
      );
      const stored = JSON.parse(
        (await airloft(["--state", other.state, "get", "-o", "json"], { cwd: other.dir })).stdout,
      ) as { items: Resource[] };
      assert.equal(stored.items.length, 3);
      const group = stored.items.find((o) => o.kind === "Group");
      assert.equal(group?.status?.conditions?.find((c) => c.type === "Ready")?.reason, "EngineUnreachable");
    } finally {
      other.remove();
    }
  });

  it("deletes an app and its containers, then the group and its network", async () => {
    ws.removeFile("manifests/zz-new.yaml");
    ws.removeFile("manifests/zz-bad.yaml");
    const r = await cli("delete", "app/demo/web");
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await ofApp("web")).length, 0);
    assert.equal((await cli("get", "app/demo/web")).code, 2);

    const all = await cli("delete", "-f", ws.manifests);
    assert.equal(all.code, 0, all.stderr);
    assert.equal((await containers()).length, 0);
    const networks = await engine.docker.listNetworks({ filters: { label: ["airloft.dev/kind=Group"] } });
    assert.deepEqual(networks, []);
    const left = await cli("get");
    assert.match(left.stderr, /no objects found/, left.stdout);
  });
});
