import { unwatchFile, watchFile } from "node:fs";
import { isSuspended, setSuspended } from "../../controllers/suspension.js";
import { errorMessage, LockedError } from "../../errors.js";
import { getSource, listSources, saveSource, sourceOf } from "../../gitops/sources.js";
import type { RunAccess, RunView } from "../../jobs/run-access.js";
import type { GroupUsage, UsageSampler } from "../../metrics/usage-sampler.js";
import type { ProviderRegistry } from "../../providers/registry.js";
import { cliUser, historyOf, type Revision, recordApplied } from "../../releases/revisions.js";
import { type UndoRequest, type UndoResult, undoRollout } from "../../releases/undo.js";
import { admit } from "../../resources/admission.js";
import { keyOf, objectKey } from "../../resources/kinds.js";
import { loadManifests } from "../../resources/loader.js";
import type { App, Group, Resource, Service } from "../../resources/types.js";
import type { SourceView } from "../../server/control-api.js";
import type { DiffEntry } from "../../server/diff-plan.js";
import { stateFiles } from "../../store/state-file.js";
import type { Change, Store } from "../../store/store.js";
import {
  cliLogger,
  findObject,
  type GlobalOptions,
  openStore,
  type ResourceRef,
  statePath,
  UsageError,
} from "../context.js";
import { controlDone, controlSocketPath, sendControl } from "../control.js";
import { type DescribeExtras, indent, instanceTable } from "../describe.js";
import { renderTable } from "../output.js";
import type { ChangeType } from "../watch-rows.js";
import type {
  AppliedChanges,
  ApplyOptions,
  ControlOp,
  ControlTarget,
  DeleteTarget,
  Following,
  FollowOptions,
  LogRequest,
  ManifestFiles,
  ObjectFilter,
  ResourceClient,
  SecretUpdate,
} from "./types.js";

/** CPU use is measured over this long. */
const CPU_SAMPLE_MS = 1000;

export interface LocalOpenMode {
  /** Whether the command changes the state file (and so takes its writer lock). */
  readonly write: boolean;
  readonly command: string;
  /**
   * When another process (`controller`, `watch`, `serve`) holds the lock, open the file
   * read-only and send changes to that process over its control socket.
   */
  readonly throughHolder?: boolean;
}

/**
 * The state file and, for the length of a wait, the controllers in this process. The loop, the
 * providers and git-ops load when a command needs them: `get` pays only for the store.
 */
export class LocalClient implements ResourceClient {
  readonly convergesLater = "the objects are stored, and `airloft controller` goes on converging them";

  private sampled: Promise<UsageSampler> | undefined;

  private constructor(
    private readonly store: Store,
    private readonly options: GlobalOptions,
    /** Another process holds the writer lock: changes go through its control socket. */
    private readonly held: boolean,
    private readonly fakeProviders: ProviderRegistry | undefined,
  ) {}

  /** `providers` replaces the real ones, for tests with a fake. */
  static async open(options: GlobalOptions, mode: LocalOpenMode, providers?: ProviderRegistry): Promise<LocalClient> {
    let store: Store;
    let held = false;
    try {
      store = await openStore(options, mode);
    } catch (err) {
      if (!(err instanceof LockedError && mode.throughHolder)) throw err;
      store = await openStore(options, { write: false, command: mode.command });
      held = true;
    }
    return new LocalClient(store, options, held, providers);
  }

  /** Whether a wait may run the controllers in this process: no other process holds the state file. */
  get runsLoopHere(): boolean {
    return !this.held;
  }

  private async providers(): Promise<ProviderRegistry> {
    if (this.fakeProviders) return this.fakeProviders;
    return new (await import("../../providers/registry.js")).ProviderRegistry({ instanceId: this.store.instanceId });
  }

  async list(filter: ObjectFilter): Promise<Resource[]> {
    return this.store.list(filter);
  }

  async find(ref: ResourceRef): Promise<Resource> {
    return findObject(this.store, ref);
  }

  async withSecrets(obj: Resource): Promise<Resource> {
    return Object.assign({ ...obj }, { secrets: this.store.secretsOf(obj) });
  }

  async updateSecret({ group, name, set, unset }: SecretUpdate): Promise<Change> {
    const { mergeSecret, secretManifest } = await import("../../secrets/update.js");
    const [change] = await this.store.apply([mergeSecret(this.store, secretManifest(group, name, set), unset)]);
    if (!change) throw new Error("a secret update changed nothing");
    return change;
  }

