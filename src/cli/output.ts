import { stringify as toToml } from "smol-toml";
import { stringify } from "yaml";
import { getCondition } from "../resources/conditions.js";
import { replicasOf } from "../resources/replicas.js";
import { OBJECT_TABLE } from "../resources/toml-documents.js";
import type { Resource } from "../resources/types.js";
import { formatAge } from "../util/duration.js";

export type OutputFormat = "table" | "wide" | "yaml" | "json" | "toml";

/** The formats that print whole objects, as opposed to a table. */
export const isStructured = (format: OutputFormat): boolean =>
  format === "json" || format === "yaml" || format === "toml";

export function parseFormat(text: string | undefined): OutputFormat {
  const format = text ?? "table";
  if (format === "table" || format === "wide" || format === "yaml" || format === "json" || format === "toml")
    return format;
  throw new Error(`unknown output format ${format}: use table, wide, yaml, json or toml`);
}

/**
 * TOML as the loader reads it back: one object at the top, or several as `[[object]]` tables.
 * TOML has no null: fields that are null (or undefined) are left out, as YAML's reader would skip them.
 */
export function renderToml(value: unknown): string {
  const plain = JSON.parse(JSON.stringify(value ?? {}, (_k, v: unknown) => (v === null ? undefined : v))) as Record<
    string,
    unknown
  >;
  return `${toToml(plain)}\n`;
}

/** Left-aligned columns separated by three spaces, like kubectl. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

function readyCell(obj: Resource): string {
  if (obj.metadata.deletionTimestamp) return "Deleting";
  if (obj.kind === "Secret") return "-";
  const ready = getCondition(obj.status, "Ready");
  if (!ready) return "Unknown";
  // A Ready condition for an older generation says nothing about the current spec.
  return ready.observedGeneration === obj.metadata.generation ? ready.status : "Unknown";
}

function replicasCell(obj: Resource): string {
  if (obj.kind !== "App") return "-";
  return `${obj.status?.readyReplicas ?? 0}/${replicasOf(obj)}`;
}

function endpointsCell(obj: Resource): string {
  if (obj.kind === "App") return (obj.status?.endpoints ?? []).join(",") || "-";
  if (obj.kind === "Group") return obj.status?.network?.name ?? "-";
  return "-";
}

/** "error: app/acme/web is not ready: Reason: message", for an apply that ends short of Ready. */
export function notReadyError(name: string, obj: Resource | undefined): string {
  const condition = obj ? (getCondition(obj.status, "Stalled") ?? getCondition(obj.status, "Ready")) : undefined;
  return `error: ${name} is not ready: ${condition?.reason ?? "Unknown"}: ${condition?.message ?? "no status yet"}\n`;
}

/** `sourceOf` names the git-ops source or prune set that owns an object, for the wide table. */
export function renderObjects(
  objects: readonly Resource[],
  format: OutputFormat,
  sourceOf: (o: Resource) => string | undefined = () => undefined,
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(
        objects.length === 1 ? objects[0] : { apiVersion: "v1", kind: "List", items: objects },
        null,
        2,
      )}\n`;
    case "yaml":
      return objects.map((o) => stringify(o)).join("---\n");
    case "toml":
      return renderToml(objects.length === 1 ? objects[0] : { [OBJECT_TABLE]: objects });
    case "table":
    case "wide": {
      const wide = format === "wide";
      const header = [
        "KIND",
        "GROUP",
        "NAME",
        "READY",
        "REASON",
        "AGE",
        ...(wide ? ["REPLICAS", "ENDPOINTS", "SOURCE", "MESSAGE"] : []),
      ];
      const rows = objects.map((o) => {
        const ready =
          getCondition(o.status, "Stalled")?.status === "True"
            ? getCondition(o.status, "Stalled")
            : getCondition(o.status, "Ready");
        return [
          o.kind.toLowerCase(),
          o.metadata.group ?? "-",
          o.metadata.name,
          readyCell(o),
          ready?.reason ?? "-",
          formatAge(o.metadata.creationTimestamp),
          ...(wide ? [replicasCell(o), endpointsCell(o), sourceOf(o) ?? "-", ready?.message ?? ""] : []),
        ];
      });
      return renderTable(header, rows);
    }
  }
}
