import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SWARM_REDIS_IMAGE, SWARM_TEST_IMAGE, type TestSwarm } from "../../support/swarm.js";
import { airloft } from "../support/cli.js";
import { requireSwarm } from "../support/e2e.js";

/** The same manifests as on Docker, with provider swarm on the Group, through the CLI. */
describe("provider swarm through the CLI", function () {
  this.timeout(240_000);
  let swarm: TestSwarm;
  let dir: string;
  const cli = (...args: string[]) =>
    airloft(["--state", join(dir, "state.json"), ...args], { cwd: dir, env: { CI: "", DOCKER_HOST: "" } });

  before(async function () {
    swarm = await requireSwarm(this);
    dir = mkdtempSync(join(tmpdir(), "airloft-swarm-cli-"));
    mkdirSync(join(dir, "manifests"));
    writeFileSync(
      join(dir, "manifests", "all.yaml"),
      [
        `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: swcli\nspec:\n  provider: swarm\n  swarm:\n    host: ${swarm.host}\n`,
        `apiVersion: airloft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: cache\n  group: swcli\nspec:\n  template: redis\n  image: ${SWARM_REDIS_IMAGE}\n`,
        `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: kv\n  group: swcli\nspec:\n  image: ${SWARM_TEST_IMAGE}\n  replicas: 3\n  command: ["sh", "-c", "exec sleep 3600"]\n  services:\n    - name: cache\n`,
      ].join("---\n"),
    );
  });

  after(async () => {
    if (dir) {
      await cli("delete", "group/swcli", "--cascade");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("applies a group, a Redis service and a bound app; status names the nodes; delete removes them", async () => {
    const applied = await cli("apply", "-f", join(dir, "manifests"));
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    assert.match(applied.stdout, /service\/swcli\/cache ready/);
    const service = JSON.parse((await cli("get", "service/swcli/cache", "-o", "json")).stdout) as {
      status: { node?: string; instances?: Array<{ node?: string }> };
    };
    assert.ok(service.status.node, "the node of the service's volume");
    const app = JSON.parse((await cli("get", "app/swcli/kv", "-o", "json")).stdout) as {
      status: { readyReplicas?: number; instances?: Array<{ node?: string }> };
    };
    assert.equal(app.status.readyReplicas, 3);
    assert.ok(app.status.instances?.every((i) => i.node?.startsWith("alsw")));
    const manager = swarm.nodes[0];
    assert.ok(manager);
    const kv = (await manager.docker.getService("swcli_kv").inspect()) as {
      Spec: { TaskTemplate: { ContainerSpec: { Env: string[] } } };
    };
    assert.ok(kv.Spec.TaskTemplate.ContainerSpec.Env.some((e) => e.startsWith("REDIS_URL=redis://default:")));
    // `top`: figures for the tasks on the manager (the engine reached), node and state for all.
    const top = await cli("top", "-g", "swcli");
    assert.equal(top.code, 0, top.stderr);
    const rows = top.stdout.trim().split("\n");
    assert.match(rows[0] ?? "", /NODE\s+STATE/);
    const replicas = rows.slice(1).map((r) => r.split(/\s+/));
    assert.equal(replicas.length, 4, top.stdout);
    for (const [, , , cpu, memory, , , node, state] of replicas) {
      assert.match(node ?? "", /^alsw[123]$/);
      assert.equal(state, "running");
      if (node === "alsw1") assert.ok(/^\d+m$/.test(cpu ?? "") && /^\d+Mi$/.test(memory ?? ""), top.stdout);
      else assert.deepEqual([cpu, memory], ["-", "-"], top.stdout);
    }
    assert.ok(
      replicas.some(([, , , , , , , node]) => node === "alsw1"),
      `three replicas spread over three nodes: ${top.stdout}`,
    );
    const deleted = await cli("delete", "group/swcli", "--cascade");
    assert.equal(deleted.code, 0, `${deleted.stdout}\n${deleted.stderr}`);
    const left = (await manager.docker.listServices({ filters: { name: ["swcli_"] } })) as unknown[];
    assert.deepEqual(left, []);
  });
});
