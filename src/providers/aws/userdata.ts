import { createHash } from "node:crypto";
import { TerminalError } from "../../errors.js";
import type { AppSpec } from "../../resources/types.js";
import {
  type BootSecrets,
  bootSecretCommands,
  bootSecretFiles,
  dockerSecretOptions,
  SECRETS_ENV,
} from "./boot-secrets.js";
import { DATA_DEVICE } from "./volumes.js";

export type Runtime = NonNullable<AppSpec["runtime"]>;

/** What one instance runs, whatever its replica number: the input of a user-data template. */
export interface InstanceProgram {
  readonly label: string; // "app shop/web", for the script's header and the unit's description
  readonly runtime: Runtime;
  readonly image: string | undefined;
  readonly source: { readonly url: string; readonly ref?: string | undefined } | undefined;
  readonly command: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly port: number | undefined;
  /** Where a service keeps its data in its container: the data volume is mounted there. */
  readonly dataPath?: string | undefined;
  /** Secret variables and files, fetched at boot from SSM (boot-secrets.ts): never a value here. */
  readonly secrets?: BootSecrets | undefined;
}

const DEFAULT_COMMAND: Readonly<Record<Exclude<Runtime, "docker">, readonly string[]>> = {
  node: ["npm", "start"],
  python: ["python3", "main.py"],
  java: ["java", "-jar", "app.jar"],
};

const RUNTIME_PACKAGES: Readonly<Record<Exclude<Runtime, "docker">, string>> = {
  node: "nodejs npm git tar",
  python: "python3 python3-pip git tar",
  java: "java-17-amazon-corretto-headless git tar",
};

/** A word bash reads back as exactly `word`: bare when it is plainly safe, else single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

// ---- What the user data can carry ----
// Admission refuses these already (schemas/app.schema.json, src/resources/policy.ts); the checks
// here keep a program that reaches the renderer some other way from writing shell or unit text.

const CONTROL = /[\x00-\x1f\x7f]/;

function refuse(message: string): never {
  throw new TerminalError("InvalidConfig", message);
}

export function assertPlain(field: string, value: string): void {
  if (CONTROL.test(value))
    refuse(`${field} ${JSON.stringify(value)} holds a control character, which user data cannot carry`);
}

export function assertProgram(p: InstanceProgram): void {
  assertPlain("the label", p.label);
  if (p.image !== undefined) {
    assertPlain("spec.image", p.image);
    // docker run would read "--privileged" as an option, not as the image.
    if (!/^[A-Za-z0-9]/.test(p.image))
      refuse(`spec.image ${JSON.stringify(p.image)} must start with a letter or digit`);
  }
  if (p.source) {
    assertPlain("spec.source.url", p.source.url);
    if (!/^(https:\/\/|git@|ssh:\/\/)/.test(p.source.url))
      refuse(`spec.source.url ${JSON.stringify(p.source.url)} must start with https://, git@ or ssh://`);
    if (p.source.ref !== undefined) {
      assertPlain("spec.source.ref", p.source.ref);
      if (!/^[A-Za-z0-9._/][A-Za-z0-9._/-]*$/.test(p.source.ref))
        refuse(`spec.source.ref ${JSON.stringify(p.source.ref)} is not a branch or tag name`);
    }
  }
  for (const [i, word] of (p.command ?? []).entries()) assertPlain(`spec.command[${i}]`, word);
  for (const [key, value] of Object.entries(p.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      refuse(`env name ${JSON.stringify(key)} cannot be passed to an instance`);
    // Docker's --env-file and systemd's EnvironmentFile= both end a value at a line break.
    if (/[\r\n\0]/.test(value))
      refuse(`env ${key} holds a line break or NUL, which an instance's environment file cannot carry`);
  }
}

// ---- Files ----

/**
 * A file written by a quoted heredoc: the shell expands nothing inside it, and the end marker
 * derives from a hash of the content, so no content line can equal it (checked all the same).
 * The marker is the same for the same content: user data feeds the config hash, so it must not
 * change from one render to the next.
 */
function writeFile(path: string, mode: string, lines: readonly string[]): string[] {
  const content = lines.join("\n");
  if (lines.some((l) => /[\r\0]/.test(l) || l.includes("\n"))) refuse(`${path}: a line holds a line break or NUL`);
  const marker = `AIRLOFT_EOF_${createHash("sha256").update(content).digest("hex").slice(0, 32)}`;
  if (lines.includes(marker)) refuse(`${path}: the content holds its own heredoc marker`);
  const dir = path.slice(0, path.lastIndexOf("/"));
  // install creates the file with its mode before any content is written: no window where a
  // secret is readable at the default umask.
  return [
    `install -d -m 0755 ${dir}`,
    `install -m ${mode} /dev/null ${path}`,
    `cat > ${path} <<'${marker}'`,
    ...lines,
    marker,
  ];
}

