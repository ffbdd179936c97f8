import { isDeepStrictEqual } from "node:util";
import { stringify } from "yaml";
import { resolveBindings } from "../controllers/bindings.js";
import { errorMessage } from "../errors.js";
import type { ProviderRegistry } from "../providers/registry.js";
import { admit } from "../resources/admission.js";
import { displayName, keyOf, objectKey } from "../resources/kinds.js";
import type { LoadedManifest } from "../resources/loader.js";
import type { Group, Resource } from "../resources/types.js";
import { storedSecret } from "../secrets/stored-form.js";
import type { Store } from "../store/store.js";

/** What `airloft diff` shows of one object that would change. */
export interface DiffEntry {
  /** "app/acme/web" */
  readonly title: string;
  readonly isNew: boolean;
  /** "- replicas: 2", "+ replicas: 3" */
  readonly specLines: readonly string[];
  /** The infrastructure operations the loop would run. */
  readonly operations: readonly string[];
}

/**
 * The spec changes and planned infrastructure operations of applying `manifests` to `store`,
 * for the local `diff` and the server's: one entry per object that would change. Admits the
 * manifests first (an unknown group or a stale resourceVersion is an error, as for apply).
 */
export async function planDiff(
  store: Store,
  providers: ProviderRegistry,
  manifests: readonly LoadedManifest[],
): Promise<DiffEntry[]> {
  admit(store, manifests);
  const entries: DiffEntry[] = [];
  for (const manifest of manifests) {
    const object = storedSecret(manifest, store.secrets); // a Secret's changed values show as changed hashes
    const existing = store.get(keyOf(object));
    const title = displayName(object);
    const same =
      existing &&
      isDeepStrictEqual(existing.spec, object.spec) &&
      isDeepStrictEqual(existing.metadata.labels, object.metadata.labels) &&
      isDeepStrictEqual(existing.metadata.annotations, object.metadata.annotations);
    const specLines = same ? [] : lineDiff(userView(existing), userView(object)).filter((l) => !l.startsWith("  "));
    const operations = await plannedOperations(
      object,
      store,
      providers,
      manifests.map((m) => m.object),
    );
    if (specLines.length === 0 && operations.length === 0) continue;
    entries.push({ title, isNew: !existing, specLines, operations });
  }
  return entries;
}

/** Line diff of two YAML texts: "-" for removed lines, "+" for added ones (LCS, small inputs). */
export function lineDiff(before: string, after: string): string[] {
  const a = before ? before.split("\n") : [];
  const b = after ? after.split("\n") : [];
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] = a[i] === b[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || (lcs[i]?.[j + 1] ?? 0) >= (lcs[i + 1]?.[j] ?? 0))) {
      out.push(`+ ${b[j]}`);
      j++;
    } else {
      out.push(`- ${a[i]}`);
      i++;
    }
  }
  return out;
}

function userView(obj: Resource | undefined): string {
  if (!obj) return "";
  const { labels, annotations } = obj.metadata;
  return stringify({ metadata: { labels, annotations }, spec: obj.spec }).trimEnd();
}

/** What the loop would do first on the object's provider: for Groups, Services and Apps alike. */
async function plannedOperations(
  object: Resource,
  store: Store,
  providers: ProviderRegistry,
  applied: readonly Resource[],
): Promise<string[]> {
  if (object.kind === "Quota") return [];
  const groupName = object.kind === "Group" ? object.metadata.name : (object.metadata.group ?? "");
  const group = groupAsApplied(groupName, store, applied);
  if (!group) return [];
  const obj = withStoredIdentity(object, store);
  try {
    const provider = await providers.for(group);
    switch (obj.kind) {
      case "Group":
        return [...(await provider.planGroup(group))];
      case "App":
        return [...(await provider.planApp(obj, group, resolveBindings(store, obj).env))];
      case "Service":
        return [...(await provider.planService(obj, group, { password: store.secretsOf(obj).password ?? "" }))];
      default:
        return [];
    }
  } catch (err) {
    return [`(infrastructure not compared: ${errorMessage(err)})`];
  }
}

/** The object with the uid the store gave it ("(new)" when it has none yet): owned parts are found by it. */
function withStoredIdentity<T extends Resource>(object: T, store: Store): T {
  return { ...object, metadata: { ...object.metadata, uid: store.get(keyOf(object))?.metadata.uid ?? "(new)" } };
}

/** The group as it would be after the apply: the applied spec, with the uid and facts the loop recorded. */
function groupAsApplied(name: string, store: Store, applied: readonly Resource[]): Group | undefined {
  const key = objectKey("Group", "", name);
  const stored = store.get(key);
  const manifest = applied.find((o) => keyOf(o) === key);
  if (manifest?.kind !== "Group") return stored?.kind === "Group" ? stored : undefined;
  const withUid = withStoredIdentity(manifest, store);
  return stored?.kind === "Group" && stored.status ? { ...withUid, status: stored.status } : withUid;
}
