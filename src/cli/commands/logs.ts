import { ProviderRegistry } from "../../providers/registry.js";
import { objectKey } from "../../resources/kinds.js";
import { findObject, type GlobalOptions, openStore, parseRef, UsageError } from "../context.js";

export interface LogsOptions extends GlobalOptions {
  readonly group?: string;
  readonly follow?: boolean;
  readonly tail?: string;
}

/** Every replica's output, each line prefixed with the replica ("web-1 | ..."), read by the group's provider. */
export async function logsCommand(words: string[], options: LogsOptions): Promise<number> {
  const store = await openStore(options, { write: false, command: "airloft logs" });
  const app = findObject(store, parseRef(words, options.group));
  if (app.kind !== "App") throw new UsageError("logs are for apps: airloft logs app/NAME");
  const group = store.get(objectKey("Group", "", app.metadata.group ?? ""));
  const groupName = app.metadata.group ?? "";
  if (group?.kind !== "Group") throw new UsageError(`app ${app.metadata.name}'s group ${groupName} is not found`);
  const provider = await new ProviderRegistry({ instanceId: store.instanceId }).for(group);
  await provider.logs(app, group, {
    follow: options.follow ?? false,
    ...(options.tail ? { tail: Number(options.tail) } : {}),
    write: (replica, line) => process.stdout.write(`${replica} | ${line}\n`),
  });
  return 0;
}
