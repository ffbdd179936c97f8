import { stringify } from "yaml";
import { formatAge } from "../../util/duration.js";
import { type ClientOptions, withClient } from "../client/open.js";
import { parseFormat, renderTable, renderToml } from "../output.js";

/** `airloft get sources`: each source with its revision, last sync, inventory and errors. */
export function sourcesCommand(options: ClientOptions & { output?: string }): Promise<number> {
  const format = parseFormat(options.output);
  return withClient(options, { write: false, command: "airloft get sources" }, async (client) => {
    const sources = await client.sources();
    if (format === "json") process.stdout.write(`${JSON.stringify(sources, null, 2)}\n`);
    else if (format === "yaml") process.stdout.write(stringify(sources));
    else if (format === "toml") process.stdout.write(renderToml({ source: sources }));
    else {
      const wide = format === "wide";
      const rows = sources.map((s) => [
        s.name,
        s.kind,
        s.paths.join(","),
        s.revision?.slice(0, 12) ?? "-",
        s.suspended ? "Suspended" : (s.lastResult ?? "-"),
        formatAge(s.lastSyncTime ?? undefined),
        `${s.inventory.filter((i) => i.ready).length}/${s.inventory.length}`,
        ...(wide ? [s.lastErrors[0] ?? ""] : []),
      ]);
      const header = ["NAME", "KIND", "PATH", "REVISION", "RESULT", "SYNCED", "READY", ...(wide ? ["LAST ERROR"] : [])];
      process.stdout.write(renderTable(header, rows));
      for (const s of sources.filter((x) => x.lastErrors.length > 0 && !wide)) {
        const errors = s.lastErrors.map((e) => `  ${e}`).join("\n");
        process.stdout.write(`\n${s.name}: ${s.lastErrors.length} error(s) at the last sync:\n${errors}\n`);
      }
      for (const s of sources.filter((x) => x.outsideGit.length > 0))
        process.stdout.write(`\n${s.name}: changed outside git:\n${s.outsideGit.map((n) => `  ${n}`).join("\n")}\n`);
    }
    return 0;
  });
}
