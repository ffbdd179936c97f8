import { TerminalError } from "../../errors.js";
import {
  assertPlain,
  assertProgram,
  dockerRunOptions,
  dockerSetup,
  HEADER,
  type InstanceProgram,
  shellQuote,
} from "./userdata.js";

/** What a task instance runs once: a command in the app's image, named by the task's id. */
export interface TaskCommand {
  /** The task's id (a hash: letters and digits), in its console markers. */
  readonly id: string;
  /** "release shop/web", "job shop/web nightly": the script's header. */
  readonly label: string;
  readonly command: readonly string[];
}

const MARK = "airloft-task";

/**
 * The user data of a one-shot task instance: the app's docker setup (env file, secrets fetched
 * from SSM at boot: no value in the user data), a begin marker, the command's output, and an
 * `exit=N` marker written by an EXIT trap, so a setup step that fails ends with a marker too.
 * Then the instance powers off; launched with InstanceInitiatedShutdownBehavior=terminate, it
 * is gone. All of it reaches the serial console, which is where the result is read (tasks.ts).
 */
export function renderTaskUserData(p: InstanceProgram, task: TaskCommand): string {
  assertProgram(p);
  if (p.runtime !== "docker")
    throw new TerminalError(
      "InvalidConfig",
      `${task.label}: commands run on AWS in the app's image; the ${p.runtime} runtime has none (use runtime docker)`,
    );
  if (!/^[a-z0-9]+$/.test(task.id)) throw new TerminalError("InvalidConfig", `task id ${task.id} is not a hash`);
  assertPlain("the label", task.label);
  for (const [i, word] of task.command.entries()) assertPlain(`command[${i}]`, word);
  if (task.command.length === 0) throw new TerminalError("InvalidConfig", `${task.label}: the command is empty`);
  const run = ["docker", "run", "--rm", "--name", "airloft-task", ...dockerRunOptions(p), p.image ?? ""];
  return [
    ...HEADER,
    `# AirLoft ${task.label}`,
    "airloft_task_end() {",
    "  local code=$?",
    "  trap - EXIT",
    `  echo "${MARK} ${task.id} exit=$code"`,
    "  sync",
    "  systemctl poweroff || poweroff -f",
    "}",
    "trap airloft_task_end EXIT",
    ...dockerSetup(p),
    `echo "${MARK} ${task.id} begin"`,
    [...run, ...task.command].map(shellQuote).join(" "),
    "",
  ].join("\n");
}

/** What a task's console shows: whether its command began, its exit code once it ended, its lines. */
export interface TaskOutput {
  readonly begun: boolean;
  readonly exitCode?: number;
  /** The command's lines, between the markers (unmasked: the caller masks them). */
  readonly lines: readonly string[];
}

/**
 * Reads a task's result out of its console output. The last markers count: a command that prints
 * a marker of its own is followed by the real one. The console may prefix lines (cloud-init, the
 * kernel's time), so a marker is found at a line's end.
 */
export function parseTaskOutput(output: string, id: string): TaskOutput {
  const lines = output.split(/\r?\n/);
  const begin = new RegExp(`(^|\\s)${MARK} ${id} begin\\s*$`);
  const end = new RegExp(`(^|\\s)${MARK} ${id} exit=(\\d{1,3})\\s*$`);
  let first = -1;
  let last = -1;
  let exitCode: number | undefined;
  lines.forEach((line, i) => {
    if (first === -1 && begin.test(line)) first = i;
    const ended = end.exec(line);
    if (ended) {
      last = i;
      exitCode = Number(ended[2]);
    }
  });
  const from = first === -1 ? 0 : first + 1;
  const body = lines.slice(from, last >= from ? last : lines.length).filter((l) => l.trim() !== "");
  // Setup output before the begin marker explains a failed setup; after a begin, only the command's.
  return { begun: first !== -1, ...(exitCode !== undefined ? { exitCode } : {}), lines: body };
}
