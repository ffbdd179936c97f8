import { strict as assert } from "node:assert";
import { dockerClient } from "../../src/providers/docker/engine.js";
import type { Revision } from "../../src/releases/revisions.js";
import { getCondition } from "../../src/resources/conditions.js";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { App, StoredEvent } from "../../src/resources/types.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { airloft } from "../support/cli.js";
import { requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const GROUP = "rel";
const SECRET = "s3cr3t-rel-value";
const groupManifest = `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${GROUP}\nspec:\n  provider: docker\n`;
const SERVE = 'echo "v$VERSION" > /www/index.html && exec httpd -f -p $PORT -h /www';

/** The app at a version: an httpd that answers "vN", checked over HTTP, with a short deadline. */
function web(version: number, options: { command?: string; extra?: string } = {}): string {
  return `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: web
  group: ${GROUP}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", ${JSON.stringify(options.command ?? `mkdir -p /www && ${SERVE}`)}]
  replicas: 2
  port: 8080
  env:
    VERSION: "${version}"
    TOKEN: "${SECRET}"
  healthCheck:
    http: { path: "/" }
    intervalSeconds: 1
    timeoutSeconds: 2
  strategy:
    progressDeadlineSeconds: 15
${options.extra ?? ""}`;
}

/**
 * Releases on the real engine, through `airloft serve` and the CLI with --server: history and
 * undo, the progress deadline with the old replicas still answering, auto rollback, and the
 * release command (blocked on failure; run once across a SIGKILL of the server).
 */
describe("releases on Docker: history, undo, deadline, rollback, release command (real engine)", function () {
  this.timeout(600_000);
  let engine: TestEngine;
  let server: ServeProcess;
  let token = "";

  const api = async (method: string, path: string, body?: string) => {
    const answer = await server.api(method, path, token, body);
    assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`);
    return answer.json;
  };
  const apply = (manifest: string) => api("POST", `${API_PREFIX}/apply`, manifest);
  const getApp = async () => (await api("GET", `${API_PREFIX}/groups/${GROUP}/apps/web`)) as App;
  const history = async () =>
    ((await api("GET", `${API_PREFIX}/groups/${GROUP}/apps/web/rollout/history`)) as { items: Revision[] }).items;
  const cli = (...args: string[]) =>
    airloft([...args, "--server", server.url], { env: { AIRLOFT_TOKEN: token }, cwd: server.dir });
  /** Polls until `pick` finds something; fails with the app's status and the server's log after `ms`. */
  const until = async <T>(what: string, ms: number, pick: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = await pick();
      if (found !== undefined) return found;
      if (Date.now() > deadline)
        assert.fail(`${what}: ${JSON.stringify((await getApp()).status)}\n${server.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const readyNow = async () => {
    const app = await getApp();
    const ready = getCondition(app.status, "Ready");
    return ready?.status === "True" && ready.observedGeneration === app.metadata.generation ? app : undefined;
  };
  /** Every endpoint of the app answers `body`. */
  const answers = async (app: App, body: string) => {
    assert.ok((app.status?.endpoints ?? []).length > 0, "the app has endpoints");
    for (const url of app.status?.endpoints ?? []) assert.equal((await (await fetch(url)).text()).trim(), body, url);
  };
  const login = async () => {
    token = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
  };

  before(async function () {
    engine = await requireEngine(this);
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start(["--resync", "2s"]);
    await login();
    await apply(groupManifest);
  });

  after(async function () {
    this.timeout(120_000);
    if (server?.url) await server.deleteGroups([GROUP]).catch(() => undefined);
    await server?.stop();
    server?.remove();
  });

  it("records three revisions, shows them, and undo to the first rolls back as a fourth", async () => {
    for (const v of [1, 2, 3]) {
      await apply(web(v));
      await until(`v${v} ready`, 90_000, readyNow);
    }
    const shown = await cli("rollout", "history", `app/${GROUP}/web`);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^1 +Complete .*admin admin/m);
    assert.match(shown.stdout, /^3 +Complete /m);
    const undo = await cli("rollout", "undo", `app/${GROUP}/web`, "--to-revision", "1");
    assert.equal(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, /rolled back to revision 1 as revision 4/);
    const status = await cli("rollout", "status", `app/${GROUP}/web`, "--timeout", "90s");
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /successfully rolled out/);
    await answers(await getApp(), "v1");
    const revisions = await history();
    assert.deepEqual(
      revisions.map((r) => [r.revision, r.outcome]),
      [
        [1, "Complete"],
        [2, "Complete"],
        [3, "Complete"],
        [4, "Complete"],
      ],
    );
    assert.equal(revisions[3]?.by, "admin admin (undo to revision 1)");
    assert.match(revisions[3]?.imageId ?? "", /^sha256:/);
  });

  it("fails an image that exits at once without waiting out the deadline; the old replicas answer", async () => {
    await apply(web(5, { command: "echo starting; exit 3" }));
    const status = await cli("rollout", "status", `app/${GROUP}/web`, "--timeout", "120s");
    assert.equal(status.code, 1, status.stdout);
    assert.match(
      status.stderr,
      /rollout failed: ProgressDeadlineExceeded: revision 5: (new replicas crash-loop|no progress)/,
    );
    await answers(await getApp(), "v1");
    assert.equal((await history()).at(-1)?.outcome, "Failed");
  });

  it("fails a health check that never passes at the deadline; the old replicas answer", async () => {
    // An httpd with nothing to serve: its check gets 404 for ever.
    await apply(web(6, { command: "mkdir -p /www && exec httpd -f -p $PORT -h /www" }));
    const status = await cli("rollout", "status", `app/${GROUP}/web`, "--timeout", "120s");
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stderr, /ProgressDeadlineExceeded: revision 6: no progress in 15s \(2 updated, 0 ready\)/);
    await answers(await getApp(), "v1");
  });

  it("rolls back to the last good revision by itself with autoRollback, and says why", async () => {
    await apply(web(7, { command: "exit 3", extra: "    autoRollback: true\n" }));
    const rolled = await until("a rollback", 120_000, async () => {
      const items = await history();
      return items.some((r) => r.revision === 7 && r.outcome === "RolledBack") && items.at(-1)?.outcome === "Complete"
        ? items
        : undefined;
    });
    assert.match(rolled.find((r) => r.revision === 7)?.reason ?? "", /rolled back to revision 4/);
    const app = await until("ready after the rollback", 60_000, readyNow);
    assert.equal(app.spec.env?.VERSION, "1");
    await answers(app, "v1");
    const events = (await api("GET", `${API_PREFIX}/groups/${GROUP}/apps/web/events`)) as { items: StoredEvent[] };
    assert.ok(events.items.some((e) => e.reason === "RolledBack" && /revision 7 failed/.test(e.message)));
  });

  it("blocks the rollout on a failing release command, with its last lines and no secret", async () => {
    const release = `  release:\n    command: ["sh", "-c", "echo migrating with $TOKEN; echo schema broken >&2; exit 4"]\n`;
    await apply(`${web(9)}${release}`);
    const status = await cli("rollout", "status", `app/${GROUP}/web`, "--timeout", "120s");
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stderr, /ReleaseFailed: revision \d+: release command exited with code 4: .*schema broken/);
    assert.ok(!status.stderr.includes(SECRET), "no secret value in the condition");
    assert.match(status.stderr, /migrating with \*\*\*/);
    await answers(await getApp(), "v1");
    const last = (await history()).at(-1);
    assert.equal(last?.outcome, "ReleaseFailed");
    assert.deepEqual(last?.release?.exitCode, 4);
    const app = await getApp();
    assert.ok(
      (app.status?.instances ?? []).every((i) => i.configHash === app.status?.instances?.[0]?.configHash),
      "no replica of the new revision started",
    );
  });

  it("runs a passing release command exactly once, though the server is killed while it runs", async () => {
    const release = `  release:\n    command: ["sh", "-c", "echo started; sleep 6; echo finished"]\n`;
    await apply(`${web(10)}${release}`);
    const docker = dockerClient(engine.host);
    let uid = "";
    const getAppUid = async () => uid || (uid = (await getApp()).metadata.uid ?? "");
    const running = await until("the release running", 60_000, async () => {
      await getAppUid();
      const list = await docker.listContainers({ filters: { name: [`airloft-release_${uid}_`] } });
      return list.find((c) => c.State === "running");
    });
    await server.kill();
    await server.start(["--resync", "2s"]);
    await login();
    const app = await until("v10 ready after the restart", 120_000, readyNow);
    await answers(app, "v10");
    const after = await docker.listContainers({ all: true, filters: { name: [`airloft-release_${uid}_`] } });
    assert.deepEqual(
      after.map((c) => c.Id),
      [running.Id],
      "one release container: the one that ran before the kill",
    );
    const info = await docker.getContainer(running.Id).inspect();
    assert.equal(info.State.ExitCode, 0);
    assert.equal(info.RestartCount, 0);
    const last = (await history()).at(-1);
    assert.deepEqual(last?.release, { exitCode: 0, output: ["started", "finished"] });
    assert.equal(last?.outcome, "Complete");
  });
});
