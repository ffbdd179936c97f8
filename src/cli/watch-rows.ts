import type { Resource } from "../resources/types.js";
import { type OutputFormat, renderObjects } from "./output.js";

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/**
 * Prints changes as `get --watch` shows them, like kubectl: a table row per change (the header
 * once), or one JSON line per change with -o json, or YAML documents.
 */
export function changePrinter(
  format: OutputFormat,
  out: NodeJS.WritableStream = process.stdout,
): (type: ChangeType, object: Resource) => void {
  let header = true;
  return (type, object) => {
    if (format === "json") {
      out.write(`${JSON.stringify({ type, object })}\n`);
      return;
    }
    if (format === "yaml" || format === "toml") {
      out.write(`# ${type}\n${renderObjects([object], format)}${format === "yaml" ? "---\n" : "\n"}`);
      return;
    }
    // A deleted object's row says Deleting: its last state, on the way out.
    const shown =
      type === "DELETED"
        ? {
            ...object,
            metadata: { ...object.metadata, deletionTimestamp: object.metadata.deletionTimestamp ?? "gone" },
          }
        : object;
    const rows = renderObjects([shown], format).split("\n");
    out.write((header ? rows : rows.slice(1)).join("\n"));
    header = false;
  };
}

/** Resolves on Ctrl-C or SIGTERM: the end of a watch. */
export function untilInterrupted(): { done: Promise<void>; signal: AbortSignal } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const done = new Promise<void>((resolve) =>
    controller.signal.addEventListener("abort", () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    }),
  );
  return { done, signal: controller.signal };
}
