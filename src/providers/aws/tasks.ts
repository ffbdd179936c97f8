import {
  GetConsoleOutputCommand,
  paginateDescribeInstances,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { safeLogLines } from "../../util/safe-log-lines.js";
import { LABEL, parseOwnedLabels } from "../ownership.js";
import type { AwsClients } from "./clients.js";
import { errorCode } from "./errors.js";
import { type LaunchTemplate, profileNotYetVisible } from "./instances.js";
import { digest, tagRecord, toTags } from "./names.js";
import { parseTaskOutput, renderTaskUserData, type TaskCommand } from "./task-script.js";
import type { ObservedTask, TaskMatch, TaskReadOptions, TaskRequest, TaskResult } from "./task-types.js";
import type { InstanceProgram } from "./userdata.js";

export type { ObservedTask, TaskKind, TaskMatch, TaskReadOptions, TaskRequest, TaskResult } from "./task-types.js";

/** The owner kinds of task instances: never a replica of their app (observe-owner.ts leaves them out). */
export const TASK_KINDS: ReadonlySet<string> = new Set(["Release", "Job", "Run"]);
/** The task's id on its instance: one task, one id, whatever the attempt. */
export const TASK_TAG = "airloft.dev/task";
/** A task that names no timeout is terminated after this: an instance never runs (and costs) for good. */
export const DEFAULT_TASK_TIMEOUT_MS = 60 * 60_000;
/** Lines of a task's output kept in its record. */
export const TASK_LINES = 10;

export function taskId(request: Pick<TaskRequest, "kind" | "identity">): string {
  return digest("task", request.kind, ...request.identity).slice(0, 32);
}

/**
 * A task's ClientToken: from its id, so that a launch retried after a crash (the answer lost, the
 * process killed before it recorded anything) gets the same instance, never a second one. As
 * with replicas (issue 17), the token stays bound to its instance after it is terminated; a task
 * is never launched again once it ran, so only a refused parameter set moves to the next attempt.
 */
export function taskClientToken(id: string, attempt: number): string {
  return digest("task-token", id, ...(attempt > 0 ? [String(attempt)] : [])).slice(0, 64);
}

const LIVE = new Set(["pending", "running"]);

/** Task instances, in any state: one paginated call. */
export async function observeTasks(
  clients: AwsClients,
  installation: string,
  match: TaskMatch,
): Promise<ObservedTask[]> {
  const kinds: readonly string[] = typeof match.kind === "string" ? [match.kind] : match.kind;
  const wanted: Record<string, string> = {
    [LABEL.instance]: installation,
    ...(match.uid !== undefined ? { [LABEL.uid]: match.uid } : {}),
    ...(match.group !== undefined ? { [LABEL.group]: match.group } : {}),
    ...match.tags,
  };
  const Filters = [
    ...Object.entries(wanted).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
    { Name: `tag:${LABEL.kind}`, Values: [...kinds] },
  ];
  const out: ObservedTask[] = [];
  for await (const page of paginateDescribeInstances({ client: clients.ec2, pageSize: 1000 }, { Filters }))
    for (const i of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      const tags = tagRecord(i.Tags);
      const owner = parseOwnedLabels(tags);
      const id = tags[TASK_TAG];
      // Checked again here: a filter is no proof of ownership.
      const unwanted =
        Object.entries(wanted).some(([k, v]) => tags[k] !== v) || !kinds.includes(tags[LABEL.kind] ?? "");
      if (!owner || !id || !i.InstanceId || unwanted) continue;
      const state = i.State?.Name ?? "unknown";
      out.push({ instanceId: i.InstanceId, taskId: id, state, launchTime: i.LaunchTime?.getTime() ?? 0, owner, tags });
    }
  return out.sort((a, b) => a.launchTime - b.launchTime);
}

/**
 * Launches the task's instance from the app's launch template: its image, instance type, first
 * subnet, security group and instance profile, with the task's user data, terminated when it powers
 * off. Tagged at launch, so a crash after the call leaves an instance the next look finds.
 * Returns the instance id, or undefined when the token's instance is gone (it ran: nothing is
 * launched again).
 */
export async function launchTask(
  clients: AwsClients,
  launch: LaunchTemplate,
  program: InstanceProgram,
  request: TaskRequest,
): Promise<string | undefined> {
  const id = taskId(request);
  const command: TaskCommand = { id, label: request.label, command: request.command };
  const userData = Buffer.from(renderTaskUserData(program, command)).toString("base64");
  const base = { ...launch.tags(0) };
  delete base[LABEL.replica];
  const tags = toTags({
    ...base,
    [LABEL.kind]: request.kind,
    [TASK_TAG]: id,
    ...request.tags,
    Name: `${base.Name?.replace(/-0$/, "") ?? "airloft"}-${request.kind.toLowerCase()}`,
  });
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const out = await clients.ec2.send(
        new RunInstancesCommand({
          ImageId: launch.imageId,
          InstanceType: launch.instanceType as never,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: taskClientToken(id, attempt),
          SubnetId: launch.subnetIds[0],
          SecurityGroupIds: [launch.securityGroupId],
          UserData: userData,
          InstanceInitiatedShutdownBehavior: "terminate",
          MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
          ...(launch.instanceProfile ? { IamInstanceProfile: { Name: launch.instanceProfile } } : {}),
          TagSpecifications: [
            { ResourceType: "instance", Tags: tags },
            { ResourceType: "volume", Tags: tags },
          ],
        }),
      );
      return out.Instances?.[0]?.InstanceId;
    } catch (err) {
      const code = errorCode(err);
      if (code === "IdempotentInstanceTerminated") return undefined;
      // Same id, other parameters (a new AMI under the same config): the next token.
      if (code === "IdempotentParameterMismatch") continue;
      throw profileNotYetVisible(err) ?? err;
    }
  }
  throw new Error(`${request.label}: 4 launch tokens in a row were used with other parameters`);
}

