import { isReadyAt } from "../../src/resources/conditions.js";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import { readStateFile } from "../../src/store/state-file.js";
import { sleep } from "./chaos.js";
import { SERVE_ADMIN_PASSWORD, type ServeProcess } from "./serve.js";

/** An App manifest of the chaos group; `spec` is the provider-specific part, indented. */
export function chaosApp(group: string, name: string, spec: string): string {
  return `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: ${name}\n  group: ${group}\nspec:\n${spec}`;
}

/** What the test last had acknowledged for an app: its replicas and version, or deleted. */
export interface Expected {
  replicas: number;
  version: number;
  deleted: boolean;
}

export interface StateFile {
  instanceId: string;
  objects: Record<string, Resource>;
}

/**
 * Drives `airloft serve` through random changes (scale, new version, delete, create again), each
 * acknowledged by the API before it counts, and kills the server with SIGKILL at random moments.
 * `manifest` renders an app of the group; the provider-specific checks are the test's.
 */
export class ChaosDriver {
  readonly expected = new Map<string, Expected>();
  kills = 0;
  changes = 0;
  private token = "";

  constructor(
    readonly server: ServeProcess,
    readonly group: string,
    private readonly manifest: (name: string, replicas: number, version: number) => string,
    private readonly random: () => number,
  ) {}

  async setUp(groupManifest: string, apps: number): Promise<void> {
    this.token = await this.server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    await this.put(`${API}/apply`, "POST", groupManifest);
    for (let i = 0; i < apps; i++) await this.apply(`app-${i}`, { replicas: 1 + (i % 2), version: 1, deleted: false });
  }

  /** One random change, through the API; it counts once the server has answered 2xx. */
  async change(): Promise<string> {
    const names = [...this.expected.keys()];
    const name = names[Math.floor(this.random() * names.length)] ?? "app-0";
    const current = this.expected.get(name) ?? { replicas: 1, version: 1, deleted: true };
    const roll = this.random();
    this.changes++;
    if (current.deleted) {
      await this.apply(name, { replicas: 1, version: current.version + 1, deleted: false });
      return `create ${name}`;
    }
    if (roll < 0.2) {
      const res = await this.server.api("DELETE", `${API}/groups/${this.group}/apps/${name}`, this.token);
      if (res.status === 200) this.expected.set(name, { ...current, deleted: true });
      else if (res.status !== 404) throw new Error(`delete ${name}: ${res.status} ${JSON.stringify(res.json)}`);
      return `delete ${name}`;
    }
    if (roll < 0.6) {
      await this.apply(name, { ...current, replicas: Math.floor(this.random() * 4) });
      return `scale ${name}`;
    }
    await this.apply(name, { ...current, version: current.version + 1 });
    return `roll ${name}`;
  }

  /**
   * Brings every app back with at least one replica (deleted ones are created again once gone),
   * so that the final checks count real instances, not an empty group.
   */
  async restoreAll(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [name, want] of this.expected) {
      if (!want.deleted && want.replicas > 0) continue;
      const next = { replicas: 2, version: want.version + 1, deleted: false };
      // A deleted app is created again once the server has let it go (409 until then).
      while (this.expected.get(name)?.deleted || (this.expected.get(name)?.replicas ?? 0) === 0) {
        await this.apply(name, next);
        if (Date.now() > deadline) throw new Error(`${name} could not be created again`);
        if (this.expected.get(name)?.deleted) await sleep(250);
      }
      this.changes++;
    }
  }

  /** Deletes the group and all it holds, kills the server while that runs, and waits until it is gone. */
  async deleteGroupUnderKill(delayMs: number): Promise<void> {
    const res = await this.server.api("DELETE", `${API}/groups/${this.group}?cascade=true`, this.token);
    if (res.status !== 200) throw new Error(`delete group: ${res.status} ${JSON.stringify(res.json)}`);
    await this.killAfter(delayMs);
    await this.server.deleteGroups([this.group]);
    for (const want of this.expected.values()) want.deleted = true;
  }

  /** Waits `delayMs`, then kills the server with SIGKILL and starts it again on the same state file. */
  async killAfter(delayMs: number): Promise<void> {
    await sleep(delayMs);
    await this.server.kill();
    this.kills++;
    await this.server.start();
  }

  /** Waits until every app is Ready at its generation and every deleted app is gone. */
  async converged(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const res = await this.server.api("GET", `${API}/groups/${this.group}/apps`, this.token);
      const items = (res.json as { items?: Resource[] }).items ?? [];
      const byName = new Map(items.map((o) => [o.metadata.name, o]));
      const pending = [...this.expected].filter(([name, want]) => {
        const obj = byName.get(name);
        return want.deleted ? obj !== undefined : !obj || !isReadyAt(obj);
      });
      if (pending.length === 0) return;
      last = pending
        .map(([name]) => `${name}: ${JSON.stringify(byName.get(name)?.status?.conditions ?? "absent")}`)
        .join("; ");
      if (Date.now() > deadline) throw new Error(`not converged: ${last}\n${this.server.output.slice(-3000)}`);
      await sleep(250);
    }
  }

  /** The state file and its journal, which must parse, with every acknowledged change in them. */
  async checkStateFile(): Promise<StateFile> {
    const state = await readStateFile(this.server.state);
    for (const [name, want] of this.expected) {
      const obj = state.objects[`App/${this.group}/${name}`];
      if (want.deleted) {
        if (obj && !obj.metadata.deletionTimestamp)
          throw new Error(`${name} was deleted (acknowledged) but the file holds it without a deletion mark`);
        continue;
      }
      if (obj?.kind !== "App") throw new Error(`${name} was acknowledged but is not in the file`);
      if ((obj.spec.replicas ?? 1) !== want.replicas || obj.spec.env?.VERSION !== String(want.version)) {
        throw new Error(
          `${name}: acknowledged ${JSON.stringify(want)}, the file holds replicas ${obj.spec.replicas} version ${obj.spec.env?.VERSION}`,
        );
      }
    }
    return state;
  }

  /** Uids of the objects in the state file: whatever carries another uid is leaked. */
  static uids(state: StateFile): Set<string> {
    return new Set(Object.values(state.objects).map((o) => o.metadata.uid ?? ""));
  }

  private async apply(name: string, want: Expected): Promise<void> {
    if (
      await this.put(
        `${API}/groups/${this.group}/apps/${name}`,
        "PUT",
        this.manifest(name, want.replicas, want.version),
      )
    )
      this.expected.set(name, want);
  }

  /** True once acknowledged; false for an app still being deleted (409: not applied, not counted). */
  private async put(path: string, method: string, body: string): Promise<boolean> {
    const res = await this.server.api(method, path, this.token, body);
    if (res.status === 409) return false;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
    return true;
  }
}
