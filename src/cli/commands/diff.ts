import { type ClientOptions, withClient } from "../client/open.js";

export interface DiffOptions extends ClientOptions {
  readonly filename: string[];
  readonly recursive?: boolean;
}

/**
 * Prints spec changes and the infrastructure operations the loop would run, like `kubectl diff`:
 * exit 0 when nothing would change, 1 when something would, 2 on error. Against a server, the
 * server plans through its own providers.
 */
export function diffCommand(options: DiffOptions): Promise<number> {
  return withClient(options, { write: false, command: "airloft diff" }, async (client) => {
    const entries = await client.diff({ paths: options.filename, recursive: options.recursive ?? false });
    for (const entry of entries) {
      process.stdout.write(`${entry.title}${entry.isNew ? " (new)" : ""}\n`);
      for (const line of entry.specLines) process.stdout.write(`  ${line}\n`);
      for (const op of entry.operations) process.stdout.write(`  ~ ${op}\n`);
    }
    if (entries.length === 0) process.stdout.write("no changes\n");
    return entries.length > 0 ? 1 : 0;
  });
}
