import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Metafile } from "esbuild";
import { buildCli, ENTRY } from "../../scripts/build.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import { airloft, type CliResult, REPO_ROOT } from "../support/cli.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

/** The bundled CLI, as bin/airloft.js runs it after `make build`. */
function bundled(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ENTRY, ...args],
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Every dependency a chunk and the chunks it imports statically hold: what loads with it. */
function staticallyLoaded(meta: Metafile, chunk: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const todo = [chunk];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    const output = meta.outputs[next];
    for (const input of Object.keys(output?.inputs ?? {})) {
      const pkg = /node_modules\/((@[^/]+\/)?[^/]+)\/(.*)$/.exec(input);
      if (pkg) packages.add(pkg[1] === "ajv" ? `ajv/${pkg[3]}` : (pkg[1] ?? ""));
    }
    for (const i of output?.imports ?? []) if (i.kind === "import-statement" && !i.external) todo.push(i.path);
  }
  return packages;
}

describe("the bundled CLI (scripts/build.ts; no Docker needed)", function () {
  this.timeout(120_000);
  let meta: Metafile;
  let work: string;
  before(async () => {
    meta = await buildCli();
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), "airloft-bundle-"));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const chunk = (command: string): string => {
    const name = Object.keys(meta.outputs).find((o) => new RegExp(`/${command}-[A-Z0-9]+\\.js$`).test(o));
    assert.ok(name, `no chunk for ${command} in ${Object.keys(meta.outputs).join(" ")}`);
    return name;
  };
  const entry = (): string => {
    const name = Object.keys(meta.outputs).find((o) => o.endsWith("/airloft.js"));
    assert.ok(name);
    return name;
  };

  it("validates manifests as the sources do: same messages, same exit codes (precompiled schemas)", async () => {
    const fixtures = join(REPO_ROOT, "test/fixtures");
    const inputs = [
      ...readdirSync(join(fixtures, "broken")).map((f) => join(fixtures, "broken", f)),
      join(fixtures, "valid"),
      join(REPO_ROOT, "manifests"),
    ];
    for (const input of inputs) {
      const args = ["--state", join(work, "state.json"), "apply", "--dry-run", "-f", input];
      const [fromBundle, fromSources] = await Promise.all([bundled(args, { cwd: work }), airloft(args, { cwd: work })]);
      assert.deepEqual(fromBundle, fromSources, input);
    }
  });

  it("get and describe load neither dockerode, winston, ajv's compiler, the AWS SDK nor chokidar when they start", () => {
    const startup = new Set([...staticallyLoaded(meta, entry()), ...staticallyLoaded(meta, chunk("get"))]);
    const heavy = [...startup].filter(
      (p) =>
        /^(dockerode|docker-modem|winston|@aws-sdk\/.*|chokidar|jose)$/.test(p) ||
        (p.startsWith("ajv/") && !p.startsWith("ajv/dist/runtime/")),
    );
    assert.deepEqual(heavy, [], [...startup].join(" "));
  });

  it("apply loads neither the AWS SDK, the server nor chokidar; ssh2 and gRPC are not in the bundle at all", () => {
    const startup = staticallyLoaded(meta, chunk("apply"));
    assert.deepEqual(
      [...startup].filter((p) => /^(@aws-sdk\/.*|jose|chokidar)$/.test(p)),
      [],
    );
    const everything = new Set(Object.keys(meta.inputs).map((i) => /node_modules\/((@[^/]+\/)?[^/]+)/.exec(i)?.[1]));
    assert.deepEqual(
      ["ssh2", "@grpc/grpc-js", "protobufjs"].filter((p) => everything.has(p)),
      [],
    );
  });

  it("loads dockerode's ssh code from the installed package when an engine is reached over ssh", async () => {
    const state = join(work, "state.json");
    assert.equal(
      (await bundled(["--state", state, "apply", "--no-wait", "-f", join(REPO_ROOT, "manifests")], { cwd: work })).code,
      0,
    );
    // Nothing listens on port 1: ssh2 loaded and tried to connect.
    const r = await bundled(["--state", state, "describe", "app/demo/api"], {
      cwd: work,
      env: { DOCKER_HOST: "ssh://nobody@127.0.0.1:1" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cannot reach the Docker engine at ssh:\/\/nobody@127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  });

  it("serves with its manifest worker thread: a heavy account's apply is parsed there, and its errors name file, line and column", async () => {
    const serve = new ServeProcess({ DOCKER_HOST: "unix:///nonexistent/docker.sock" }, [ENTRY]);
    try {
      await serve.start();
      const admin = await serve.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
      const app = (i: number, image: string) =>
        `---\napiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web-${i}, group: bundle}\nspec: {image: ${image}, env: {NOTE: "${"n".repeat(400)}"}}\n`;
      const group =
        "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata: {name: bundle}\nspec: {provider: docker}\n";
      const apps = (count: number, wrong?: number) =>
        group + Array.from({ length: count }, (_, i) => app(i, i === wrong ? "7" : '"x:1"')).join("");
      // 900 apps (500 KB) go to the worker and make the account heavy: its next body goes there too.
      assert.equal((await serve.api("POST", `${API_PREFIX}/apply`, admin, apps(900))).status, 200);
      const wrong = await serve.api("POST", `${API_PREFIX}/apply`, admin, apps(40, 30));
      assert.equal(wrong.status, 422, JSON.stringify(wrong.json));
      assert.match((wrong.json as { message: string }).message, /^request body:159:15 spec\.image: /);
      const nice = readdirSync(`/proc/${serve.pid}/task`).map((task) => {
        const stat = readFileSync(`/proc/${serve.pid}/task/${task}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      });
      assert.ok(nice.includes(19), `a thread of the server runs at the lowest priority (the worker): ${nice}`);
      const applied = await serve.api("POST", `${API_PREFIX}/apply`, admin, apps(40));
      assert.equal(applied.status, 200, JSON.stringify(applied.json));
      assert.equal((applied.json as { changes: unknown[] }).changes.length, 41);
    } finally {
      await serve.stop();
      serve.remove();
    }
  });
});
