import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { desiredApp } from "../../src/providers/docker/desired.js";
import { rolloutPace } from "../../src/providers/pace.js";
import { desiredSwarmService, swarmSettings } from "../../src/providers/swarm/desired.js";
import { httpHealthcheck } from "../../src/providers/swarm/health.js";
import type { SwarmSnapshot } from "../../src/providers/swarm/observe.js";
import {
  ENV_FILE_TARGET,
  planSecretGarbage,
  planSwarmSecrets,
  shellQuote,
  swarmSecrets,
} from "../../src/providers/swarm/secrets.js";
import { swarmUpdatePace } from "../../src/providers/swarm/update-pace.js";
import { API_VERSION, type App, type Group, type Resource, type Secret } from "../../src/resources/types.js";
import { type ResolvedSecrets, resolveSecrets } from "../../src/secrets/references.js";

const run = promisify(execFile);
const owner = { instance: "inst", group: "acme", name: "web", uid: "a-1" };
const TOKEN = 's3cr\'et "$HOME" `id`\nline2';

function resolved(token: string, key = "file-value"): ResolvedSecrets {
  return {
    env: { API_TOKEN: token },
    files: [{ name: "creds_KEY", path: "/etc/app/key", value: Buffer.from(key) }],
    digest: `d-${token.length}-${key}`,
    hashes: { "env/API_TOKEN": `h-${token}`, "file/creds_KEY": `h-${key}` },
    missing: [],
  };
}

const swarmGroup: Group = {
  apiVersion: API_VERSION,
  kind: "Group",
  metadata: { name: "acme" },
  spec: { provider: "swarm" },
};
const webApp = (spec: Partial<App["spec"]>): App => ({
  apiVersion: API_VERSION,
  kind: "App",
  metadata: { name: "web", uid: "a-1", group: "acme" },
  spec: { image: "x:1", ...spec },
});

const emptySnapshot: SwarmSnapshot = {
  address: "unix:///x",
  services: [],
  tasks: [],
  networks: [],
  nodes: [],
  secrets: [],
};

describe("swarm update pace (maxSurge, maxUnavailable -> update_config)", () => {
  const pace = (strategy: App["spec"]["strategy"], replicas: number) =>
    swarmUpdatePace({
      replicas,
      strategy: strategy?.type ?? "RollingUpdate",
      pace: rolloutPace(strategy, replicas),
      hasData: false,
    });

  it("keeps one task at a time, start-first, when neither is given", () => {
    assert.deepEqual(pace(undefined, 6), { parallelism: 1, order: "start-first" });
  });
  it("a surge starts that many new tasks at a time beside the old ones", () => {
    assert.deepEqual(pace({ maxSurge: 2, maxUnavailable: 0 }, 6), { parallelism: 2, order: "start-first" });
    assert.deepEqual(pace({ maxSurge: "50%", maxUnavailable: 0 }, 6), { parallelism: 3, order: "start-first" });
    // Both given: start-first within the surge, which keeps every old task until its successor runs.
    assert.deepEqual(pace({ maxSurge: 1, maxUnavailable: 2 }, 6), { parallelism: 1, order: "start-first" });
    assert.deepEqual(pace({ maxSurge: 10 }, 4), { parallelism: 4, order: "start-first" });
  });
  it("no surge stops maxUnavailable tasks at a time first; both zero moves one", () => {
    assert.deepEqual(pace({ maxSurge: 0, maxUnavailable: 2 }, 6), { parallelism: 2, order: "stop-first" });
    assert.deepEqual(pace({ maxSurge: 0, maxUnavailable: "50%" }, 5), { parallelism: 2, order: "stop-first" });
    assert.deepEqual(pace({ maxSurge: 0, maxUnavailable: 0 }, 3), { parallelism: 1, order: "stop-first" });
  });
  it("Recreate, or a service with data, stops every task first", () => {
    assert.deepEqual(pace({ type: "Recreate" }, 3), { parallelism: 0, order: "stop-first" });
    assert.deepEqual(swarmUpdatePace({ replicas: 1, strategy: "RollingUpdate", pace: undefined, hasData: true }), {
      parallelism: 0,
      order: "stop-first",
    });
  });
  it("goes into the service's UpdateConfig and RollbackConfig", () => {
    const app = webApp({ replicas: 4, strategy: { maxSurge: 0, maxUnavailable: 2 } });
    const d = desiredSwarmService(
      desiredApp(app, swarmGroup, "inst", { ref: "x:1", id: "x:1" }),
      swarmSettings(swarmGroup),
    );
    const spec = d.spec as { UpdateConfig: Record<string, unknown>; RollbackConfig: Record<string, unknown> };
    assert.equal(spec.UpdateConfig.Parallelism, 2);
    assert.equal(spec.UpdateConfig.Order, "stop-first");
    assert.equal(spec.RollbackConfig.Parallelism, 2);
  });
});

