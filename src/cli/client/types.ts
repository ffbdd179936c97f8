import type { Progress } from "../../controllers/context.js";
import type { RunView } from "../../jobs/run-access.js";
import type { GroupUsage } from "../../metrics/usage-sampler.js";
import type { Revision } from "../../releases/revisions.js";
import type { UndoRequest, UndoResult } from "../../releases/undo.js";
import type { App, Kind, Resource, Service } from "../../resources/types.js";
import type { SourceView } from "../../server/control-api.js";
import type { DiffEntry } from "../../server/diff-plan.js";
import type { Change } from "../../store/store.js";
import type { LogQuery } from "../../util/log-query.js";
import type { ResourceRef } from "../context.js";
import type { DescribeExtras } from "../describe.js";
import type { ChangeType } from "../watch-rows.js";

/**
 * What every command works through: the local state file with the controllers in this process
 * (LocalClient), or an `airloft serve` over HTTP (RemoteClient). A command is written once
 * against this interface; the two differ only in where objects live and who runs the loop.
 */
export interface ResourceClient {
  /** Said after a wait that timed out: who goes on converging what was stored. */
  readonly convergesLater: string;
  list(filter: ObjectFilter): Promise<Resource[]>;
  /** The object a reference names; a NotFound error (code "NotFound") when there is none. */
  find(ref: ResourceRef): Promise<Resource>;
  /** The object with its generated credentials (a service's password). */
  withSecrets(obj: Resource): Promise<Resource>;
  /** `secret set` and `unset`: adds or replaces `set`, removes `unset`, keeps the other keys. */
  updateSecret(update: SecretUpdate): Promise<Change>;
  /** Re-seals every secret value under a new key; returns how many values. */
  rotateSecretsKey(): Promise<number>;
  /** Events, replicas, source and suspension of one object, for `describe`. */
  details(obj: Resource): Promise<DescribeExtras>;
  apply(files: ManifestFiles, options: ApplyOptions): Promise<AppliedChanges>;
  /** Marks objects for deletion, owned objects before their group. */
  delete(targets: readonly DeleteTarget[], options: { cascade: boolean }): Promise<Change[]>;
  /** Spec changes and planned operations, one entry per object that would change. */
  diff(files: ManifestFiles): Promise<readonly DiffEntry[]>;
  /** The git-ops sources and prune sets this client may see. */
  sources(): Promise<readonly SourceView[]>;
  /** suspend, resume or reconcile an object or a source; returns what was done, in words. */
  control(op: ControlOp, target: ControlTarget): Promise<string>;
  /** An app's or service's output, every replica's, read by its group's provider (here or on the server). */
  logs(obj: App | Service, request: LogRequest): Promise<void>;
  /** Starts a one-off run of a command like a job of the app (Docker); returns the run's id. */
  startRun(app: App, command: readonly string[]): Promise<string>;
  /** A run (a one-off's or a job's) of a group: running, or its exit code. */
  runState(group: string, id: string): Promise<RunView>;
  /** A run's output, as `logs` reads a replica's. */
  runLogs(group: string, id: string, request: LogRequest): Promise<void>;
  /** The collection now (as ADDED), then each change, until `signal` aborts. */
  watch(filter: ObjectFilter, onChange: (type: ChangeType, obj: Resource) => void, signal: AbortSignal): Promise<void>;
  /**
   * Follows every object this client sees, for a wait: `onChange` after each change. With
   * `runLoop`, a local client runs the controllers in this process for as long as it follows;
   * a server's own loop is always running.
   */
  follow(options: FollowOptions): Promise<Following>;
  /** An app's revisions, oldest first (`rollout history`). */
  rolloutHistory(app: App): Promise<readonly Revision[]>;
  /** Restores a revision of an app as a new one (`rollout undo`). */
  rolloutUndo(app: App, request: Omit<UndoRequest, "by">): Promise<UndoResult>;
  /** CPU, memory and restarts of a group's running replicas, from a stats pass (for `top`). */
  usage(group: string): Promise<GroupUsage>;
  close(): Promise<void>;
}

/** Keys to set (or replace) and to remove in one Secret. */
export interface SecretUpdate {
  readonly group: string;
  readonly name: string;
  readonly set: Readonly<Record<string, Buffer>>;
  readonly unset: readonly string[];
}

export interface ObjectFilter {
  readonly kind?: Kind;
  readonly group?: string;
}

export interface ManifestFiles {
  readonly paths: readonly string[];
  readonly recursive: boolean;
}

export interface ApplyOptions {
  readonly dryRun?: boolean;
  /** Apply as this prune set: what it applied before and the files no longer define is deleted. */
  readonly prune?: string;
}

export interface AppliedChanges {
  readonly changes: readonly Change[];
  /** Deleted by --prune. */
  readonly pruned: readonly Change[];
}

/** Something to delete: an object (as found), or a manifest's object, which may be gone already. */
export interface DeleteTarget {
  readonly object: Pick<Resource, "kind" | "metadata">;
  readonly missingOk: boolean;
}

export interface LogRequest extends LogQuery {
  /** Stops reading (Ctrl-C): the engine's or the server's stream is closed. */
  readonly signal: AbortSignal;
  /** One line; a promise holds back the next ones until it settles. */
  readonly write: (replica: string, line: string) => void | Promise<void>;
}

export type ControlOp = "suspend" | "resume" | "reconcile";

export type ControlTarget = { readonly source: string } | { readonly ref: ResourceRef };

export interface FollowOptions {
  readonly runLoop: boolean;
  /** The keys whose progress is reported. */
  readonly keys: readonly string[];
  readonly onChange: () => void;
  readonly onProgress: (p: Progress) => void;
  /** The wait is over (timeout, Ctrl-C): stop trying to follow, even before the first listing. */
  readonly signal: AbortSignal;
}

/** The objects as they are now, while a wait follows them. */
export interface Following {
  get(key: string): Resource | undefined;
  /** Whether a reconcile of the key has ended (done or failed) since following began. */
  attempted(key: string): boolean;
  /** Whether a reconcile of the key has succeeded since following began. */
  reconciled(key: string): boolean;
  stop(): Promise<void>;
}
