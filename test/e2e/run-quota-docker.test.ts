import { strict as assert } from "node:assert";
import { startEmbedded } from "../../src/cli/embedded.js";
import { createProgress } from "../../src/controllers/context.js";
import { GroupController } from "../../src/controllers/group.js";
import { QuotaController, type QuotaStatus } from "../../src/controllers/quota.js";
import { listRuns, removeRun } from "../../src/jobs/docker-runs.js";
import { RunAccess } from "../../src/jobs/run-access.js";
import { dockerOf } from "../../src/jobs/run-template.js";
import { engineRuns } from "../../src/jobs/running-runs.js";
import { createLogger } from "../../src/log.js";
import { DockerProvider } from "../../src/providers/docker/provider.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { isReadyAt } from "../../src/resources/conditions.js";
import { loadTexts } from "../../src/resources/loader.js";
import type { App, Group } from "../../src/resources/types.js";
import type { Store } from "../../src/store/store.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { requireEngine } from "../support/e2e.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const G = "runquota";
const MANIFESTS = `
{apiVersion: airloft.dev/v1alpha1, kind: Group, metadata: {name: ${G}}, spec: {provider: docker}}
---
{apiVersion: airloft.dev/v1alpha1, kind: Quota, metadata: {name: q, group: ${G}}, spec: {hard: {replicas: 10}}}
---
{apiVersion: airloft.dev/v1alpha1, kind: App, metadata: {name: worker, group: ${G}}, spec: {image: "${TEST_IMAGE}", replicas: 1}}
`;

/**
 * A one-off run on the real engine counts in its group's quota from its start, not from the
 * quota's next resync (an hour away here), and leaves it once it ended (the quota's 2 s look).
 */
describe("one-off runs in the quota's status.used at once (real engine)", function () {
  this.timeout(180_000);
  let store: Store;
  let dir: string;
  let providers: ProviderRegistry;

  before(async function () {
    const engine = await requireEngine(this);
    ({ store, dir } = await openTempStore("airloft-run-quota-", { groupCommitMs: 0 }));
    await store.apply(loadTexts([{ name: "m.yaml", content: MANIFESTS, baseDir: "." }]));
    const env = { DOCKER_HOST: engine.host };
    const docker = new DockerProvider({ instanceId: store.instanceId, env });
    providers = new ProviderRegistry({ instanceId: store.instanceId, env, docker });
  });

  after(async function () {
    this.timeout(60_000);
    const group = store?.get(`Group//${G}`) as Group | undefined;
    const docker = group ? dockerOf(await providers.for(group)) : undefined;
    if (group && docker) {
      const address = docker.address(group);
      for (const run of await listRuns(address, docker.instanceId, G)) await removeRun(address, run.id);
      await docker.finalizeGroup(group);
    }
    if (store) await removeTempStore(store, dir);
  });

  it("counts a one-off run from its start and drops it after its end", async () => {
    const log = createLogger({ level: "error" });
    const ctx = { store, providers, log, progress: createProgress(), runs: engineRuns(providers) };
    const controllers = [new GroupController(ctx), new QuotaController(ctx)];
    const loop = startEmbedded(store, log, () => undefined, { controllers, resyncMs: 3_600_000 }, providers);
    const status = () => store.get(`Quota/${G}/q`)?.status as QuotaStatus | undefined;
    const until = async (what: string, ok: () => boolean, tries = 150) => {
      for (let i = 0; i < tries && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(ok(), `${what}: ${JSON.stringify(status())}`);
    };
    try {
      await until("the group's network", () => isReadyAt(store.get(`Group//${G}`) as Group), 600);
      await until("the first count", () => status()?.used?.replicas === 1);
      const runs = new RunAccess(store, providers);
      await runs.start(store.get(`App/${G}/worker`) as App, ["sleep", "4"]);
      // Well inside the quota's resync: only the start's recount can show it.
      await until("counted after the start", () => status()?.runs === 1 && status()?.used?.replicas === 2, 50);
      await until("dropped after its end", () => status()?.runs === 0 && status()?.used?.replicas === 1);
    } finally {
      await loop.stop();
    }
  });
});
