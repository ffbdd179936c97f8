import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { App } from "../../src/resources/types.js";
import type { TestEngine } from "../../support/engine.js";
import { airloft, REPO_ROOT } from "../support/cli.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { httpGet } from "../support/http.js";

const run = promisify(execFile);
const IMAGE = "airloft-test/redis:1";
const GROUP = "stack";
const PROJECT = "airloftimport";

/** A CGI script that reads what the worker wrote: /cgi-bin/beat */
const CGI =
  "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nredis-cli --no-auth-warning -u \"$REDIS_URL\" GET heartbeat\n";

/**
 * Three services as a Compose user writes them: web (busybox httpd with a CGI that reads Redis),
 * worker (writes a heartbeat to Redis every second) and redis. `$$` is Compose's escape for `$`.
 */
const COMPOSE = `services:
  web:
    image: ${IMAGE}
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && echo hello from web > /www/index.html && printf '%s' \\"$$CGI\\" > /www/cgi-bin/beat && chmod +x /www/cgi-bin/beat && exec httpd -f -p 8080 -h /www"]
    ports:
      - "127.0.0.1::8080"
    environment:
      REDIS_URL: redis://redis:6379/0
      CGI: ${JSON.stringify(CGI).replaceAll("$", "$$$$")}
    depends_on: [redis]
  worker:
    image: ${IMAGE}
    command: ["sh", "-c", "while true; do redis-cli --no-auth-warning -u \\"$$REDIS_URL\\" SET heartbeat alive >/dev/null; sleep 1; done"]
    environment:
      - REDIS_URL=redis://redis:6379/0
    depends_on: [redis]
  redis:
    image: ${IMAGE}
    command: ["redis-server", "--protected-mode", "no", "--dir", "/data"]
    volumes:
      - redis-data:/data
volumes:
  redis-data:
`;

/** GETs a path until its body is what is expected (the worker's first beat may not be there yet). */
async function answer(
  base: string,
  path: string,
  expected: string,
  timeoutMs = 60_000,
): Promise<{ body: string; ms: number }> {
  const started = Date.now();
  let body = "";
  while (Date.now() - started < timeoutMs) {
    body = (await httpGet(`${base}${path}`, 40).catch(() => ({ body: "" }))).body.trim();
    if (body === expected) return { body, ms: Date.now() - started };
    await new Promise((r) => setTimeout(r, 200));
  }
  return { body, ms: Date.now() - started };
}

describe("import a Compose stack and run it on a real Docker engine", () => {
  let engine: TestEngine;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const measured: Record<string, number> = {};
  const cli = (...args: string[]) => airloft(["--state", join(dir, "state.json"), ...args], { env, cwd: dir });
  const compose = (...args: string[]) =>
    run("docker-compose", ["-p", PROJECT, "-f", join(dir, "docker-compose.yml"), ...args], { env, cwd: dir });

  before(async function () {
    requireComponent(this, "docker-compose", commandMissing("docker-compose", "apt-get install docker-compose"));
    engine = await requireEngine(this);
    this.timeout(180_000);
    env = { ...process.env, DOCKER_HOST: engine.host, CI: "", COMPOSE_INTERACTIVE_NO_CLI: "1" };
    await run("sh", [join(REPO_ROOT, "scripts/redis-image.sh"), IMAGE], { env });
    dir = mkdtempSync(join(tmpdir(), "airloft-import-"));
    writeFileSync(join(dir, "docker-compose.yml"), COMPOSE);
  });

  after(async function () {
    this.timeout(180_000);
    if (!dir) return;
    await compose("down", "-v", "--remove-orphans").catch(() => undefined);
    await cli("delete", `group/${GROUP}`, "--cascade").catch(() => undefined);
    await engine.docker
      .getVolume(`airloft-${GROUP}_redis-data`)
      .remove()
      .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(
      `      side by side: docker-compose up ${measured.composeUp} ms, then answering ${measured.composeAnswer} ms; airloft apply ${measured.airloftApply} ms, then answering ${measured.airloftAnswer} ms\n`,
    );
  });

  it("runs under docker-compose: web answers from Redis what the worker wrote", async function () {
    this.timeout(180_000);
    let started = Date.now();
    await compose("up", "-d");
    measured.composeUp = Date.now() - started;
    const { stdout } = await compose("port", "web", "8080");
    const base = `http://${stdout.trim()}`;
    started = Date.now();
    const beat = await answer(base, "/cgi-bin/beat", "alive");
    if (beat.body !== "alive")
      assert.fail(`web answered ${JSON.stringify(beat.body)}; logs:\n${(await compose("logs")).stdout}`);
    measured.composeAnswer = Date.now() - started;
    assert.equal((await httpGet(`${base}/`)).body.trim(), "hello from web");
    await compose("down", "-v");
  });

  it("imports it, reporting the redis command it leaves out at its line, into valid manifests", async () => {
    const r = await cli("import", "compose", "docker-compose.yml", "-g", GROUP, "-o", "manifests");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^docker-compose\.yml:\d+:5 services\.redis\.command: not imported: the template runs its own command$/m,
    );
    assert.match(r.stderr, /services\.web\.environment\.REDIS_URL: changed: bound to Service redis/);
    assert.deepEqual(readdirSync(join(dir, "manifests")).sort(), [
      "app-web.yaml",
      "app-worker.yaml",
      "group-stack.yaml",
      "service-redis.yaml",
    ]);
  });

  it("applied, converges and answers as it did under docker-compose", async function () {
    this.timeout(300_000);
    let started = Date.now();
    const r = await cli("apply", "-f", "manifests");
    measured.airloftApply = Date.now() - started;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const web = JSON.parse((await cli("get", `app/${GROUP}/web`, "-o", "json")).stdout) as App;
    const [base] = web.status?.endpoints ?? [];
    assert.ok(base, "web has an endpoint");
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    started = Date.now();
    assert.equal((await answer(base, "/cgi-bin/beat", "alive")).body, "alive");
    measured.airloftAnswer = Date.now() - started;
    assert.equal((await httpGet(`${base}/`)).body.trim(), "hello from web");
    assert.deepEqual(web.spec.services, [{ name: "redis" }]);
  });

  it("round trip: get -o yaml (and -o toml) of the result, applied again, changes nothing", async function () {
    this.timeout(180_000);
    for (const format of ["yaml", "toml"]) {
      const got = await cli("get", "-g", GROUP, "-o", format);
      assert.equal(got.code, 0, got.stderr);
      const file = join(dir, `stack.${format}`);
      writeFileSync(file, got.stdout);
      const diff = await cli("diff", "-f", file);
      assert.equal(diff.code, 0, `${format}: ${diff.stdout}${diff.stderr}`);
      const again = await cli("apply", "-f", file);
      assert.equal(again.code, 0, again.stderr);
      const lines = again.stdout.split("\n").filter((l) => / (created|configured|unchanged|deleted)$/.test(l));
      assert.ok(lines.length >= 3, again.stdout);
      assert.ok(
        lines.every((l) => l.endsWith(" unchanged")),
        `${format}: ${again.stdout}`,
      );
    }
  });
});