  async rotateSecretsKey(): Promise<number> {
    return (await import("../../secrets/rotate.js")).rotateSecretsKey(this.store);
  }

  async details(obj: Resource): Promise<DescribeExtras> {
    const key = keyOf(obj);
    const replicas = obj.kind === "App" || obj.kind === "Service" ? await this.liveReplicas(obj) : [];
    const source = sourceOf(this.store, key);
    const suspended = isSuspended(this.store, key);
    return { events: this.store.eventsOf(obj), replicas, suspended, ...(source ? { source } : {}) };
  }

  async apply(files: ManifestFiles, options: ApplyOptions): Promise<AppliedChanges> {
    const manifests = loadManifests(files.paths, { recursive: files.recursive });
    if (options.dryRun) {
      admit(this.store, manifests);
      return { changes: this.store.preview(manifests), pruned: [] };
    }
    if (options.prune === undefined) {
      const changes = await this.store.apply(manifests);
      await recordApplied(this.store, changes, cliUser());
      return { changes, pruned: [] };
    }
    const { SourceSync } = await import("../../gitops/sync.js");
    const sync = new SourceSync(this.store, options.prune, files.paths, "apply", {
      recursive: files.recursive,
      onApplied: (changes, by) => recordApplied(this.store, changes, by),
    });
    const result = await sync.sync();
    if (result.errors.length > 0) throw new Error(result.errors.join("\n"));
    return { changes: result.changes, pruned: result.pruned };
  }

  async rolloutHistory(app: App): Promise<readonly Revision[]> {
    return historyOf(this.store, app);
  }

  async rolloutUndo(app: App, request: Omit<UndoRequest, "by">): Promise<UndoResult> {
    if (this.held)
      throw new UsageError("a running `airloft controller` or `watch` holds the state file: undo through its --server");
    return undoRollout(this.store, app, { ...request, by: cliUser() });
  }

  async delete(targets: readonly DeleteTarget[], options: { cascade: boolean }): Promise<Change[]> {
    const keys = targets.map((t) => keyOf(t.object)).filter((k, i) => !targets[i]?.missingOk || this.store.get(k));
    return this.store.markDeletedAll(keys, { cascade: options.cascade });
  }

  async diff(files: ManifestFiles): Promise<readonly DiffEntry[]> {
    const manifests = loadManifests(files.paths, { recursive: files.recursive });
    const { planDiff } = await import("../../server/diff-plan.js");
    return planDiff(this.store, await this.providers(), manifests);
  }

  async sources(): Promise<readonly SourceView[]> {
    const { sourceView } = await import("../../server/control-api.js");
    return listSources(this.store).map((s) => sourceView(this.store, s));
  }

  async control(op: ControlOp, target: ControlTarget): Promise<string> {
    const name = "source" in target ? `source/${target.source}` : keyOf(findObject(this.store, target.ref));
    if (this.held) {
      const answer = await sendControl(controlSocketPath(statePath(this.options)), { op, target: name });
      if (!answer.ok) throw new UsageError(answer.message);
      return answer.message;
    }
    if (op === "reconcile") {
      throw new UsageError(
        "no `airloft controller` or `airloft watch` is running on this state file to reconcile; " +
          "`airloft apply` reconciles what it applies",
      );
    }
    if ("source" in target) {
      const record = getSource(this.store, target.source);
      if (!record) throw new UsageError(`source ${target.source} not found`);
      await saveSource(this.store, { ...record, suspended: op === "suspend" });
    } else {
      await setSuspended(this.store, name, op === "suspend");
    }
    return controlDone(op, name);
  }

  /**
   * The rows of the state file as the process running the loop writes it: a row for each object
   * whose resourceVersion changed. The file is replaced atomically and its journal appended to,
   * so every read sees a whole version.
   */
  async watch(
    filter: ObjectFilter,
    onChange: (type: ChangeType, obj: Resource) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let seen = new Map<string, Resource>();
    const refresh = async (): Promise<void> => {
      await this.reread();
      const now = new Map(this.store.list(filter).map((o) => [keyOf(o), o]));
      for (const [key, obj] of now) {
        const before = seen.get(key);
        if (!before) onChange("ADDED", obj);
        else if (before.metadata.resourceVersion !== obj.metadata.resourceVersion) onChange("MODIFIED", obj);
      }
      for (const [key, obj] of seen) if (!now.has(key)) onChange("DELETED", obj);
      seen = now;
    };
    await refresh();
    const reread = oneAtATime(refresh);
    for (const file of stateFiles(this.store.path)) watchFile(file, { interval: 250 }, reread.run);
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    for (const file of stateFiles(this.store.path)) unwatchFile(file, reread.run);
    await reread.idle();
  }

