import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import type { InfraProvider } from "../../src/providers/types.js";
import { API_VERSION, type App, type Group, type Service } from "../../src/resources/types.js";

/** What one provider brings to the conformance suite: itself and specs that run on it. */
export interface ConformanceTarget {
  readonly provider: InfraProvider;
  readonly groupSpec: Group["spec"];
  readonly serviceSpec: Service["spec"];
  /** An app of `replicas`; another `version` is a configuration change (a rollout). */
  readonly appSpec: (replicas: number, version: string) => App["spec"];
}

/**
 * The stable form of every operation, on every provider: "kind:group/name[:replica] verb
 * [detail] [(cause)]", e.g. "app:shop/web:1 create (missing)", "group:shop create-listener 80".
 */
export const OPERATION_FORM =
  /^(group|app|service):[a-z0-9-]+(\/[a-z0-9-]+)?(:(\d+|\?))? [a-z][a-z-]*( [^()]+)?( \([^()]+\))?$/;

const PASSES = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One suite every provider runs, as hono runs one suite against every adapter: a group, a
 * service and an app through create, idempotent second converge, scale, update, diff, delete and
 * teardown, through the InfraProvider interface only.
 */
export function providerConformance(name: string, setup: (ctx: Mocha.Context) => Promise<ConformanceTarget>): void {
  describe(`provider conformance: ${name}`, function () {
    this.timeout(120_000);
    let t: ConformanceTarget;
    let group: Group;
    let service: Service;
    let app: App;
    const printed: string[] = [];
    const onOperation = (op: string) => printed.push(op);
    const suffix = randomUUID().slice(0, 6);
    const meta = (objName: string, inGroup?: string) => ({
      name: objName,
      uid: randomUUID(),
      generation: 1,
      ...(inGroup ? { group: inGroup } : {}),
    });

    /** Reconciles until converged, as the queue would requeue it; the last outcome and every operation. */
    const untilConverged = async <T extends { converged: boolean; operations: readonly string[] }>(
      pass: () => Promise<T>,
    ) => {
      const operations: string[] = [];
      for (let i = 0; i < PASSES; i++) {
        const outcome = await pass();
        operations.push(...outcome.operations);
        if (outcome.converged) return { outcome, operations };
        await sleep(500);
      }
      throw new Error(`not converged after ${PASSES} passes: ${operations.join("; ")}`);
    };
    const untilDone = async (pass: () => Promise<boolean>) => {
      for (let i = 0; i < PASSES; i++) {
        if (await pass()) return;
        await sleep(500);
      }
      throw new Error(`not finalized after ${PASSES} passes`);
    };
    const reconcileApp = () => t.provider.reconcileApp(app, group, { onOperation });
    const reconcileService = () =>
      t.provider.reconcileService(service, group, { password: "conformance-secret-0123456789" }, { onOperation });

    before(async function () {
      t = await setup(this);
      group = { apiVersion: API_VERSION, kind: "Group", metadata: meta(`conf-${suffix}`), spec: t.groupSpec };
      service = {
        apiVersion: API_VERSION,
        kind: "Service",
        metadata: meta("cache", group.metadata.name),
        spec: t.serviceSpec,
      };
      app = {
        apiVersion: API_VERSION,
        kind: "App",
        metadata: meta("web", group.metadata.name),
        spec: t.appSpec(2, "1"),
      };
    });

    after(async () => {
      // Whatever a failed case left: removed through the provider, best effort.
      if (!t || !group) return;
      await t.provider.finalizeApp(app, group).catch(() => undefined);
      await t.provider.finalizeService(service, group).catch(() => undefined);
      for (let i = 0; i < 10 && !(await t.provider.finalizeGroup(group).catch(() => true)); i++) await sleep(500);
    });

    it("creates a group; a second converge plans nothing and does nothing", async () => {
      assert.notDeepEqual(await t.provider.planGroup(group), [], "a new group plans its network");
      for (let i = 0; i < PASSES; i++) {
        group = { ...group, status: await t.provider.reconcileGroup(group, { onOperation }) };
        if ((await t.provider.planGroup(group)).length === 0) break;
      }
      assert.equal(group.status?.provider, t.provider.name);
      assert.deepEqual(await t.provider.planGroup(group), []);
      const again: string[] = [];
      await t.provider.reconcileGroup(group, { onOperation: (op) => again.push(op) });
      assert.deepEqual(again, []);
    });

    it("brings a service up; a second converge does nothing", async () => {
      const { outcome } = await untilConverged(reconcileService);
      assert.equal(outcome.readyReplicas, 1);
      assert.equal(outcome.replicas.length, 1);
      assert.deepEqual(await t.provider.planService(service, group, { password: "conformance-secret-0123456789" }), []);
      assert.deepEqual((await reconcileService()).operations, []);
    });

    it("brings an app up with its replicas; a second converge plans nothing", async () => {
      assert.ok((await t.provider.planApp(app, group)).length > 0, "a new app plans its replicas");
      const { outcome, operations } = await untilConverged(reconcileApp);
      assert.ok(operations.length > 0);
      assert.equal(outcome.readyReplicas, 2);
      assert.deepEqual(
        outcome.replicas.map((r) => r.replica),
        [0, 1],
      );
      assert.deepEqual(await t.provider.planApp(app, group), []);
      const again = await reconcileApp();
      assert.deepEqual(again.operations, []);
      assert.equal(again.converged, true);
      assert.deepEqual(
        await t.provider.collectGarbage(group, new Set([group, service, app].map((o) => o.metadata.uid ?? ""))),
        [],
        "nothing live is garbage",
      );
    });

    it("scales an app up and down; diff shows the replica that comes or goes", async () => {
      app = { ...app, spec: t.appSpec(3, "1") };
      const planned = await t.provider.planApp(app, group);
      assert.ok(
        planned.some((op) => op.startsWith(`app:${group.metadata.name}/web:2 `)),
        planned.join("\n"),
      );
      assert.deepEqual(
        (await untilConverged(reconcileApp)).outcome.replicas.map((r) => r.replica),
        [0, 1, 2],
      );
      app = { ...app, spec: t.appSpec(2, "1") };
      assert.ok((await t.provider.planApp(app, group)).length > 0);
      assert.deepEqual(
        (await untilConverged(reconcileApp)).outcome.replicas.map((r) => r.replica),
        [0, 1],
      );
      assert.deepEqual(await t.provider.planApp(app, group), []);
    });

    it("updates an app: every replica is replaced by one of the new configuration", async () => {
      const before = (await reconcileApp()).replicas;
      app = { ...app, spec: t.appSpec(2, "2") };
      assert.ok((await t.provider.planApp(app, group)).length > 0, "a new configuration plans a rollout");
      const { outcome } = await untilConverged(reconcileApp);
      assert.equal(outcome.updatedReplicas, 2);
      assert.equal(outcome.replicas.length, 2);
      const hashes = new Set(outcome.replicas.map((r) => r.configHash));
      assert.equal(hashes.size, 1);
      assert.ok(!before.some((r) => hashes.has(r.configHash)), "no replica keeps the old configuration");
      assert.deepEqual(await t.provider.planApp(app, group), []);
    });

    it("shows an app's replicas as the infrastructure has them now", async () => {
      const live = await t.provider.liveReplicas(app, group);
      assert.match(live.title, / now\)$/);
      assert.equal(live.rows.length, 2);
      assert.deepEqual(
        live.rows.map((r) => r[0]),
        ["0", "1"],
      );
      for (const row of live.rows) assert.equal(row.length, live.columns.length);
    });

    it("reads a service's output, each line with its replica; a follow ends as soon as its signal aborts", async () => {
      const lines: string[] = [];
      await t.provider.logs(service, group, { follow: false, tail: 3, write: (r, l) => void lines.push(`${r} ${l}`) });
      assert.ok(lines.length > 0 && lines.length <= 3, lines.join("\n"));
      for (const line of lines) assert.match(line, /^cache-\d /);
      const stop = new AbortController();
      // Resolves only because the first line aborts it: the service writes nothing more.
      await t.provider.logs(service, group, { follow: true, tail: 1, signal: stop.signal, write: () => stop.abort() });
      assert.ok(stop.signal.aborted);
    });

    it("deletes the app and the service: nothing of them is left", async () => {
      await untilDone(() => t.provider.finalizeApp(app, group, { onOperation }));
      await untilDone(() => t.provider.finalizeService(service, group, { onOperation }));
      assert.deepEqual((await t.provider.liveReplicas(app, group)).rows, []);
      assert.deepEqual((await t.provider.liveReplicas(service, group)).rows, []);
      assert.ok((await t.provider.planApp(app, group)).length > 0, "a deleted app would be made again");
    });

    it("tears the group down", async () => {
      await untilDone(() => t.provider.finalizeGroup(group, { onOperation }));
      assert.ok((await t.provider.planGroup(group)).length > 0, "a removed group would be made again");
    });

    it("printed every operation in the one stable form", () => {
      assert.ok(printed.length > 0);
      const odd = printed.filter((op) => !OPERATION_FORM.test(op));
      assert.deepEqual(odd, []);
    });
  });
}
