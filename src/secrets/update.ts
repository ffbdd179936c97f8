import { NotFoundError, ValidationError, ValidationErrors } from "../errors.js";
import { objectKey } from "../resources/kinds.js";
import { type LoadedManifest, loadTexts } from "../resources/loader.js";
import { API_VERSION, type Resource } from "../resources/types.js";

/** Keys one Secret may hold: as many as a manifest may give (secret.schema.json maxProperties). */
export const MAX_SECRET_KEYS = 100;

/**
 * A Secret manifest holding `values`, as the CLI sends it: JSON with `data` in base64, read by
 * the same loader as any manifest so that key names and sizes get the same checks and messages.
 */
export function secretDocument(group: string, name: string, values: Readonly<Record<string, Buffer>>): object {
  const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.toString("base64")]));
  return { apiVersion: API_VERSION, kind: "Secret", metadata: { name, group }, data };
}

export function secretManifest(group: string, name: string, values: Readonly<Record<string, Buffer>>): LoadedManifest {
  const [manifest] = loadTexts([
    {
      name: `secret/${group}/${name}`,
      content: JSON.stringify(secretDocument(group, name, values)),
      baseDir: "/nonexistent",
    },
  ]);
  if (!manifest) throw new Error("a secret document loaded as nothing");
  return manifest;
}

/** What merging reads of the store. */
export interface SecretReader {
  get(key: string): Resource | undefined;
  readonly secrets: { get(obj: Resource): Record<string, Buffer> };
}

/**
 * `secret set` and `unset`: the stored values with the manifest's added (or replaced) and the
 * `unset` keys removed; the stored labels and annotations are kept when the manifest has none.
 */
export function mergeSecret(store: SecretReader, manifest: LoadedManifest, unset: readonly string[]): LoadedManifest {
  const { object } = manifest;
  const group = object.metadata.group ?? "";
  const display = `secret/${group}/${object.metadata.name}`;
  const existing = store.get(objectKey("Secret", group, object.metadata.name));
  if (!existing && unset.length > 0) throw new NotFoundError(`${display} not found`);
  const stored = existing ? store.secrets.get(existing) : {};
  for (const key of unset) {
    if (!Object.hasOwn(stored, key)) throw new NotFoundError(`${display} has no key ${key}`);
    delete stored[key];
  }
  // A spread defines own keys ("__proto__" too), where Object.assign would set the prototype.
  const values = { ...stored, ...manifest.values };
  if (Object.keys(values).length > MAX_SECRET_KEYS)
    throw new ValidationErrors([
      new ValidationError(manifest.source, "data", `a secret holds at most ${MAX_SECRET_KEYS} keys`),
    ]);
  const { labels, annotations } = existing?.metadata ?? {};
  const metadata = {
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
    ...object.metadata,
  };
  return { ...manifest, object: { ...object, metadata } as Resource, values };
}
