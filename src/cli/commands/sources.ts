import { listSources } from "../../gitops/sources.js";
import { isReadyAt } from "../../resources/conditions.js";
import { formatAge } from "../../util/duration.js";
import { openStore, type GlobalOptions } from "../context.js";
import { parseFormat, renderTable } from "../output.js";
import { stringify } from "yaml";

/** `airloft get sources`: each source with its revision, last sync, inventory and errors. */
export async function sourcesCommand(options: GlobalOptions & { output?: string }): Promise<number> {
  const format = parseFormat(options.output);
  const store = await openStore(options, { write: false, command: "airloft get sources" });
  const sources = listSources(store).map((s) => ({
    name: s.name,
    kind: s.kind,
    paths: s.paths,
    revision: s.revision ?? null,
    suspended: s.suspended ?? false,
    lastSyncTime: s.lastSyncTime ?? null,
    lastResult: s.lastResult ?? null,
    lastErrors: s.lastErrors,
    inventory: s.inventory.map((key) => {
      const obj = store.get(key);
      return { key, ready: obj ? isReadyAt(obj) : false, deleting: Boolean(obj?.metadata.deletionTimestamp) };
    }),
  }));
  if (format === "json") process.stdout.write(JSON.stringify(sources, null, 2) + "\n");
  else if (format === "yaml") process.stdout.write(stringify(sources));
  else {
    const rows = sources.map((s) => [
      s.name, s.kind, s.paths.join(","), s.revision?.slice(0, 12) ?? "-", s.suspended ? "Suspended" : (s.lastResult ?? "-"),
      formatAge(s.lastSyncTime ?? undefined), `${s.inventory.filter((i) => i.ready).length}/${s.inventory.length}`,
      ...(format === "wide" ? [s.lastErrors[0] ?? ""] : []),
    ]);
    process.stdout.write(renderTable(["NAME", "KIND", "PATH", "REVISION", "RESULT", "SYNCED", "READY", ...(format === "wide" ? ["LAST ERROR"] : [])], rows));
    for (const s of sources.filter((x) => x.lastErrors.length > 0 && format !== "wide")) {
      process.stdout.write(`\n${s.name}: ${s.lastErrors.length} error(s) at the last sync:\n${s.lastErrors.map((e) => `  ${e}`).join("\n")}\n`);
    }
  }
  return 0;
}