export const HEADER = ["#!/bin/bash", "set -euo pipefail", "exec > >(tee -a /var/log/airloft-user-data.log) 2>&1"];

/** Installs packages with whichever package manager the image has. */
function install(packages: string): string {
  return `if command -v dnf >/dev/null; then dnf -y install ${packages}; elif command -v yum >/dev/null; then yum -y install ${packages}; else apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages}; fi`;
}

const DATA_MOUNT = "/var/lib/airloft/data";

/** Stands in an env value for the instance's private address, which only the instance knows. */
export const PRIVATE_ADDRESS = "@AIRLOFT_PRIVATE_ADDRESS@";

/** Reads the private address from the instance metadata (IMDSv2: a token first) into the env file. */
function fillPrivateAddress(envFile: string): string[] {
  const imds = "http://169.254.169.254/latest";
  return [
    `imds_token=$(curl -fsS -X PUT ${imds}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')`,
    `private_address=$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" ${imds}/meta-data/local-ipv4)`,
    `[[ $private_address =~ ^[0-9.]+$ ]] || { echo "no private address from the instance metadata" >&2; exit 1; }`,
    `sed -i "s/${PRIVATE_ADDRESS}/$private_address/g" ${envFile}`,
  ];
}

/**
 * Waits for the data volume (AirLoft attaches it once the instance runs), makes a file system on
 * it only when it has none (a volume found again keeps its data), and mounts it at every boot.
 */
function mountData(): string[] {
  const device = DATA_DEVICE;
  return [
    `for i in $(seq 1 180); do [ -e ${device} ] && break; sleep 2; done`,
    `[ -e ${device} ] || { echo "the data volume did not appear at ${device}" >&2; exit 1; }`,
    `blkid ${device} >/dev/null 2>&1 || mkfs.xfs -q ${device}`,
    `install -d -m 0755 ${DATA_MOUNT}`,
    `grep -q ' ${DATA_MOUNT} ' /etc/fstab || echo "UUID=$(blkid -s UUID -o value ${device}) ${DATA_MOUNT} xfs defaults,nofail 0 2" >> /etc/fstab`,
    `mountpoint -q ${DATA_MOUNT} || mount ${DATA_MOUNT}`,
  ];
}

/**
 * The `docker run` options every container of the program takes (its env, secrets, data and
 * limits), with `publish` where a replica's ports go: the order feeds the config hash.
 */
export function dockerRunOptions(p: InstanceProgram, publish: readonly string[] = []): string[] {
  return [
    "--env-file",
    "/etc/airloft/app.env",
    ...(p.secrets ? dockerSecretOptions(p.secrets) : []),
    ...publish,
    ...(p.dataPath ? ["-v", `${DATA_MOUNT}:${p.dataPath}`] : []),
    "--security-opt",
    "no-new-privileges",
    "--cap-drop",
    "NET_RAW",
    "--cap-drop",
    "MKNOD",
    "--cap-drop",
    "SYS_CHROOT",
    "--cap-drop",
    "AUDIT_WRITE",
  ];
}

/** Docker, the env file, the data volume and the secrets, up to the program's `docker run`. */
export function dockerSetup(p: InstanceProgram): string[] {
  if (!p.image) throw new TerminalError("InvalidConfig", `${p.label}: the docker runtime needs spec.image`);
  return [
    `command -v docker >/dev/null || { ${install("docker")}; }`,
    "systemctl enable --now docker",
    // docker reads --env-file lines literally: KEY=VALUE, no quotes, no escapes.
    ...writeFile(
      "/etc/airloft/app.env",
      "0600",
      Object.entries(p.env).map(([k, v]) => `${k}=${v}`),
    ),
    ...(Object.values(p.env).some((v) => v.includes(PRIVATE_ADDRESS))
      ? fillPrivateAddress("/etc/airloft/app.env")
      : []),
    ...(p.dataPath ? mountData() : []),
    ...fetchSecrets(p, "docker", "root"),
  ];
}

function dockerScript(p: InstanceProgram): string[] {
  const publish = p.port !== undefined ? ["-p", `${p.port}:${p.port}`] : [];
  const options = dockerRunOptions(p, publish);
  const run = ["docker", "run", "-d", "--name", "airloft-app", "--restart", "always", ...options, p.image ?? ""];
  return [
    ...dockerSetup(p),
    "docker rm -f airloft-app >/dev/null 2>&1 || true",
    [...run, ...(p.command ?? [])].map(shellQuote).join(" "),
  ];
}

/** The boot fetch of the program's secrets, and its first run; nothing without secrets. */
function fetchSecrets(p: InstanceProgram, format: "docker" | "systemd", user: string): string[] {
  if (!p.secrets) return [];
  const files = bootSecretFiles(p.secrets, format, user).flatMap((f) => writeFile(f.path, f.mode, f.lines));
  return [...files, ...bootSecretCommands(p.secrets, format === "systemd")];
}