  async follow(options: FollowOptions): Promise<Following> {
    if (!options.runLoop) return this.followFile(options);
    const { startEmbedded } = await import("../embedded.js");
    const loop = startEmbedded(
      this.store,
      await cliLogger(this.options),
      options.onProgress,
      {},
      await this.providers(),
    );
    const attempted = new Set<string>();
    const reconciled = new Set<string>();
    const onReconciled = (key: string): void => {
      reconciled.add(key);
      attempted.add(key);
      options.onChange();
    };
    const onFailed = (key: string): void => {
      attempted.add(key);
      options.onChange();
    };
    loop.manager.events.on("reconciled", onReconciled);
    loop.manager.events.on("failed", onFailed);
    this.store.events.on("change", options.onChange);
    return {
      get: (key) => this.store.get(key),
      attempted: (key) => attempted.has(key),
      reconciled: (key) => reconciled.has(key),
      stop: async () => {
        this.store.events.off("change", options.onChange);
        await loop.stop();
      },
    };
  }

  /**
   * Two stats passes a second apart (CPU is the difference), made once for every group and
   * shared by the calls of one command.
   */
  usage(group: string): Promise<GroupUsage> {
    this.sampled ??= (async () => {
      const { UsageSampler } = await import("../../metrics/usage-sampler.js");
      const log = await cliLogger(this.options);
      const sampler = new UsageSampler({ store: this.store, providers: await this.providers(), log });
      await sampler.pass();
      await new Promise((resolve) => setTimeout(resolve, CPU_SAMPLE_MS));
      await sampler.pass();
      return sampler;
    })();
    return this.sampled.then((sampler) => sampler.groupUsage(group));
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /** Another process runs the loop: the file is read again every half second. */
  private followFile(options: FollowOptions): Following {
    const reread = oneAtATime(async () => {
      await this.reread();
      options.onChange();
    });
    const timer = setInterval(reread.run, 500);
    return {
      get: (key) => this.store.get(key),
      attempted: () => true,
      reconciled: () => true,
      stop: async () => {
        clearInterval(timer);
        await reread.idle();
      },
    };
  }

  /** The file as the process running the loop last wrote it; what this process changed is written first. */
  private async reread(): Promise<void> {
    await this.store.flush();
    await this.store.reload();
  }

  async logs(obj: App | Service, request: LogRequest): Promise<void> {
    const group = this.groupOf(obj);
    if (!group) throw new UsageError(`${obj.metadata.name}'s group ${obj.metadata.group ?? ""} is not found`);
    await (await (await this.providers()).for(group)).logs(obj, group, request);
  }

  async startRun(app: App, command: readonly string[]): Promise<string> {
    return (await this.runAccess()).start(app, command);
  }

  async runState(group: string, id: string): Promise<RunView> {
    return (await this.runAccess()).view(group, id);
  }

  async runLogs(group: string, id: string, request: LogRequest): Promise<void> {
    await (await this.runAccess()).logs(group, id, request);
  }

  private async runAccess(): Promise<RunAccess> {
    const { RunAccess } = await import("../../jobs/run-access.js");
    return new RunAccess(this.store, await this.providers());
  }

  private groupOf(obj: App | Service): Group | undefined {
    const group = this.store.get(objectKey("Group", "", obj.metadata.group ?? ""));
    return group?.kind === "Group" ? group : undefined;
  }

  /** The replicas as the object's provider has them now; the last observed status if it cannot be reached. */
  private async liveReplicas(obj: App | Service): Promise<string[]> {
    const group = this.groupOf(obj);
    if (!group) return obj.kind === "App" ? instanceTable(obj, "Replicas (last observed)") : [];
    try {
      const live = await (await (await this.providers()).for(group)).liveReplicas(obj, group);
      const table = live.rows.length === 0 ? "  (none)" : indent(renderTable(live.columns, live.rows).trimEnd(), 2);
      return [`${live.title}:`, table];
    } catch (err) {
      return obj.kind === "App"
        ? instanceTable(obj, `Replicas (last observed; ${errorMessage(err)})`)
        : [`Replicas: ${errorMessage(err)}`];
    }
  }
}

/** Runs `task` one at a time: a call during a run runs it once more after. */
function oneAtATime(task: () => Promise<void>): { run: () => void; idle: () => Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = task()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return { run, idle: async () => await running };
}
