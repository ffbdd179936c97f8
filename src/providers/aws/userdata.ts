import { TerminalError } from "../../errors.js";
import type { AppSpec } from "../../resources/types.js";

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

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function assertEnv(env: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new TerminalError("InvalidConfig", `env name ${JSON.stringify(key)} cannot be passed to an instance`);
    if (/[\r\n\0]/.test(value)) throw new TerminalError("InvalidConfig", `env ${key} holds a line break, which an instance's environment file cannot carry`);
  }
}

/** A file written by a quoted heredoc: the shell expands nothing inside it. */
function writeFile(path: string, mode: string, lines: readonly string[]): string[] {
  return [`install -d -m 0755 "$(dirname ${path})"`, `cat > ${path} <<'AIRLOFT_EOF'`, ...lines, "AIRLOFT_EOF", `chmod ${mode} ${path}`];
}

const HEADER = ["#!/bin/bash", "set -euo pipefail", "exec > >(tee -a /var/log/airloft-user-data.log) 2>&1"];

/** Installs packages with whichever package manager the image has. */
function install(packages: string): string {
  return `if command -v dnf >/dev/null; then dnf -y install ${packages}; elif command -v yum >/dev/null; then yum -y install ${packages}; else apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages}; fi`;
}

function dockerScript(p: InstanceProgram): string[] {
  if (!p.image) throw new TerminalError("InvalidConfig", `${p.label}: the docker runtime needs spec.image`);
  const publish = p.port !== undefined ? ["-p", `${p.port}:${p.port}`] : [];
  const run = ["docker", "run", "-d", "--name", "airloft-app", "--restart", "always", "--env-file", "/etc/airloft/app.env", ...publish,
    "--security-opt", "no-new-privileges", "--cap-drop", "NET_RAW", "--cap-drop", "MKNOD", "--cap-drop", "SYS_CHROOT", "--cap-drop", "AUDIT_WRITE", p.image, ...(p.command ?? [])];
  return [
    `command -v docker >/dev/null || { ${install("docker")}; }`,
    "systemctl enable --now docker",
    ...writeFile("/etc/airloft/app.env", "0600", Object.entries(p.env).map(([k, v]) => `${k}=${v}`)),
    "docker rm -f airloft-app >/dev/null 2>&1 || true",
    run.map(shellQuote).join(" "),
  ];
}

function systemdQuote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$/g, "$$$$")}"`;
}

function fetchSource(source: NonNullable<InstanceProgram["source"]>): string[] {
  const url = shellQuote(source.url);
  if (/\.(tar\.gz|tgz)$/.test(source.url)) return [`curl -fsSL ${url} | tar -xz -C /opt/airloft/app --strip-components=1`];
  return [`git clone --depth 1 ${source.ref ? `--branch ${shellQuote(source.ref)} ` : ""}${url} /opt/airloft/app`];
}

const PREPARE: Readonly<Record<Exclude<Runtime, "docker">, readonly string[]>> = {
  node: ["cd /opt/airloft/app && if [ -f package-lock.json ]; then npm ci --omit=dev; elif [ -f package.json ]; then npm install --omit=dev; fi"],
  python: ["python3 -m venv /opt/airloft/venv", "cd /opt/airloft/app && if [ -f requirements.txt ]; then /opt/airloft/venv/bin/pip install -r requirements.txt; fi"],
  java: [],
};

function runtimeScript(p: InstanceProgram, runtime: Exclude<Runtime, "docker">): string[] {
  if (!p.source) throw new TerminalError("InvalidConfig", `${p.label}: the ${runtime} runtime needs spec.source`);
  const command = p.command ?? DEFAULT_COMMAND[runtime];
  const path = runtime === "python" ? "/opt/airloft/venv/bin:/usr/local/bin:/usr/bin:/bin" : "/usr/local/bin:/usr/bin:/bin";
  return [
    install(RUNTIME_PACKAGES[runtime]),
    "id airloft >/dev/null 2>&1 || useradd --system --home /opt/airloft --shell /sbin/nologin airloft",
    "rm -rf /opt/airloft/app && install -d -o root -m 0755 /opt/airloft/app",
    ...fetchSource(p.source),
    ...PREPARE[runtime],
    ...writeFile("/etc/airloft/app.env", "0600", [`PATH=${path}`, ...(p.port !== undefined ? [`PORT=${p.port}`] : []), ...Object.entries(p.env).map(([k, v]) => `${k}=${systemdQuote(v)}`)]),
    ...writeFile("/etc/systemd/system/airloft-app.service", "0644", [
      "[Unit]",
      `Description=AirLoft ${p.label}`,
      "After=network-online.target",
      "Wants=network-online.target",
      "[Service]",
      "User=airloft",
      "WorkingDirectory=/opt/airloft/app",
      "EnvironmentFile=/etc/airloft/app.env",
      `ExecStart=/usr/bin/env ${command.map(shellQuote).join(" ")}`,
      "Restart=always",
      "RestartSec=2",
      "NoNewPrivileges=true",
      "[Install]",
      "WantedBy=multi-user.target",
    ]),
    "systemctl daemon-reload",
    "systemctl enable --now airloft-app.service",
  ];
}

/** The cloud-init user data that turns a fresh instance into one replica of the program. */
export function renderUserData(p: InstanceProgram): string {
  assertEnv(p.env);
  const body = p.runtime === "docker" ? dockerScript(p) : runtimeScript(p, p.runtime);
  return [...HEADER, `# AirLoft ${p.label}`, ...body, ""].join("\n");
}