/**
 * A task's result from its instance's console output. It counts as ended only once the instance
 * is no longer running (it powers itself off after the end marker, so a command that prints a
 * marker of its own does not end it early), and past its timeout a running instance is terminated.
 * An instance that ended with no marker yet is waited for until the timeout: EC2 updates the
 * console output late.
 */
export async function taskResult(
  clients: AwsClients,
  task: ObservedTask,
  options: TaskReadOptions,
): Promise<TaskResult> {
  const overdue = options.now - task.launchTime > options.timeoutMs;
  // A live task's output ends nothing: it is read only once the instance ended, or to report a timeout.
  if (LIVE.has(task.state) && !overdue) return { phase: "running", output: [] };
  const read = options.console ?? ((t: ObservedTask) => consoleText(clients, t.instanceId));
  const console = task.state === "pending" ? "" : await read(task);
  const parsed = parseTaskOutput(console, task.taskId);
  const output = safeLogLines(parsed.lines.join("\n"), options.env, options.lines ?? TASK_LINES);
  if (LIVE.has(task.state)) {
    await terminateTasks(clients, [task.instanceId]);
    return { phase: "failed", output, reason: "DeadlineExceeded" };
  }
  if (parsed.exitCode === undefined) {
    if (!overdue) return { phase: "running", output };
    return { phase: "failed", output, reason: "Lost" };
  }
  // Stopped by hand instead of terminated by its own shutdown: it has nothing left to do.
  if (task.state === "stopped") await terminateTasks(clients, [task.instanceId]);
  return { phase: parsed.exitCode === 0 ? "succeeded" : "failed", exitCode: parsed.exitCode, output };
}

export async function consoleText(clients: AwsClients, instanceId: string): Promise<string> {
  const answer = await clients.ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true }));
  return Buffer.from(answer.Output ?? "", "base64").toString("utf8");
}

export async function terminateTasks(clients: AwsClients, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [...ids] })).catch((err: unknown) => {
    if (errorCode(err) !== "InvalidInstanceID.NotFound") throw err;
  });
}

/**
 * The one step every task kind takes: the result of the task's newest instance, or a launch
 * when it has none. A task whose token names a terminated instance no look finds any more ran
 * and its output is gone: failed, Lost, and never launched again.
 */
export async function ensureTask(
  clients: AwsClients,
  observed: readonly ObservedTask[],
  start: { readonly launch: LaunchTemplate; readonly program: InstanceProgram; readonly request: TaskRequest },
  options: TaskReadOptions,
): Promise<TaskResult & { readonly instanceId?: string }> {
  const id = taskId(start.request);
  const mine = observed.filter((t) => t.taskId === id).at(-1);
  if (mine) return { ...(await taskResult(clients, mine, options)), instanceId: mine.instanceId };
  const instanceId = await launchTask(clients, start.launch, start.program, start.request);
  if (!instanceId) return { phase: "failed", output: [], reason: "Lost" };
  return { phase: "running", output: [], instanceId };
}
