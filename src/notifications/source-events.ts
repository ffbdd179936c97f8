import type { SourceRecord } from "../gitops/sources.js";
import { parseKey } from "../resources/kinds.js";
import type { Notification } from "./events.js";

/** A source's last sync as the notifier saw it. */
export type SeenSync = string;

export function syncSeen(source: SourceRecord): SeenSync {
  return `${source.lastSyncTime ?? ""} ${source.lastResult ?? ""}`;
}

/**
 * The SyncFailed notifications of a sync that did not fully succeed: one per group with objects
 * in the source, each with only the errors of files that hold that group's objects (a source
 * may hold several tenants' files; one must not read another's errors). A source is installation
 * wide, so its notification names the source but no path.
 */
export function fromSync(before: SeenSync | undefined, source: SourceRecord): Notification[] {
  if (before === undefined || before === syncSeen(source)) return [];
  if (source.lastResult !== "Partial" && source.lastResult !== "Failed") return [];
  const groupsOf = (keys: readonly string[]): Set<string> =>
    new Set(
      keys.flatMap((k) => {
        try {
          const ref = parseKey(k);
          return [ref.kind === "Group" ? ref.name : ref.group];
        } catch {
          return [];
        }
      }),
    );
  const groups = groupsOf([...source.inventory, ...Object.values(source.files).flat()]);
  return [...groups].map((group) => {
    const files = Object.entries(source.files)
      .filter(([, keys]) => groupsOf(keys).has(group))
      .map(([file]) => file);
    const errors = source.lastErrors.filter((e) => files.some((f) => e.startsWith(`${f}:`)));
    const revision = source.revision ? ` at revision ${source.revision.slice(0, 12)}` : "";
    const detail = errors.length > 0 ? `: ${errors.slice(0, 5).join("; ")}` : "";
    return {
      event: "SyncFailed",
      reason: source.lastResult === "Failed" ? "SyncFailed" : "SyncPartial",
      severity: "error" as const,
      group,
      kind: "Source",
      name: source.name,
      message: `source ${source.name} sync ${source.lastResult}${revision}, ${errors.length} error(s) in the files of group ${group}${detail}`,
      time: source.lastSyncTime ?? new Date().toISOString(),
    };
  });
}