// ---- systemd (systemd.syntax, systemd.service "Command lines", EnvironmentFile=) ----

/** A value for an EnvironmentFile= line: double-quoted, with \ before each of "\`$ (no expansion happens there). */
function systemdEnvValue(value: string): string {
  return `"${value.replace(/["\\`$]/g, (c) => `\\${c}`)}"`;
}

/** Text of a unit-file line outside a command: % starts a specifier, so it is doubled. */
function unitText(value: string): string {
  assertPlain("a unit-file value", value);
  return value.replace(/%/g, "%%");
}

const EXEC_ESCAPES: Readonly<Record<string, string>> = { "\\": "\\\\", '"': '\\"', "%": "%%", $: "$$", ";": "\\x3b" };

/**
 * One argument of an ExecStart= line, read back by systemd as exactly `word`: bare when plainly
 * safe, else double-quoted with \\ and \" escaped, % doubled (specifiers), $ doubled (variable
 * expansion) and ; as \x3b (older systemd splits commands at a lone ;).
 */
export function systemdWord(word: string): string {
  assertPlain("a command word", word);
  if (/^[A-Za-z0-9_./:=@+-]+$/.test(word)) return word;
  return `"${word.replace(/[\\"%$;]/g, (c) => EXEC_ESCAPES[c] ?? c)}"`;
}

function fetchSource(source: NonNullable<InstanceProgram["source"]>): string[] {
  const url = shellQuote(source.url);
  if (/\.(tar\.gz|tgz)$/.test(source.url))
    return [`curl -fsSL ${url} | tar -xz -C /opt/airloft/app --strip-components=1`];
  return [`git clone --depth 1 ${source.ref ? `--branch ${shellQuote(source.ref)} ` : ""}${url} /opt/airloft/app`];
}

const PREPARE: Readonly<Record<Exclude<Runtime, "docker">, readonly string[]>> = {
  node: [
    "cd /opt/airloft/app && if [ -f package-lock.json ]; then npm ci --omit=dev; elif [ -f package.json ]; then npm install --omit=dev; fi",
  ],
  python: [
    "python3 -m venv /opt/airloft/venv",
    "cd /opt/airloft/app && if [ -f requirements.txt ]; then /opt/airloft/venv/bin/pip install -r requirements.txt; fi",
  ],
  java: [],
};

function runtimeScript(p: InstanceProgram, runtime: Exclude<Runtime, "docker">): string[] {
  if (!p.source) throw new TerminalError("InvalidConfig", `${p.label}: the ${runtime} runtime needs spec.source`);
  const command = p.command ?? DEFAULT_COMMAND[runtime];
  const path =
    runtime === "python" ? "/opt/airloft/venv/bin:/usr/local/bin:/usr/bin:/bin" : "/usr/local/bin:/usr/bin:/bin";
  return [
    install(RUNTIME_PACKAGES[runtime]),
    "id airloft >/dev/null 2>&1 || useradd --system --home /opt/airloft --shell /sbin/nologin airloft",
    "rm -rf /opt/airloft/app && install -d -o root -m 0755 /opt/airloft/app",
    ...fetchSource(p.source),
    ...PREPARE[runtime],
    ...writeFile("/etc/airloft/app.env", "0600", [
      `PATH=${path}`,
      ...(p.port !== undefined ? [`PORT=${p.port}`] : []),
      ...Object.entries(p.env).map(([k, v]) => `${k}=${systemdEnvValue(v)}`),
    ]),
    ...writeFile("/etc/systemd/system/airloft-app.service", "0644", [
      "[Unit]",
      `Description=${unitText(`AirLoft ${p.label}`)}`,
      "After=network-online.target",
      "Wants=network-online.target",
      "[Service]",
      "User=airloft",
      "WorkingDirectory=/opt/airloft/app",
      "EnvironmentFile=/etc/airloft/app.env",
      ...(p.secrets ? [`EnvironmentFile=${SECRETS_ENV}`] : []),
      `ExecStart=/usr/bin/env ${command.map(systemdWord).join(" ")}`,
      "Restart=always",
      "RestartSec=2",
      "NoNewPrivileges=true",
      "[Install]",
      "WantedBy=multi-user.target",
    ]),
    ...fetchSecrets(p, "systemd", "airloft"),
    "systemctl daemon-reload",
    "systemctl enable --now airloft-app.service",
  ];
}

/** The cloud-init user data that turns a fresh instance into one replica of the program. */
export function renderUserData(p: InstanceProgram): string {
  assertProgram(p);
  const body = p.runtime === "docker" ? dockerScript(p) : runtimeScript(p, p.runtime);
  return [...HEADER, `# AirLoft ${p.label}`, ...body, ""].join("\n");
}
