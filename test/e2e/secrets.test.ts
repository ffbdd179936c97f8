import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { airloft, type CliResult } from "../support/cli.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { TestRegistry } from "../support/registry.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

// Values no output may hold: each is distinctive, so that a grep cannot miss it.
const FIRST = "first-Value-4d7e19";
const SECOND = "second-Value-8c2a55";
const FILE_VALUE = "-----TLS-file-Value-77b3f0-----";
const REGISTRY_PASSWORD = "registry-Pass-51e9aa";
const WRONG_PASSWORD = "wrong-Pass-0f3c8d";
const VALUES = [FIRST, SECOND, FILE_VALUE, REGISTRY_PASSWORD, WRONG_PASSWORD];
const TMPFS = 0x01021994;

const manifest = (name: string, spec: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: ${name}\n  group: vault\nspec:\n${spec}`;
const APP = manifest(
  "web",
  `  image: ${TEST_IMAGE}
  command: ["sleep", "3600"]
  env:
    PLAIN: visible
    DB_PASSWORD: {secret: app-secrets, key: DB_PASSWORD}
  envFrom: [{secret: app-secrets, prefix: ALL_}]
  files: [{secret: app-secrets, key: crt, path: /etc/tls/crt}]
`,
);

/** `secret set app-secrets` with the first values: the password inline, the file from a file. */
function setFirstValues(dir: string, group: string): string[] {
  const crt = join(dir, "crt.pem");
  writeFileSync(crt, FILE_VALUE);
  return ["secret", "set", "app-secrets", "-g", group, `DB_PASSWORD=${FIRST}`, "--from-file", `crt=${crt}`];
}

/** The state file's text and its journal's, where values would be if they were kept in clear. */
function stateFileText(path: string): string {
  const journal = `${path}.journal`;
  return readFileSync(path, "utf8") + (existsSync(journal) ? readFileSync(journal, "utf8") : "");
}

function assertNoValue(where: string, text: string): void {
  for (const value of VALUES) assert.ok(!text.includes(value), `${where} holds a secret value`);
}

async function exec(container: Docker.Container, cmd: string[]): Promise<{ code: number; out: string }> {
  const run = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await run.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", resolve);
  });
  // The multiplexed stream: an 8-byte header before each frame.
  const raw = Buffer.concat(chunks);
  let out = "";
  for (let i = 0; i + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  return { code: (await run.inspect()).ExitCode ?? -1, out };
}

describe("secrets end to end: CLI, server, engine and a private registry", function () {
  this.timeout(240_000);
  let engine: TestEngine;
  let server: ServeProcess;
  let filesRoot: string;
  let admin: string;
  let tenantEnv: NodeJS.ProcessEnv;
  let otherEnv: NodeJS.ProcessEnv;
  const outputs: string[] = [];
  const watchText: string[] = [];
  const watchAbort = new AbortController();

  const as = async (env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliResult> => {
    const r = await airloft(["--server", server.url, ...args], { env, cwd: server.dir });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const object = async (path: string): Promise<Resource> =>
    (await server.api("GET", `${API_PREFIX}/groups/vault/${path}`, admin)).json as Resource;
  const until = async <T>(what: string, check: () => Promise<T | undefined>, ms = 90_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = await check();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${server.output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const condition = (obj: Resource, type: string) => obj.status?.conditions?.find((c) => c.type === type);
  const running = async (name: string) =>
    (
      await engine.docker.listContainers({
        filters: { label: [`airloft.dev/name=${name}`, "airloft.dev/group=vault"], status: ["running"] },
      })
    ).map((c) => engine.docker.getContainer(c.Id));

  before(async function () {
    engine = await requireEngine(this);
    filesRoot = mkdtempSync("/dev/shm/airloft-e2e-secrets-");
    server = new ServeProcess({ DOCKER_HOST: engine.host, AIRLOFT_SECRET_FILES_DIR: filesRoot });
    await server.start();
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    for (const group of ["vault", "intruder"]) {
      const body = `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: ${group}}\nspec: {provider: docker}\n`;
      assert.equal((await server.api("POST", `${API_PREFIX}/apply`, admin, body)).status, 200);
      await server.api("PUT", `/api/accounts/groups/${group}`, admin, `{"password": "${group}-password-1"}`);
    }
    const token = (group: string) => server.token({ group }, `${group}-password-1`);
    tenantEnv = { AIRLOFT_TOKEN: await token("vault"), DOCKER_HOST: "unix:///nonexistent", CI: "" };
    otherEnv = { AIRLOFT_TOKEN: await token("intruder"), DOCKER_HOST: "unix:///nonexistent", CI: "" };
    // Everything the server sends watchers, from now on.
    void fetch(`${server.url}${API_PREFIX}/objects?watch=true`, {
      headers: { authorization: `Bearer ${admin}` },
      signal: watchAbort.signal,
    })
      .then(async (res) => {
        for await (const chunk of res.body ?? []) watchText.push(Buffer.from(chunk).toString());
      })
      .catch(() => undefined);
  });

  after(async function () {
    this.timeout(120_000);
    watchAbort.abort();
    if (server?.url) await server.deleteGroups(["vault", "intruder"]).catch(() => undefined);
    await server?.stop();
    server?.remove();
    if (filesRoot) rmSync(filesRoot, { recursive: true, force: true });
  });

  it("sets a secret by CLI; an app gets it as env and as a read-only file from tmpfs", async () => {
    const set = await as(tenantEnv, ...setFirstValues(server.dir, "vault"));
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /secret\/vault\/app-secrets created \(set DB_PASSWORD, crt\)/);
    writeFileSync(join(server.dir, "app.yaml"), APP);
    const applied = await as(tenantEnv, "apply", "-f", join(server.dir, "app.yaml"), "--timeout", "120s");
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    const [container] = await running("web");
    assert.ok(container, "a running container");
    assert.equal((await exec(container, ["sh", "-c", "echo $DB_PASSWORD"])).out.trim(), FIRST);
    assert.equal((await exec(container, ["sh", "-c", "echo $ALL_DB_PASSWORD"])).out.trim(), FIRST);
    assert.equal((await exec(container, ["cat", "/etc/tls/crt"])).out, FILE_VALUE);
    assert.notEqual((await exec(container, ["sh", "-c", "echo x > /etc/tls/crt"])).code, 0, "the file is read-only");
    const inspect = await container.inspect();
    const mount = inspect.Mounts.find((m) => m.Destination === "/etc/tls/crt");
    if (!mount) throw new Error(`no mount at /etc/tls/crt: ${JSON.stringify(inspect.Mounts)}`);
    assert.ok(mount.Source.startsWith(filesRoot));
    assert.equal(statfsSync(mount.Source).type, TMPFS, "the file's source is in memory");
    // The engine's record: no value in labels, command, mounts or host config (Env is the engine's way to pass env).
    const { Env: _env, ...config } = inspect.Config;
    assertNoValue("the engine's inspect", JSON.stringify({ ...inspect, Config: config }));
  });

  it("rolls the app when the secret changes, and keeps every output free of values", async () => {
    const [before] = await running("web");
    const set = await as(tenantEnv, "secret", "set", "app-secrets", "-g", "vault", `DB_PASSWORD=${SECOND}`);
    assert.equal(set.code, 0, set.stderr);
    const rolled = await until("the app to roll", async () => {
      const now = await running("web");
      const [c] = now;
      if (now.length !== 1 || !c || c.id === before?.id) return undefined;
      const env = await exec(c, ["sh", "-c", "echo $DB_PASSWORD"]);
      return env.out.trim() === SECOND ? c : undefined;
    });
    assert.equal((await exec(rolled, ["cat", "/etc/tls/crt"])).out, FILE_VALUE);
    for (const args of [
      ["get", "secrets", "-g", "vault", "-o", "yaml"],
      ["get", "secret/vault/app-secrets", "-o", "json"],
      ["get", "app/vault/web", "-o", "yaml"],
      ["describe", "secret/vault/app-secrets"],
      ["describe", "app/vault/web"],
      ["secret", "list", "-g", "vault"],
      ["get", "-g", "vault"],
    ]) {
      const r = await as(tenantEnv, ...args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    assert.match(outputs.join("\n"), /DB_PASSWORD: sha256:[0-9a-f]{16}/);
    assertNoValue("a CLI output", outputs.join("\n"));
    const api = await server.api("GET", `${API_PREFIX}/objects`, admin);
    assertNoValue("the API", JSON.stringify(api.json));
    const events = await server.api("GET", `${API_PREFIX}/groups/vault/apps/web/events`, admin);
    assertNoValue("the events", JSON.stringify(events.json));
    assert.ok(watchText.join("").includes("app-secrets"), "the watch stream saw the secret");
    assertNoValue("the watch stream", watchText.join(""));
    assertNoValue("the state file and its journal", stateFileText(server.state));
    assertNoValue("the server's log", server.output);
  });

  it("refuses another tenant with 403, and makes an app with a missing secret wait with SecretNotFound", async () => {
    for (const args of [
      ["secret", "list", "-g", "vault"],
      ["get", "secret/vault/app-secrets", "-o", "json", "--show-secrets"],
      ["secret", "set", "app-secrets", "-g", "vault", "DB_PASSWORD=taken"],
      ["secret", "unset", "app-secrets", "-g", "vault", "crt"],
    ]) {
      const r = await as(otherEnv, ...args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.stderr, /cannot|403|Forbidden/i, `${args.join(" ")}: ${r.stderr}`);
    }
    const own = await as(tenantEnv, "get", "secret/vault/app-secrets", "-o", "json", "--show-secrets");
    assert.equal(own.code, 0, own.stderr);
    assert.equal((JSON.parse(own.stdout) as { secrets: Record<string, string> }).secrets.DB_PASSWORD, SECOND);
    outputs.pop();
    outputs.pop(); // asked for explicitly: the only output that shows values
    writeFileSync(
      join(server.dir, "waiting.yaml"),
      manifest("waiting", `  image: ${TEST_IMAGE}\n  command: ["sleep", "3600"]\n  envFrom: [{secret: not-yet}]\n`),
    );
    await as(tenantEnv, "apply", "-f", join(server.dir, "waiting.yaml"), "--no-wait");
    const ready = await until("SecretNotFound", async () => {
      const c = condition(await object("apps/waiting"), "Ready");
      return c?.reason === "SecretNotFound" ? c : undefined;
    });
    assert.match(ready.message, /secret not-yet/);
    await as(tenantEnv, "secret", "set", "not-yet", "-g", "vault", "NOW=here");
    await until("the app to start once its secret exists", async () =>
      condition(await object("apps/waiting"), "Ready")?.status === "True" ? true : undefined,
    );
  });

  it("pulls from a private registry with an imagePullSecret, and stalls with ImagePullFailed on a wrong one", async function () {
    requireComponent(this, "docker-registry", commandMissing("docker-registry", "apt-get install docker-registry"));
    requireComponent(this, "htpasswd", commandMissing("htpasswd", "apt-get install apache2-utils"));
    const registry = await TestRegistry.start("puller", REGISTRY_PASSWORD);
    try {
      const auth = { username: "puller", password: REGISTRY_PASSWORD, serveraddress: registry.address };
      for (const tag of ["1", "2"]) {
        const ref = `${registry.address}/private/busybox`;
        await engine.docker.getImage(TEST_IMAGE).tag({ repo: ref, tag });
        const stream = await engine.docker.getImage(`${ref}:${tag}`).push({ authconfig: auth });
        await new Promise((resolve, reject) =>
          engine.docker.modem.followProgress(stream, (err, out: Array<{ error?: string }>) =>
            err || out.some((o) => o.error) ? reject(err ?? new Error(JSON.stringify(out))) : resolve(out),
          ),
        );
        // Only in the registry now: the app's pull must fetch it.
        await engine.docker.getImage(`${ref}:${tag}`).remove();
      }
      const secret = (name: string, password: string) =>
        as(
          tenantEnv,
          "secret",
          "set",
          name,
          "-g",
          "vault",
          `registry=${registry.address}`,
          "username=puller",
          `password=${password}`,
        );
      assert.equal((await secret("regcred", REGISTRY_PASSWORD)).code, 0);
      assert.equal((await secret("badcred", WRONG_PASSWORD)).code, 0);
      const pulled = (name: string, tag: string, cred: string) =>
        manifest(
          name,
          `  image: ${registry.address}/private/busybox:${tag}\n  imagePullSecret: ${cred}\n  command: ["sleep", "3600"]\n`,
        );
      writeFileSync(join(server.dir, "private.yaml"), pulled("private", "1", "regcred"));
      const good = await as(tenantEnv, "apply", "-f", join(server.dir, "private.yaml"), "--timeout", "120s");
      assert.equal(good.code, 0, `${good.stdout}\n${good.stderr}`);
      writeFileSync(join(server.dir, "refused.yaml"), pulled("refused", "2", "badcred"));
      const bad = await as(tenantEnv, "apply", "-f", join(server.dir, "refused.yaml"), "--timeout", "60s");
      assert.notEqual(bad.code, 0);
      const stalled = await until("ImagePullFailed", async () => {
        const c = condition(await object("apps/refused"), "Stalled");
        return c?.reason === "ImagePullFailed" ? c : undefined;
      });
      assert.match(stalled.message, /unauthorized|authentication required/i);
      assert.match(stalled.message, new RegExp(`${registry.address.replace(/\./g, "\\.")}`));
      // A right password lifts the stall without a spec change.
      assert.equal((await secret("badcred", REGISTRY_PASSWORD)).code, 0);
      await until("the refused app to start once its credential is right", async () =>
        condition(await object("apps/refused"), "Ready")?.status === "True" ? true : undefined,
      );
      assertNoValue("a CLI output", outputs.join("\n"));
      assertNoValue("the server's log", server.output);
      assertNoValue("the API", JSON.stringify((await server.api("GET", `${API_PREFIX}/objects`, admin)).json));
      const inspect = await (await running("private"))[0]?.inspect();
      assertNoValue("the engine's inspect", JSON.stringify(inspect));
    } finally {
      await registry.stop();
    }
  });
});

describe("secrets end to end without a server: the local state file", function () {
  this.timeout(240_000);
  let engine: TestEngine;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const outputs: string[] = [];
  const cli = async (...args: string[]): Promise<CliResult> => {
    const r = await airloft(["--state", join(dir, "state.json"), ...args], { env, cwd: dir });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const webContainers = async () =>
    (
      await engine.docker.listContainers({
        filters: { label: ["airloft.dev/name=web", "airloft.dev/group=locker"], status: ["running"] },
      })
    ).map((c) => engine.docker.getContainer(c.Id));

  before(async function () {
    engine = await requireEngine(this);
    dir = mkdtempSync("/tmp/airloft-e2e-local-secrets-");
    env = { DOCKER_HOST: engine.host, CI: "", AIRLOFT_SECRET_FILES_DIR: mkdtempSync("/dev/shm/airloft-e2e-local-") };
  });

  after(async function () {
    this.timeout(120_000);
    if (dir) await cli("delete", "group/locker", "--cascade", "--timeout", "90s");
    rmSync(dir, { recursive: true, force: true });
    rmSync(env.AIRLOFT_SECRET_FILES_DIR ?? "/nonexistent", { recursive: true, force: true });
  });

  it("sets, uses, changes and unsets a secret with the CLI alone", async () => {
    writeFileSync(
      join(dir, "app.yaml"),
      `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: locker}\nspec: {provider: docker}\n---\n${APP.replace("group: vault", "group: locker")}`,
    );
    assert.equal((await cli("apply", "-f", join(dir, "app.yaml"), "--no-wait")).code, 0);
    const set = await cli(...setFirstValues(dir, "locker"));
    assert.equal(set.code, 0, set.stderr);
    const applied = await cli("apply", "-f", join(dir, "app.yaml"), "--timeout", "120s");
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    const [first] = await webContainers();
    assert.ok(first);
    assert.equal((await exec(first, ["sh", "-c", "echo $DB_PASSWORD"])).out.trim(), FIRST);
    assert.equal((await cli("secret", "set", "app-secrets", "-g", "locker", `DB_PASSWORD=${SECOND}`)).code, 0);
    // The embedded loop runs while a command waits: an apply of the unchanged app rolls it.
    assert.equal((await cli("apply", "-f", join(dir, "app.yaml"), "--timeout", "120s")).code, 0);
    const [second] = await webContainers();
    assert.ok(second && second.id !== first.id, "a new container");
    assert.equal((await exec(second, ["sh", "-c", "echo $DB_PASSWORD"])).out.trim(), SECOND);
    assert.equal((await cli("secret", "unset", "app-secrets", "-g", "locker", "crt")).code, 0);
    const missingKey = await cli("apply", "-f", join(dir, "app.yaml"), "--timeout", "15s");
    assert.notEqual(missingKey.code, 0);
    assert.match(missingKey.stderr, /SecretNotFound: waiting for key crt of secret app-secrets/);
    const list = await cli("secret", "list");
    assert.match(list.stdout, /locker\s+app-secrets\s+DB_PASSWORD\([0-9a-f]{8}\)/);
    for (const args of [
      ["get", "-g", "locker", "-o", "yaml"],
      ["describe", "app/locker/web"],
    ])
      assert.equal((await cli(...args)).code, 0);
    assert.match(outputs.join("\n"), /env DB_PASSWORD <- secret app-secrets key DB_PASSWORD/);
    assertNoValue("a CLI output", outputs.join("\n"));
    assertNoValue("the state file and its journal", stateFileText(join(dir, "state.json")));
  });
});
