import { resolve } from "node:path";
import { AirloftError, NotFoundError } from "../errors.js";
import type { Logger } from "../log.js";
import { objectKey, parseKind } from "../resources/kinds.js";
import type { Kind, Resource } from "../resources/types.js";
import { Store } from "../store/store.js";
import type { ThreadLoad } from "../util/thread-load.js";

export const DEFAULT_STATE_FILE = ".airloft/state.json";

export interface GlobalOptions {
  readonly state?: string;
  readonly verbose?: boolean;
}

/** --state, else AIRLOFT_STATE, else .airloft/state.json under the working directory. */
export function statePath(options: GlobalOptions): string {
  return resolve(options.state ?? process.env.AIRLOFT_STATE ?? DEFAULT_STATE_FILE);
}

/** Loaded when a command runs the controllers: winston is a good part of a start-up, and `get` logs nothing. */
export async function cliLogger(options: GlobalOptions): Promise<Logger> {
  const { createLogger } = await import("../log.js");
  return createLogger({ level: options.verbose ? "info" : (process.env.AIRLOFT_LOG_LEVEL ?? "warn") });
}

export async function openStore(
  options: GlobalOptions,
  mode: { write: boolean; command: string; background?: ThreadLoad },
): Promise<Store> {
  return Store.open(statePath(options), mode);
}

/** A usage mistake: exit code 2, like an invalid manifest. */
export class UsageError extends AirloftError {
  constructor(message: string) {
    super("Usage", message);
  }
}

export interface ResourceRef {
  readonly kind: Kind;
  readonly name: string;
  readonly group: string | undefined;
}

/**
 * Reads "app/web", "app/acme/web", or "app" + "web", with -g for the group. When the group is
 * not given and exactly one group has an object of that name, that one is meant.
 */
export function parseRef(words: readonly string[], group: string | undefined): ResourceRef {
  const parts = words.flatMap((w) => w.split("/")).filter((p) => p !== "");
  const kind = parts[0] ? parseKind(parts[0]) : undefined;
  if (!kind)
    throw new UsageError(
      `expected KIND/NAME (kinds: group, app, service, quota), got ${JSON.stringify(words.join(" "))}`,
    );
  if (kind === "Group") {
    if (parts.length !== 2) throw new UsageError(`expected group/NAME, got ${JSON.stringify(words.join(" "))}`);
    return { kind, name: parts[1] ?? "", group: undefined };
  }
  if (parts.length === 3) return { kind, group: parts[1], name: parts[2] ?? "" };
  if (parts.length === 2) return { kind, group, name: parts[1] ?? "" };
  throw new UsageError(
    `expected ${kind.toLowerCase()}/NAME or ${kind.toLowerCase()}/GROUP/NAME, got ${JSON.stringify(words.join(" "))}`,
  );
}

export function findObject(store: Store, ref: ResourceRef): Resource {
  if (ref.kind === "Group") {
    const obj = store.get(objectKey("Group", "", ref.name));
    if (!obj) throw new NotFoundError(`group/${ref.name} not found`);
    return obj;
  }
  if (ref.group !== undefined) {
    const obj = store.get(objectKey(ref.kind, ref.group, ref.name));
    if (!obj) throw new NotFoundError(`${ref.kind.toLowerCase()}/${ref.group}/${ref.name} not found`);
    return obj;
  }
  return onlyMatch(ref, store.list({ kind: ref.kind }), "in any group");
}

/** The one object of `candidates` a reference without a group names; `where` says where none was found. */
export function onlyMatch(ref: ResourceRef, candidates: readonly Resource[], where: string): Resource {
  const matches = candidates.filter((o) => o.kind === ref.kind && o.metadata.name === ref.name);
  const [only, ...others] = matches;
  if (!only) throw new NotFoundError(`${ref.kind.toLowerCase()}/${ref.name} not found ${where}`);
  if (others.length > 0) {
    const groups = matches.map((m) => m.metadata.group).join(", ");
    throw new UsageError(`${ref.kind.toLowerCase()}/${ref.name} exists in groups ${groups}: name one with -g`);
  }
  return only;
}
