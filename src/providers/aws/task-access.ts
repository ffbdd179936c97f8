import type { App, Group } from "../../resources/types.js";
import type { ResolvedSecrets } from "../../secrets/references.js";
import { ConsoleCache } from "./console-cache.js";
import type { AwsContext } from "./context.js";
import { appSetup } from "./desired.js";
import { syncOwnerSecrets } from "./owner-secrets.js";
import type { TaskInstances } from "./task-types.js";
import {
  consoleText,
  launchTask,
  type ObservedTask,
  observeTasks,
  type TaskMatch,
  type TaskReadOptions,
  type TaskRequest,
  type TaskResult,
  taskResult,
  terminateTasks,
} from "./tasks.js";

/**
 * Task instances of a group's apps for the job scheduler and one-off runs: each started from the
 * app's own launch template (image, instance type, network, secrets), read and ended by id.
 */
export class AwsTasks implements TaskInstances {
  private readonly consoles = new ConsoleCache();

  constructor(private readonly ctx: AwsContext) {}

  /** The group's task instances that match (every one of them is the group's: its name is in the match). */
  list(group: Group, match: Omit<TaskMatch, "group">): Promise<ObservedTask[]> {
    return observeTasks(this.clients(group), this.ctx.instanceId, { ...match, group: group.metadata.name });
  }

  /** Launches the task (or finds the instance its token already made); undefined when that one is gone. */
  async start(
    app: App,
    group: Group,
    request: TaskRequest,
    inputs: { readonly bindings: Readonly<Record<string, string>>; readonly secrets: ResolvedSecrets },
  ): Promise<string | undefined> {
    const setup = await appSetup(this.ctx, app, group, inputs.bindings, undefined, inputs.secrets);
    // The parameters it reads at boot exist before it boots, as for the app's own instances.
    await syncOwnerSecrets(this.ctx, group, setup.secrets);
    return launchTask(this.clients(group), setup.launch, setup.program, request);
  }

  result(group: Group, task: ObservedTask, options: TaskReadOptions): Promise<TaskResult> {
    const clients = this.clients(group);
    const console = (t: ObservedTask) =>
      this.consoles.text(t, options.now, () => {
        options.beforeRead?.();
        return consoleText(clients, t.instanceId);
      });
    return taskResult(clients, task, { console, ...options });
  }

  terminate(group: Group, ids: readonly string[]): Promise<void> {
    return terminateTasks(this.clients(group), ids);
  }

  private clients(group: Group) {
    return this.ctx.clients(this.ctx.region(group));
  }
}