describe("swarm secrets", () => {
  it("puts variables in one env file that sh reads back exactly, behind a wrapper that runs the app's command", async () => {
    const s = swarmSecrets(owner, resolved(TOKEN));
    const env = s.secrets.find((x) => x.target === ENV_FILE_TARGET);
    assert.ok(env);
    assert.deepEqual(s.command?.slice(0, 2), ["/bin/sh", "-c"]);
    const { stdout } = await run("sh", [
      "-c",
      `. /dev/stdin <<'EOF'\n${env.data.toString()}EOF\nprintf %s "$API_TOKEN"`,
    ]);
    assert.equal(stdout, TOKEN);
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });

  it("names secrets by the app's uid and the keyed hashes: a new value is a new name, never the value in a name or label", () => {
    const a = swarmSecrets(owner, resolved(TOKEN));
    const b = swarmSecrets(owner, resolved("other"));
    const names = (s: typeof a) => s.secrets.map((x) => x.name);
    assert.equal(a.secrets.length, 2);
    for (const n of names(a)) assert.match(n, /^airloft-a-1-[0-9a-f]{12}$/);
    assert.notDeepEqual(names(a)[1], names(b)[1], "the env file changes");
    assert.equal(names(a)[0], names(b)[0], "the unchanged file keeps its secret");
    assert.doesNotMatch(JSON.stringify(a.secrets.map((x) => [x.name, x.labels])), /s3cr/);
    assert.equal(swarmSecrets({ ...owner, uid: "a-2" }, resolved(TOKEN)).secrets[0]?.name === names(a)[0], false);
    assert.deepEqual(swarmSecrets(owner, undefined), { secrets: [], command: undefined });
  });

  it("keeps values out of the service spec: references by name, the wrapper, plain env only", () => {
    const group = swarmGroup;
    const app = webApp({ env: { PLAIN: "p" } });
    const s = swarmSecrets(owner, resolved(TOKEN));
    const base = desiredApp(app, group, "inst", { ref: "x:1", id: "x:1" });
    const d = desiredSwarmService(base, swarmSettings(group), {
      secrets: s.secrets,
      container: { command: s.command ?? [], args: ["sh", "-c", "exec sleep 1"] },
    });
    const text = JSON.stringify(d.spec);
    assert.doesNotMatch(text, /s3cr/);
    assert.match(text, /PLAIN=p/);
    const container = (d.spec.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;
    assert.deepEqual(
      (container.Secrets as Array<{ SecretName: string; File: { Name: string } }>).map((r) => r.File.Name),
      ["/etc/app/key", ENV_FILE_TARGET],
    );
    assert.deepEqual(container.Args, ["sh", "-c", "exec sleep 1"]);
    const other = desiredSwarmService(base, swarmSettings(group), {
      secrets: swarmSecrets(owner, resolved("x")).secrets,
    });
    assert.notEqual(other.configHash, d.configHash, "a changed value rolls the service");
  });

  it("creates what is missing and removes its own secrets that neither the spec nor the previous spec names", () => {
    const wanted = swarmSecrets(owner, resolved(TOKEN)).secrets;
    const mine = {
      "airloft.dev/instance": "inst",
      "airloft.dev/uid": "a-1",
      "airloft.dev/group": "acme",
      "airloft.dev/name": "web",
    };
    const snapshot: SwarmSnapshot = {
      ...emptySnapshot,
      secrets: [
        { id: "s-keep", name: wanted[0]?.name ?? "", labels: mine },
        { id: "s-prev", name: "airloft-a-1-previous", labels: mine },
        { id: "s-old", name: "airloft-a-1-older", labels: mine },
        { id: "s-other", name: "airloft-a-2-x", labels: { ...mine, "airloft.dev/uid": "a-2" } },
      ],
      services: [
        {
          id: "svc",
          name: "acme_web",
          version: 1,
          labels: {},
          owner: undefined,
          replicas: 1,
          previousHash: undefined,
          updateState: undefined,
          updateMessage: undefined,
          secretNames: ["airloft-a-1-previous"],
          image: "x:1",
        },
      ],
    };
    const ops = planSwarmSecrets(owner, "app:acme/web", wanted, snapshot);
    assert.deepEqual(
      ops.map((o) => (o.op === "create-secret" ? `create ${o.secret.target}` : `remove ${o.id}`)),
      [`create ${ENV_FILE_TARGET}`, "remove s-old"],
    );
    assert.deepEqual(
      planSecretGarbage((uid) => uid === "a-2", snapshot, "acme").map((o) => o.op === "remove-secret" && o.id),
      ["s-other"],
    );
  });
});

describe("swarm HTTP health check", () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === "/healthz?x='y'" ? 200 : 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  const check = (path: string) =>
    httpHealthcheck({ path, port, timeoutMs: 2000, intervalMs: 1000, retries: 3, startPeriodMs: 0 });

  it("is a shell command run in the task, quoting the path, with the check's timings", async () => {
    const hc = check("/healthz?x='y'");
    const test = hc.Test as string[];
    assert.equal(test[0], "CMD-SHELL");
    assert.equal(hc.Interval, 1e9);
    assert.equal(hc.Timeout, 2e9);
    assert.equal(hc.Retries, 3);
    // Run here, against a server on 127.0.0.1: a 2xx passes, a 404 fails.
    await run("sh", ["-c", test[1] ?? ""]);
    await assert.rejects(run("sh", ["-c", (check("/missing").Test as string[])[1] ?? ""]));
  });

  it("without curl, checks with busybox nc (what the test swarm's image has)", async () => {
    const bin = mkdtempSync(join(tmpdir(), "airloft-nc-"));
    try {
      for (const applet of ["nc", "head", "grep"]) symlinkSync("/usr/bin/busybox", join(bin, applet));
      const env = { PATH: bin };
      await run("/bin/sh", ["-c", (check("/healthz?x='y'").Test as string[])[1] ?? ""], { env });
      await assert.rejects(run("/bin/sh", ["-c", (check("/missing").Test as string[])[1] ?? ""], { env }));
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe("swarm registry credentials", () => {
  const group: Group = {
    apiVersion: API_VERSION,
    kind: "Group",
    metadata: { name: "acme" },
    spec: {
      provider: "swarm",
      swarm: { registry: "10.0.0.1:5000", registryAuth: { secret: "reg", usernameKey: "USER", passwordKey: "PASS" } },
    },
  };
  const secret: Secret = {
    apiVersion: API_VERSION,
    kind: "Secret",
    metadata: { name: "reg", group: "acme" },
    spec: { keys: { USER: "hu", PASS: "hp" } },
  };
  const app = (spec: Partial<App["spec"]> = {}): App => ({
    apiVersion: API_VERSION,
    kind: "App",
    metadata: { name: "web", group: "acme" },
    spec: { image: "x:1", ...spec },
  });
  const store = (objects: Resource[]) => ({
    get: (key: string) => objects.find((o) => `${o.kind}/${o.metadata.group ?? ""}/${o.metadata.name}` === key),
    secrets: { get: () => ({ USER: Buffer.from("builder"), PASS: Buffer.from("pw-9f1c") }) },
  });

  it("gives an app of the group the group's registry credentials, unless it has a pull secret of its own", () => {
    const got = resolveSecrets(store([group, secret]), app());
    assert.deepEqual(got.pull, { registry: "10.0.0.1:5000", username: "builder", password: "pw-9f1c" });
    assert.notEqual(got.digest, "", "a changed credential rolls the service");
    assert.equal(resolveSecrets(store([group, secret]), app({ imagePullSecret: "own" })).pull, undefined);
    assert.deepEqual(resolveSecrets(store([group]), app()).missing, ["secret reg"]);
  });
});
