import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { App, Resource } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { airloft, REPO_ROOT, TSX } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\nspec:\n  provider: docker\n";
const appManifest = (name: string, replicas: number): string => `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: ${name}
  group: acme
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "echo hello from $HOSTNAME > /www/index.html && exec httpd -f -p $PORT -h /www"]
  replicas: ${replicas}
  port: 8080
  healthCheck:
    http:
      path: /
    intervalSeconds: 1
`;

describe("the CLI against airloft serve, on a real Docker engine", function () {
  this.timeout(180_000);
  let engine: TestEngine;
  let server: ServeProcess;
  let adminEnv: NodeJS.ProcessEnv;
  let acmeEnv: NodeJS.ProcessEnv;

  const as = (env: NodeJS.ProcessEnv, ...args: string[]) =>
    airloft(["--server", server.url, ...args], { env, cwd: server.dir });
  const appContainers = async (name: string) =>
    await engine.docker.listContainers({
      all: true,
      filters: { label: [`airloft.dev/name=${name}`, "airloft.dev/kind=App"] },
    });

  before(async function () {
    engine = await requireEngine(this);
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
    adminEnv = {
      DOCKER_HOST: "unix:///nonexistent",
      AIRLOFT_CONFIG: join(server.dir, "admin-credentials.json"),
      CI: "",
    };
    acmeEnv = { DOCKER_HOST: "unix:///nonexistent", AIRLOFT_CONFIG: join(server.dir, "acme-credentials.json"), CI: "" };
  });

  after(async function () {
    this.timeout(90_000);
    // The last test stopped the server: start it again on the same state file to clean up.
    if (server?.url) {
      await server.start();
      await server.deleteGroups(["acme", "globex"]);
    }
    await server?.stop();
    server?.remove();
  });

  it("logs in as the admin, keeping the token for the user only", async () => {
    const r = await airloft(["login", "--server", server.url, "--admin", "admin"], {
      env: { ...adminEnv, AIRLOFT_PASSWORD: SERVE_ADMIN_PASSWORD },
      cwd: server.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /logged in to http:\/\/127\.0\.0\.1:\d+ as admin:admin/);
    assert.ok(!r.stdout.includes(SERVE_ADMIN_PASSWORD) && !r.stderr.includes(SERVE_ADMIN_PASSWORD));
    assert.equal(statSync(adminEnv.AIRLOFT_CONFIG ?? "").mode & 0o777, 0o600);
    const wrong = await airloft(["login", "--server", server.url, "--admin", "admin"], {
      env: { ...adminEnv, AIRLOFT_CONFIG: join(server.dir, "x.json"), AIRLOFT_PASSWORD: "wrong-password" },
      cwd: server.dir,
    });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /login refused: wrong name or password/);
  });

  it("the admin creates a group and its account; the group logs in", async () => {
    writeFileSync(join(server.dir, "group.yaml"), GROUP);
    const applied = await as(adminEnv, "apply", "-f", join(server.dir, "group.yaml"));
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /group\/acme created/);
    assert.match(applied.stdout, /✓ group\/acme ready/);
    const account = await as({ ...adminEnv, AIRLOFT_NEW_PASSWORD: "acme-password-1" }, "account", "group/acme");
    assert.equal(account.code, 0, account.stderr);
    const login = await airloft(["login", "--server", server.url, "--group", "acme"], {
      env: { ...acmeEnv, AIRLOFT_PASSWORD: "acme-password-1" },
      cwd: server.dir,
    });
    assert.equal(login.code, 0, login.stderr);
  });

  it("the group applies an app and waits until it is Ready on the engine", async () => {
    writeFileSync(join(server.dir, "hello.yaml"), appManifest("hello", 2));
    const r = await as(acmeEnv, "apply", "-f", "hello.yaml");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /app\/acme\/hello created/);
    assert.match(r.stdout, /✓ app\/acme\/hello ready: 2\/2 replicas ready/);
    assert.equal((await appContainers("hello")).filter((c) => c.State === "running").length, 2);
  });

  it("an invalid manifest is refused with its file, line and field, and nothing is stored", async () => {
    writeFileSync(join(server.dir, "bad.yaml"), appManifest("bad", 1).replace("replicas: 1", "replicas: lots"));
    const r = await as(acmeEnv, "apply", "-f", "bad.yaml");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:9:13 spec\.replicas: must be integer/);
    assert.match(r.stderr, /nothing was applied/);
    const get = await as(acmeEnv, "get", "app/acme/bad");
    assert.equal(get.code, 2);
    assert.match(get.stderr, /not found/);
  });

  it("gets and describes through the server, and sees only its group", async () => {
    const json = await as(acmeEnv, "get", "app/hello", "-o", "json");
    assert.equal(json.code, 0, json.stderr);
    const app = JSON.parse(json.stdout) as App;
    assert.equal(app.status?.readyReplicas, 2);
    const table = await as(acmeEnv, "get");
    assert.match(table.stdout, /^group\s+-\s+acme\s+True/m);
    assert.match(table.stdout, /^app\s+acme\s+hello\s+True/m);
    const waited = await as(acmeEnv, "wait", "app/hello", "--for", "condition=Ready", "--timeout", "30s");
    assert.equal(waited.code, 0, waited.stderr);
    assert.match(waited.stdout, /app\/hello condition met/);
    const stalled = await as(acmeEnv, "wait", "app/hello", "--for", "condition=Stalled=True", "--timeout", "2s");
    assert.equal(stalled.code, 1);
    assert.match(stalled.stderr, /timed out waiting for condition=Stalled=True on app\/hello/);
    const described = await as(acmeEnv, "describe", "app/hello");
    assert.match(described.stdout, /Replicas:\s+2 ready/);
    assert.match(described.stdout, /Created\s+created by apply/);
    // Another group's token is refused on acme's objects.
    await as(adminEnv, "apply", "-f", join(server.dir, "group.yaml")); // no-op
    const other = GROUP.replace(/acme/g, "globex");
    writeFileSync(join(server.dir, "globex.yaml"), other);
    assert.equal((await as(adminEnv, "apply", "-f", "globex.yaml")).code, 0);
    await as({ ...adminEnv, AIRLOFT_NEW_PASSWORD: "globex-password-1" }, "account", "group/globex");
    const globexEnv = {
      ...acmeEnv,
      AIRLOFT_CONFIG: join(server.dir, "globex-credentials.json"),
      AIRLOFT_PASSWORD: "globex-password-1",
    };
    assert.equal(
      (await airloft(["login", "--server", server.url, "--group", "globex"], { env: globexEnv, cwd: server.dir })).code,
      0,
    );
    const refused = await as(globexEnv, "get", "app/acme/hello");
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /cannot read group acme/);
    const deleteRefused = await as(globexEnv, "delete", "app/acme/hello");
    assert.equal(deleteRefused.code, 2);
  });

  it("get --watch prints each change as the server sees it", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        TSX,
        join(REPO_ROOT, "src/cli/index.ts"),
        "--server",
        server.url,
        "get",
        "app",
        "--watch",
        "-o",
        "json",
      ],
      { env: { ...process.env, ...acmeEnv }, cwd: server.dir },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const lines = (): Array<{ type: string; object: Resource }> =>
      out
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as { type: string; object: Resource });
    const until = async (predicate: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 600 && !predicate(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(predicate(), `${what}; got ${out}`);
    };
    try {
      await until(
        () => lines().some((l) => l.type === "ADDED" && l.object.metadata.name === "hello"),
        "the current app first",
      );
      writeFileSync(join(server.dir, "hello.yaml"), appManifest("hello", 3));
      const scaled = await as(acmeEnv, "apply", "-f", "hello.yaml");
      assert.equal(scaled.code, 0, scaled.stderr);
      await until(
        () =>
          lines().some((l) => l.type === "MODIFIED" && l.object.kind === "App" && l.object.status?.readyReplicas === 3),
        "the scale-up as it happens",
      );
      const replicas = lines()
        .filter((l) => l.type === "MODIFIED")
        .map((l) => (l.object.kind === "App" ? (l.object.status?.readyReplicas ?? 0) : 0));
      assert.deepEqual(
        replicas,
        [...replicas].sort((a, b) => a - b),
        "ready replicas only grow along the stream, in order",
      );
    } finally {
      child.kill("SIGINT");
    }
  });

  it("deletes through the server and waits until the containers are gone", async () => {
    const r = await as(acmeEnv, "delete", "app/hello");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app\/acme\/hello deleted/);
    assert.equal((await appContainers("hello")).length, 0);
    assert.equal((await as(acmeEnv, "get", "app/acme/hello")).code, 2);
  });

  it("shuts down gracefully on SIGTERM, with the state file complete", async () => {
    assert.equal(await server.stop(), 0, server.output);
    const state = JSON.parse(readFileSync(server.state, "utf8")) as {
      objects: Record<string, Resource>;
      accounts: { group: Record<string, unknown> };
    };
    assert.ok(state.objects["Group//acme"]);
    assert.equal(state.objects["App/acme/hello"], undefined);
    assert.ok(state.accounts.group.acme);
    assert.ok(!readFileSync(server.state, "utf8").includes("acme-password-1"), "no password in clear");
  });
});
