import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { dockerClient } from "../../src/providers/docker/engine.js";
import { LABEL } from "../../src/providers/ownership.js";
import { TEST_IMAGE, type TestEngine } from "../../support/engine.js";
import { type BackgroundCli, startAirloft } from "../support/cli.js";
import { endControllerRun } from "../support/controller-run.js";
import { requireEngine } from "../support/e2e.js";

const GROUP = "pace";
const REPLICAS = 4;

/**
 * A replica that turns healthy two seconds after it starts and stops at once on SIGTERM. Three
 * failed checks in a row make it unhealthy: on a loaded machine one check's exec can outlast its
 * timeout, and a healthy replica that turned unhealthy for that read as the pace broken (CI).
 */
const app = (name: string, version: number, pace: { maxSurge: number; maxUnavailable: number }) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name, group: GROUP },
  spec: {
    image: TEST_IMAGE,
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 2; touch /tmp/ready; while :; do sleep 1; done"],
    replicas: REPLICAS,
    env: { VERSION: String(version) },
    healthCheck: { command: ["test", "-f", "/tmp/ready"], intervalSeconds: 1, timeoutSeconds: 5, retries: 3 },
    strategy: { type: "RollingUpdate", ...pace },
  },
});

interface Sample {
  readonly running: number;
  readonly ready: number;
  readonly updatedReady: number;
  /** Replicas that serve or may any moment: one healthy, or one running the old config (its check may pass). */
  readonly mayServe: number;
  /** Each container as seen: "name uid=… hash=… state (status)", so a failure says which incarnation and config ran. */
  readonly containers: readonly string[];
  readonly at: string;
}

/**
 * maxSurge and maxUnavailable on the real engine: the engine is sampled during a rollout of four
 * replicas, and the counts of running and healthy containers never leave the bounds the pace sets.
 */
