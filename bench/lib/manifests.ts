import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";

const at = { file: "bench.yaml", line: 1, column: 1 };

/** An object as if loaded from a file, for benchmarks that apply to a store directly. */
export function loaded(object: Record<string, unknown>): LoadedManifest {
  return { source: at, object: { apiVersion: "airloft.dev/v1alpha1", ...object } as unknown as Resource };
}

/** A Group on the docker provider. */
export function dockerGroup(name: string): LoadedManifest {
  return loaded({ kind: "Group", metadata: { name }, spec: { provider: "docker" } });
}
