/**
 * The state file as JSON, re-serializing only what changed since the last write. At 20,000
 * objects a JSON.stringify of the whole state took about 200 ms of the event loop per write, so
 * every write stalled every tenant's request; most writes change a handful of objects.
 *
 * An entry of a cached map is reused while it is the same value (identity) at the same version:
 * the store replaces an object on a spec change and bumps its resourceVersion on every change in
 * place, and replaces an object's event list on every event.
 */
export type VersionOf = (value: object) => string;

export class CachedJsonSerializer {
  private readonly cache = new WeakMap<object, { readonly version: string; readonly json: string }>();

  /** `cached` names the top-level maps whose entries are cached, with how to read an entry's version. */
  constructor(private readonly cached: Readonly<Record<string, VersionOf>>) {}

  serialize(data: object): string {
    const parts: string[] = [];
    for (const [key, value] of Object.entries(data)) {
      if (value === undefined) continue;
      const versionOf = this.cached[key];
      const json = versionOf && value !== null && typeof value === "object" ? this.map(value as Record<string, unknown>, versionOf) : JSON.stringify(value);
      parts.push(`${JSON.stringify(key)}:${json}`);
    }
    return `{${parts.join(",")}}`;
  }

  private map(map: Record<string, unknown>, versionOf: VersionOf): string {
    const parts: string[] = [];
    for (const [key, value] of Object.entries(map)) {
      if (value === undefined) continue;
      parts.push(`${JSON.stringify(key)}:${value !== null && typeof value === "object" ? this.entry(value, versionOf) : JSON.stringify(value)}`);
    }
    return `{${parts.join(",")}}`;
  }

  private entry(value: object, versionOf: VersionOf): string {
    const version = versionOf(value);
    const hit = this.cache.get(value);
    if (hit?.version === version) return hit.json;
    const json = JSON.stringify(value);
    this.cache.set(value, { version, json });
    return json;
  }
}
