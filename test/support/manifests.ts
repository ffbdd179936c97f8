import type { LoadedManifest } from "../../src/resources/manifest-object.js";
import type { AppSpec, GroupSpec, QuotaSpec, Resource } from "../../src/resources/types.js";

/** An object as the loader gives it, from line 1 of a made-up file. */
export const manifest = (object: Resource, file = "m.yaml"): LoadedManifest => ({
  source: { file, line: 1, column: 1 },
  object,
});

export const groupObject = (name: string, provider: GroupSpec["provider"]): Resource => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name },
  spec: { provider },
});

export const appObject = (group: string, name: string, spec: AppSpec): Resource => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name, group },
  spec,
});

export const quotaObject = (group: string, name: string, hard: QuotaSpec["hard"]): Resource => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Quota",
  metadata: { name, group },
  spec: { hard },
});

/** When the nth run of a "* * * * *" job of an object made at `created` is due (n = 0: the first). */
export const dueMinute = (created: number, n = 0): number => (Math.ceil((created + 1) / 60_000) + n) * 60_000;
