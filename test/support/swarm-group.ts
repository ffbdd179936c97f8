import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import type Docker from "dockerode";
import { LABEL } from "../../src/providers/ownership.js";
import { SwarmProvider } from "../../src/providers/swarm/provider.js";
import { API_VERSION, type App, type Group } from "../../src/resources/types.js";
import type { TestSwarm } from "../../support/swarm.js";
import { requireSwarm } from "./e2e.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A provider and a group of its own on the test swarm, for one suite; removed in its after-hook. */
export interface SwarmGroupSuite {
  swarm: TestSwarm;
  provider: SwarmProvider;
  group: Group;
  /** The metadata of a new object of the group (a fresh uid each call). */
  meta(name: string): { name: string; uid: string; generation: number; group: string };
  app(name: string, spec: App["spec"]): App;
}

/** `env`: the provider's environment (the edge's settings), read when the suite starts. */
export function swarmGroupSuite(env: () => NodeJS.ProcessEnv = () => ({})): SwarmGroupSuite {
  const suite = {} as SwarmGroupSuite;
  before(async function () {
    suite.swarm = await requireSwarm(this);
    suite.provider = new SwarmProvider({ instanceId: `swarm-${randomUUID()}`, env: env() });
    suite.group = {
      apiVersion: API_VERSION,
      kind: "Group",
      metadata: { name: `sw-${randomUUID().slice(0, 6)}`, uid: randomUUID(), generation: 1 },
      spec: { provider: "swarm", swarm: { host: suite.swarm.host } },
    };
    suite.meta = (name) => ({ name, uid: randomUUID(), generation: 1, group: suite.group.metadata.name });
    suite.app = (name, spec) => ({ apiVersion: API_VERSION, kind: "App", metadata: suite.meta(name), spec });
    assert.equal((await suite.provider.reconcileGroup(suite.group)).provider, "swarm");
  });
  after(async () => {
    const { provider, group } = suite;
    if (!provider || !group) return;
    for (let i = 0; i < 30; i++) {
      await provider.collectGarbage(group, new Set([group.metadata.uid ?? ""])).catch(() => undefined);
      if (await provider.finalizeGroup(group).catch(() => false)) return;
      await sleep(1000);
    }
  });
  return suite;
}

/** Calls `pass` once a second, as the queue would requeue, until `done` holds; returns that result. */
export async function until<T>(pass: () => Promise<T>, done: (o: T) => boolean, what: string, passes = 120) {
  let last: T | undefined;
  for (let i = 0; i < passes; i++) {
    last = await pass();
    if (done(last)) return last;
    await sleep(1000);
  }
  throw new Error(`${what}: not reached; last outcome ${JSON.stringify(last)}`);
}

/** Counts of requests made one after another: answered (200) and failed, with when the failures ran. */
export interface RequestCounts {
  ok: number;
  failed: number;
  /** Date.now() of the first and the last failure (0 while none). */
  first: number;
  last: number;
  /** The first failure's status and body (a connection error's message for status 0): why it failed. */
  firstFailure?: string;
}

/** Requests one after another, 20 ms apart, until the returned function is called; it gives the counts. */
export function countRequests(get: () => Promise<{ status: number; body?: string }>): () => Promise<RequestCounts> {
  let running = true;
  const counts: RequestCounts = { ok: 0, failed: 0, first: 0, last: 0 };
  const done = (async () => {
    while (running) {
      const answer = await get();
      if (answer.status === 200) counts.ok++;
      else {
        counts.failed++;
        counts.firstFailure ??= `${answer.status}: ${String(answer.body ?? "").slice(0, 300)}`;
        counts.first ||= Date.now();
        counts.last = Date.now();
      }
      await sleep(20);
    }
  })();
  return async () => {
    running = false;
    await done;
    return counts;
  };
}

/** The edge's running container on the manager (an ordinary container, by its labels): its id and process. */
export async function edgeContainer(
  docker: Docker,
  instance: string,
): Promise<{ id: string; pid: number; networks: Record<string, string> } | undefined> {
  const filters = { label: [`${LABEL.instance}=${instance}`, `${LABEL.kind}=Edge`], status: ["running"] };
  const [found] = await docker.listContainers({ filters });
  if (!found) return undefined;
  const i = (await docker.getContainer(found.Id).inspect()) as {
    State: { Pid: number };
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  };
  const networks = Object.fromEntries(Object.entries(i.NetworkSettings.Networks).map(([k, v]) => [k, v.IPAddress]));
  return { id: found.Id, pid: i.State.Pid, networks };
}
