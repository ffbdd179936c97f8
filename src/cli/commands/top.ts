import { type ClientOptions, withClient } from "../client/open.js";
import { renderTable } from "../output.js";

export interface TopOptions extends ClientOptions {
  readonly group?: string;
}

/**
 * CPU, memory and restarts per running replica, like `kubectl top pod`: from the server's last
 * stats pass with --server, else from two passes over the engines made here.
 */
export function topCommand(options: TopOptions): Promise<number> {
  return withClient(options, { write: false, command: "airloft top" }, async (client) => {
    const groups = options.group ? [options.group] : (await client.list({ kind: "Group" })).map((g) => g.metadata.name);
    const rows: string[][] = [];
    // NODE and STATE where a provider places replicas on nodes (Swarm).
    let placed = false;
    for (const group of groups) {
      const usage = await client.usage(group);
      const rates = new Map((usage.apps ?? []).map((a) => [a.name, a.requestsPerSecond]));
      for (const r of usage.replicas) {
        placed ||= r.node !== undefined;
        rows.push([
          group,
          `${r.kind.toLowerCase()}/${r.name}`,
          r.replica,
          r.cpuCores === null ? "-" : `${Math.round(r.cpuCores * 1000)}m`,
          r.memoryBytes === null ? "-" : `${Math.round(r.memoryBytes / 2 ** 20)}Mi`,
          String(r.restarts),
          requestRate(r.kind === "App" ? rates.get(r.name) : undefined),
          r.node ?? "-",
          r.state ?? "-",
        ]);
      }
    }
    const headers = ["GROUP", "NAME", "REPLICA", "CPU(cores)", "MEMORY", "RESTARTS", "APP REQ/S", "NODE", "STATE"];
    const shown = placed ? headers.length : headers.length - 2;
    if (rows.length === 0) process.stdout.write("no running replicas\n");
    else
      process.stdout.write(
        renderTable(
          headers.slice(0, shown),
          rows.map((r) => r.slice(0, shown)),
        ),
      );
    return 0;
  });
}

/** The app's request rate at the edge (all its replicas together), or "-" without an edge figure. */
function requestRate(rate: number | undefined): string {
  return rate === undefined ? "-" : rate >= 10 ? String(Math.round(rate)) : rate.toFixed(1);
}
