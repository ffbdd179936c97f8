import { TerminalError } from "../../errors.js";

/**
 * How an instance gets its secrets: at every boot, a oneshot unit ordered before the app fetches
 * its owner's folder of SSM parameters with the instance role (aws cli, on Amazon Linux 2023)
 * and writes the variables to an env file and the files to a folder, both on /run (tmpfs), mode
 * 0400. The user data holds the folder's path, never a value.
 */
export interface BootSecrets {
  readonly region: string;
  /** The owner's folder, "/airloft/INSTANCE/GROUP/UID/" (secret-parameters.ts). */
  readonly path: string;
  /** Where each file parameter goes in the app, by its index. */
  readonly files: readonly string[];
}

export const SECRETS_DIR = "/run/airloft";
export const SECRETS_ENV = `${SECRETS_DIR}/secrets.env`;
const SCRIPT = "/usr/local/sbin/airloft-secrets";
const DECODER = "/usr/local/lib/airloft/secrets.py";
const UNIT = "/etc/systemd/system/airloft-secrets.service";

/** Where file parameter `i` is written on the instance. */
export function secretFile(i: number): string {
  return `${SECRETS_DIR}/files/${i}`;
}

const SAFE_PATH = /^(?!.*\/\.{1,2}(\/|$))\/([A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/;

function check(secrets: BootSecrets): void {
  if (!/^[a-z0-9-]+$/.test(secrets.region) || !/^\/airloft\/([A-Za-z0-9_.-]+\/){3}$/.test(secrets.path))
    throw new TerminalError("InvalidConfig", `not a region and parameter path: ${secrets.region} ${secrets.path}`);
  for (const path of secrets.files)
    if (!SAFE_PATH.test(path))
      throw new TerminalError("InvalidConfig", `files path ${JSON.stringify(path)} is not an absolute plain path`);
}

/**
 * The decoder: parameters as the aws cli prints them (JSON) on stdin, "env/NAME" to lines of the
 * env file in Docker's (literal) or systemd's (quoted) form, "file/I" to files; values are "v1:"
 * and base64. Files are made 0400 before any byte is written.
 */
export const DECODER_SOURCE = [
  "import base64, json, os, pwd, re, sys",
  "fmt, user, prefix, out = sys.argv[1:5]",
  "owner = pwd.getpwnam(user)",
  "os.umask(0o077)",
  "os.makedirs(os.path.join(out, 'files'), mode=0o700, exist_ok=True)",
  "def write(path, data):",
  "    tmp = path + '.tmp'",
  "    if os.path.exists(tmp): os.unlink(tmp)",
  "    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)",
  "    os.fchown(fd, owner.pw_uid, owner.pw_gid)",
  "    os.write(fd, data)",
  "    os.close(fd)",
  "    os.replace(tmp, path)",
  "lines = []",
  "for p in sorted(json.load(sys.stdin)['Parameters'], key=lambda p: p['Name']):",
  "    kind, _, name = p['Name'][len(prefix):].partition('/')",
  "    if not p['Name'].startswith(prefix) or not p['Value'].startswith('v1:'): continue",
  "    value = base64.b64decode(p['Value'][3:])",
  "    if kind == 'env' and re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):",
  "        text = value.decode('utf-8')",
  "        if re.search(r'[\\r\\n\\0]', text): sys.exit('env ' + name + ' holds a line break')",
  "        if fmt == 'systemd': text = '\"' + re.sub(r'([\"\\\\`$])', r'\\\\\\1', text) + '\"'",
  "        lines.append(name + '=' + text + '\\n')",
  "    elif kind == 'file' and name.isdigit():",
  "        write(os.path.join(out, 'files', name), value)",
  "write(os.path.join(out, 'secrets.env'), ''.join(lines).encode('utf-8'))",
];

/** The files the user data writes for a boot fetch: the script, the decoder and the unit. */
export function bootSecretFiles(
  secrets: BootSecrets,
  format: "docker" | "systemd",
  user: string,
): ReadonlyArray<{ readonly path: string; readonly mode: string; readonly lines: readonly string[] }> {
  check(secrets);
  const fetch = `aws ssm get-parameters-by-path --region ${secrets.region} --path ${secrets.path} --recursive --with-decryption --output json`;
  return [
    { path: DECODER, mode: "0644", lines: DECODER_SOURCE },
    {
      path: SCRIPT,
      mode: "0700",
      lines: [
        "#!/bin/bash",
        "set -euo pipefail",
        // The role's credentials reach a new instance after a few seconds, and IAM is eventually consistent.
        "for i in $(seq 1 60); do",
        `  if out=$(${fetch}); then`,
        `    printf '%s' "$out" | python3 ${DECODER} ${format} ${user} ${secrets.path} ${SECRETS_DIR}`,
        "    exit 0",
        "  fi",
        "  sleep 5",
        "done",
        `echo "could not read the parameters under ${secrets.path}" >&2`,
        "exit 1",
      ],
    },
    {
      path: UNIT,
      mode: "0644",
      lines: [
        "[Unit]",
        "Description=AirLoft secrets from SSM Parameter Store",
        "After=network-online.target",
        "Wants=network-online.target",
        "Before=docker.service airloft-app.service",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        `ExecStart=${SCRIPT}`,
        "[Install]",
        "WantedBy=multi-user.target",
      ],
    },
  ];
}

/** Runs the fetch now (and at every boot), then links files where a host runtime's app reads them. */
export function bootSecretCommands(secrets: BootSecrets, linkFiles: boolean): string[] {
  return [
    "systemctl daemon-reload",
    "systemctl enable --now airloft-secrets.service",
    ...(linkFiles
      ? secrets.files.flatMap((path, i) => [
          `install -d -m 0755 ${path.slice(0, path.lastIndexOf("/")) || "/"}`,
          `ln -sfn ${secretFile(i)} ${path}`,
        ])
      : []),
  ];
}

/** Docker's options for the fetched secrets: the env file, and each file mounted read-only. */
export function dockerSecretOptions(secrets: BootSecrets): string[] {
  return ["--env-file", SECRETS_ENV, ...secrets.files.flatMap((path, i) => ["-v", `${secretFile(i)}:${path}:ro`])];
}
