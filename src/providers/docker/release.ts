import type Docker from "dockerode";
import { safeLogLines } from "../../util/safe-log-lines.js";
import { LABEL, ownerLabels, parseOwnedLabels } from "../ownership.js";
import { demuxFrames } from "./crash-facts.js";
import { containerCreateOptions, type DesiredApp } from "./desired.js";
import { dockerClient, engineError, statusCodeOf } from "./engine.js";

/** The kind label of release containers: the app planner (kind App) never counts or removes them. */
export const RELEASE_KIND = "Release";
/** Lines of a release's output kept in its revision and shown in ReleaseFailed. */
const RELEASE_LINES = 10;

/** Where an app's release command is for the desired config. */
export interface ReleaseState {
  readonly phase: "running" | "succeeded" | "failed";
  readonly exitCode?: number;
  /** The last lines, every env and secret value replaced by ***. */
  readonly output: readonly string[];
}

/**
 * The release container's name: from the app's uid and config hash, so that a restarted AirLoft
 * finds the one it started (running: waits; exited: reads its exit code) instead of a second run.
 */
export function releaseContainerName(desired: Pick<DesiredApp, "uid" | "configHash">): string {
  return `airloft-release_${desired.uid}_${desired.configHash}`;
}

/**
 * Runs the release command once for the desired config: in its image, with its env, secrets and
 * bound services' variables, on the group network, with no port, no alias and no restart. The
 * exited container stays: its exit code is the record that it ran. Older configs' go once it succeeded.
 */
export async function ensureRelease(
  address: string,
  desired: DesiredApp,
  command: readonly string[],
): Promise<ReleaseState> {
  const docker = dockerClient(address);
  try {
    const container = docker.getContainer(releaseContainerName(desired));
    let info = await inspect(container);
    if (!info) {
      await create(docker, desired, command);
      info = await inspect(container);
    }
    const owner = parseOwnedLabels(info?.Config.Labels);
    if (!info || owner?.uid !== desired.uid || owner.instance !== desired.instance || owner.kind !== RELEASE_KIND)
      throw new Error(`the release container name ${releaseContainerName(desired)} is not this app's`);
    if (info.State.Status === "created") await container.start();
    if (info.State.Status === "created" || info.State.Running || info.State.Restarting)
      return { phase: "running", output: [] };
    const exitCode = info.State.ExitCode;
    const raw = await container.logs({ follow: false, stdout: true, stderr: true, tail: RELEASE_LINES * 2 });
    const env = { ...desired.template.env, ...desired.secretEnv };
    const output = safeLogLines(demuxFrames(raw).toString("utf8"), env, RELEASE_LINES);
    if (exitCode === 0) await removeOlderReleases(docker, desired);
    return { phase: exitCode === 0 ? "succeeded" : "failed", exitCode, output };
  } catch (err) {
    throw engineError(address, err);
  }
}

async function inspect(container: Docker.Container): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await container.inspect();
  } catch (err) {
    if (statusCodeOf(err) === 404) return undefined;
    throw err;
  }
}

async function create(docker: Docker, desired: DesiredApp, command: readonly string[]): Promise<void> {
  const replica = containerCreateOptions(desired, 0);
  const host = replica.HostConfig as Record<string, unknown>;
  const { PortBindings: _ports, ...hostConfig } = host;
  try {
    const created = await docker.createContainer({
      Image: replica.Image as string,
      Cmd: [...command],
      Env: replica.Env as string[],
      name: releaseContainerName(desired),
      Labels: ownerLabels({
        instance: desired.instance,
        group: desired.group,
        kind: RELEASE_KIND,
        name: desired.name,
        uid: desired.uid,
        configHash: desired.configHash,
      }),
      HostConfig: { ...hostConfig, RestartPolicy: { Name: "" } },
      // On the group network to reach the bound services, under no alias: it serves nothing.
      NetworkingConfig: { EndpointsConfig: { [desired.template.network]: {} } },
    });
    await created.start();
  } catch (err) {
    // Made meanwhile by another pass: the caller inspects it.
    if (statusCodeOf(err) !== 409) throw err;
  }
}

async function removeOlderReleases(docker: Docker, desired: DesiredApp): Promise<void> {
  const filters = { label: [`${LABEL.uid}=${desired.uid}`, `${LABEL.kind}=${RELEASE_KIND}`] };
  for (const c of await docker.listContainers({ all: true, filters }))
    if (c.Labels[LABEL.configHash] !== desired.configHash) await docker.getContainer(c.Id).remove({ force: true });
}

/**
 * The release gate of one reconcile: runs or reads the release for the desired config, and holds
 * back new replicas until it succeeded. Nothing to do without a command, or once the revision
 * recorded its success (`done`).
 */
export async function releaseGate(
  address: string,
  desired: DesiredApp,
  command: readonly string[] | undefined,
  done: boolean | undefined,
): Promise<{ desired: DesiredApp; release?: ReleaseState }> {
  if (!command || done) return { desired };
  const release = await ensureRelease(address, desired, command);
  return { desired: release.phase === "succeeded" ? desired : { ...desired, holdCreates: true }, release };
}
