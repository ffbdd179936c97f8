import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { App } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { airloft, type BackgroundCli, startAirloft } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";

const SECRET = "tok-9f8e7d6c5b4a";

/** A CGI check that answers 200 to its first four requests and 500 after: an app that hangs. */
const HUNG_COMMAND = [
  "mkdir -p /www/cgi-bin",
  "echo up > /www/index.html",
  `printf '#!/bin/sh\\nn=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n\\nif [ $n -gt 4 ]; then printf "HTTP/1.0 500 Internal Server Error\\\\r\\\\n\\\\r\\\\nhung\\\\n"; else printf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\nok\\\\n"; fi\\n' > /www/cgi-bin/health`,
  "chmod +x /www/cgi-bin/health",
  'exec httpd -f -p "$PORT" -h /www',
].join("; ");

const manifests = (host: string) => [
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name: "live" },
    spec: { provider: "docker", docker: { host } },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "crashy", group: "live" },
    spec: {
      image: TEST_IMAGE,
      command: ["sh", "-c", 'echo "connecting with $TOKEN"; echo "giving up now"; exit 3'],
      env: { TOKEN: SECRET },
    },
  },
  {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "hung", group: "live" },
    spec: {
      image: TEST_IMAGE,
      command: ["sh", "-c", HUNG_COMMAND],
      port: 8080,
      replicas: 2,
      healthCheck: { http: { path: "/cgi-bin/health" }, intervalSeconds: 1, timeoutSeconds: 2, retries: 3 },
    },
  },
];

describe("liveness and crash loops on a real Docker engine", () => {
  let engine: TestEngine;
  let dir: string;
  let controller: BackgroundCli | undefined;
  const log = (): string => controller?.log() ?? "";
  const env = () => ({ DOCKER_HOST: engine.host, CI: "" });
  const cli = (...args: string[]) => airloft(["--state", join(dir, "state.json"), ...args], { env: env(), cwd: dir });
  const getApp = async (name: string): Promise<App> => {
    const r = await cli("get", `app/live/${name}`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as App;
  };
  const ready = (app: App) => app.status?.conditions?.find((c) => c.type === "Ready");
  /**
   * Reads the app every second until `pick` finds something in it; fails after `ms` with what it
   * waited for, the app's last status and the controller's log.
   */
  const untilApp = async <T>(name: string, ms: number, what: string, pick: (app: App) => T | undefined) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const app = await getApp(name);
      const found = pick(app);
      if (found !== undefined) return { app, found };
      if (Date.now() > deadline)
        assert.fail(`${what}: ${JSON.stringify(app.status)}\ncontroller log:\n${log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  before(async function () {
    engine = await requireEngine(this);
    dir = mkdtempSync(join(tmpdir(), "airloft-live-"));
    writeFileSync(
      join(dir, "live.yaml"),
      manifests(engine.host)
        .map((m) => stringify(m))
        .join("---\n"),
    );
    const applied = await cli("apply", "-f", join(dir, "live.yaml"), "--no-wait");
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    controller = startAirloft(["--state", join(dir, "state.json"), "controller", "--resync", "1s"], {
      cwd: dir,
      env: env(),
    });
  });

  after(async function () {
    this.timeout(120_000);
    await controller?.stop();
    if (dir) {
      await cli("delete", "group/live", "--cascade", "--timeout", "90s");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a crash-looping app as CrashLoopBackOff with its exit code, restarts and last lines, and backs off", async function () {
    this.timeout(150_000);
    const { app: last, found: condition } = await untilApp(
      "crashy",
      120_000,
      "no CrashLoopBackOff with a 20 s back-off",
      (app) => {
        const c = ready(app);
        return c?.reason === "CrashLoopBackOff" && /back-off 20s/.test(c.message) ? c : undefined;
      },
    );
    assert.equal(condition.status, "False");
    assert.match(
      condition.message,
      /^0\/1 replicas ready; crashy-0 exited with code 3, restarted \d+ times?, back-off 20s; last log: connecting with \*\*\* \| giving up now$/,
    );
    assert.ok(!JSON.stringify(last.status).includes(SECRET), "the env value is nowhere in the status");
    const [instance] = last.status?.instances ?? [];
    assert.equal(instance?.exitCode, 3);
    assert.ok((instance?.restarts ?? 0) >= 2, JSON.stringify(instance));
    // In back-off the engine's own restarts are held: AirLoft paces them.
    const [container] = await engine.docker.listContainers({
      all: true,
      filters: { label: ["airloft.dev/name=crashy"] },
    });
    const inspected = await engine.docker.getContainer(container?.Id ?? "").inspect();
    assert.equal(inspected.HostConfig.RestartPolicy?.Name, "no");
  });

  it("replaces a replica whose health check turned to 500, and says why", async function () {
    this.timeout(150_000);
    const { found: failing } = await untilApp("hung", 90_000, "no failing check reported", (app) => {
      const c = ready(app);
      return c && /GET \/cgi-bin\/health on hung-[01]: 500/.test(c.message) ? c : undefined;
    });
    assert.equal(failing.status, "False");
    assert.equal(failing.reason, "Unhealthy");
    const { found: replaced } = await untilApp("hung", 90_000, "no replica replaced", (app) =>
      app.status?.instances?.find((i) => (i.restarts ?? 0) >= 1),
    );
    assert.match(replaced.name, /^airloft-live_hung-[01]-/);
    const described = await cli("describe", "app/live/hung");
    // At least `retries` (3): a loaded machine may count one more before the reconcile comes.
    const removal =
      /app:live\/hung:[01] remove \(liveness: GET \/cgi-bin\/health on hung-[01]: 500, (\d+) checks in a row\)/.exec(
        described.stdout,
      );
    assert.ok(removal && Number(removal[1]) >= 3, described.stdout);
    // One at a time: a round of operations runs its removals before its creations, so two
    // replacements in one round would show two removals in a row. The next replica may go in a
    // later round of the same reconcile, once its predecessor's successor is ready.
    assert.doesNotMatch(described.stdout, /remove \(liveness[^;\n]*; [^;\n]*remove \(liveness/);
  });
});