describe("rollout pace on Docker: maxSurge and maxUnavailable (real engine)", function () {
  this.timeout(300_000);
  let engine: TestEngine;
  let dir: string;
  let controller: BackgroundCli | undefined;
  const env = () => ({ DOCKER_HOST: engine.host, CI: "" });
  const write = (file: string, docs: readonly object[]) =>
    writeFileSync(join(dir, "manifests", file), docs.map((d) => stringify(d)).join("---\n"));

  /** One look at the engine: the app's containers by their ownership labels; `old` is the hash rolled from. */
  const sample = async (name: string, old?: string): Promise<Sample & { hash?: string }> => {
    const list = await dockerClient(engine.host).listContainers({
      all: true,
      filters: { label: [`${LABEL.group}=${GROUP}`, `${LABEL.name}=${name}`] },
    });
    const running = list.filter((c) => c.State === "running");
    const healthy = running.filter((c) => /\(healthy\)/.test(c.Status));
    const hashes = new Set(running.map((c) => c.Labels[LABEL.configHash]));
    const updatedReady = healthy.filter((c) => c.Labels[LABEL.configHash] !== old).length;
    const serving = running.filter((c) => healthy.includes(c) || c.Labels[LABEL.configHash] === old);
    const mayServe = new Set(serving.map((c) => c.Labels[LABEL.replica])).size;
    const containers = list
      .map(
        (c) =>
          `${(c.Names[0] ?? c.Id).replace(/^\//, "")} uid=${c.Labels[LABEL.uid]?.slice(0, 8)} hash=${c.Labels[LABEL.configHash]?.slice(0, 8)} ${c.State} (${c.Status})`,
      )
      .sort();
    return {
      running: running.length,
      ready: healthy.length,
      updatedReady,
      mayServe,
      containers,
      at: new Date().toISOString(),
      ...(hashes.size === 1 ? { hash: [...hashes][0] } : {}),
    };
  };

  /** Samples until every replica runs the new version and nothing else is left; returns every sample. */
  const sampleRollout = async (name: string, old: string): Promise<Sample[]> => {
    const samples: Sample[] = [];
    const deadline = Date.now() + 180_000;
    for (;;) {
      const s = await sample(name, old);
      samples.push(s);
      if (s.updatedReady === REPLICAS && s.running === REPLICAS) return samples;
      if (Date.now() > deadline)
        assert.fail(`${name} never rolled out: last ${JSON.stringify(s)}\n${controller?.log().slice(-3000)}`);
      // A short pause between looks: the engine is shared, and a look takes longer than this anyway.
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** Waits until the app's replicas all run (and are healthy, unless `starting`) on one config hash; returns it. */
  const untilSettled = async (name: string, { starting = false } = {}): Promise<string> => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = await sample(name);
      if (s.hash && (starting || s.ready === REPLICAS) && s.running === REPLICAS) return s.hash;
      if (Date.now() > deadline) assert.fail(`${name} never settled: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, starting ? 20 : 300));
    }
  };

  /** The samples around the first that breaks a bound, and the controller's log: which container went, and why. */
  const explain = (samples: readonly Sample[], broken: number): string =>
    `${samples
      .slice(Math.max(0, broken - 3), broken + 2)
      .map(
        (s) =>
          `      ${s.at}: ${s.running} running, ${s.ready} ready, ${s.mayServe} may serve\n        ${s.containers.join("\n        ")}`,
      )
      .join("\n")}\n${controller?.log().slice(-6000)}\n`;

  before(async function () {
    engine = await requireEngine(this);
    dir = mkdtempSync(join(tmpdir(), "airloft-pace-"));
    mkdirSync(join(dir, "manifests"));
    write("group.yaml", [
      {
        apiVersion: "airloft.dev/v1alpha1",
        kind: "Group",
        metadata: { name: GROUP },
        spec: { provider: "docker", docker: { host: engine.host } },
      },
    ]);
    controller = startAirloft(
      ["-v", "--state", join(dir, "state.json"), "watch", join(dir, "manifests"), "--resync", "2s"],
      {
        cwd: dir,
        env: env(),
      },
    );
  });

  after(async function () {
    this.timeout(120_000);
    await endControllerRun(controller, dir, GROUP, env());
  });

  for (const pace of [
    { maxSurge: 1, maxUnavailable: 0 },
    { maxSurge: 0, maxUnavailable: 1 },
  ]) {
    const most = REPLICAS + pace.maxSurge;
    const least = REPLICAS - pace.maxUnavailable;
    it(`maxSurge ${pace.maxSurge}, maxUnavailable ${pace.maxUnavailable}: never over ${most} running nor under ${least} ready`, async () => {
      const name = `web${pace.maxSurge}${pace.maxUnavailable}`;
      write(`${name}.yaml`, [app(name, 1, pace)]);
      const old = await untilSettled(name);
      write(`${name}.yaml`, [app(name, 2, pace)]);
      const samples = await sampleRollout(name, old);
      const maxRunning = Math.max(...samples.map((s) => s.running));
      const minReady = Math.min(...samples.map((s) => s.ready));
      process.stderr.write(
        `      ${samples.length} samples: at most ${maxRunning} running, at least ${minReady} ready\n`,
      );
      const broken = samples.findIndex((s) => s.running > most || s.ready < least);
      if (broken >= 0) process.stderr.write(explain(samples, broken));
      // The rollout was seen under way, not only its end.
      assert.ok(
        samples.some((s) => s.updatedReady > 0 && s.updatedReady < REPLICAS),
        "no sample caught the rollout half done",
      );
      assert.ok(maxRunning <= most, `${maxRunning} running at once, over ${most}`);
      assert.ok(minReady >= least, `${minReady} ready at one moment, under ${least}`);
      // And the pace is used: a surge of one runs the fifth container, an unavailable of one drops to three.
      if (pace.maxSurge > 0) assert.equal(maxRunning, most, "the surge was never used");
      if (pace.maxUnavailable > 0) assert.ok(maxRunning <= REPLICAS, "a replica was added beside the old ones");
    });
  }

  // Issue 18: old replicas that run but are not ready yet (their first check not passed) were
  // replaced at once, outside the pace. Rolled before they are healthy, none may go before a
  // successor is ready: the replicas that serve or may any moment never drop under four.
  it("maxSurge 1, maxUnavailable 0, rolled while the old replicas still start: none goes before a successor is ready", async () => {
    const pace = { maxSurge: 1, maxUnavailable: 0 };
    const name = "early10";
    write(`${name}.yaml`, [app(name, 1, pace)]);
    const old = await untilSettled(name, { starting: true });
    write(`${name}.yaml`, [app(name, 2, pace)]);
    const samples = await sampleRollout(name, old);
    const maxRunning = Math.max(...samples.map((s) => s.running));
    const minMayServe = Math.min(...samples.map((s) => s.mayServe));
    process.stderr.write(
      `      ${samples.length} samples: at most ${maxRunning} running, at least ${minMayServe} serving or about to, ${samples[0]?.ready} ready at the start\n`,
    );
    const broken = samples.findIndex((s) => s.running > REPLICAS + 1 || s.mayServe < REPLICAS);
    if (broken >= 0) process.stderr.write(explain(samples, broken));
    assert.ok((samples[0]?.ready ?? 0) < REPLICAS, "the old replicas were all healthy before the rollout began");
    assert.ok(maxRunning <= REPLICAS + 1, `${maxRunning} running at once, over ${REPLICAS + 1}`);
    assert.ok(minMayServe >= REPLICAS, `${minMayServe} replicas serving or about to at one moment, under ${REPLICAS}`);
  });
});
