import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TerminalError } from "../../src/errors.js";
import { type InstanceProgram, renderUserData } from "../../src/providers/aws/userdata.js";
import { requireComponent } from "../support/e2e.js";

/**
 * Issue 13 item 7: a field of an App must never end a quote, a heredoc or a unit-file line of the
 * user data, which runs as root. These tests execute the rendered script for real with bash, in a
 * chroot inside a private mount namespace: /usr, /dev and /proc are bound read-only, everything
 * else (/etc, /opt, /tmp, /var/log) is a scratch folder, and the package managers, systemctl,
 * docker, git and friends are stubs first on PATH. A file the script or a payload writes lands in
 * the scratch folder, where the test reads it back.
 */

const STUBS = [
  "dnf",
  "yum",
  "apt-get",
  "systemctl",
  "docker",
  "useradd",
  "curl",
  "git",
  "tar",
  "npm",
  "python3",
  "java",
];
const BOUND = ["usr", "dev", "proc"];

function sandboxUnavailable(): string | undefined {
  if (process.platform !== "linux") return "the user-data sandbox needs Linux mount namespaces";
  if (process.getuid?.() !== 0) return "the user-data sandbox (unshare -m, mount --bind, chroot) needs root";
  for (const tool of ["unshare", "chroot", "mount", "bash"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} is not on PATH (apt-get install util-linux coreutils bash)`;
  }
  const probe = spawnSync("unshare", ["-m", "--propagation", "private", "true"], { encoding: "utf8" });
  if (probe.status !== 0) return `unshare -m is not permitted here: ${probe.stderr.trim()}`;
  return undefined;
}

interface Sandboxed {
  readonly status: number | null;
  readonly output: string;
  /** A path inside the sandbox, as the script saw it, mapped to the scratch folder. */
  file(path: string): string;
  exists(path: string): boolean;
  /** The argument vectors the docker stub was called with. */
  dockerCalls(): string[][];
}

const sandboxes: string[] = [];

/** Runs a user-data script with bash as root, confined to a scratch root. */
function runSandboxed(script: string): Sandboxed {
  const root = mkdtempSync(join(tmpdir(), "airloft-userdata-"));
  sandboxes.push(root);
  for (const dir of [...BOUND, "etc", "opt", "var/log", "tmp", "root", "stubs"])
    mkdirSync(join(root, dir), { recursive: true });
  const binds = [...BOUND];
  for (const dir of ["bin", "sbin", "lib", "lib64"]) {
    if (!existsSync(`/${dir}`)) continue;
    if (lstatSync(`/${dir}`).isSymbolicLink()) symlinkSync(readlinkSync(`/${dir}`), join(root, dir));
    else {
      mkdirSync(join(root, dir));
      binds.push(dir);
    }
  }
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  for (const stub of STUBS) {
    // Each stub records its arguments, NUL-separated, one call per line-free record.
    writeFileSync(
      join(root, "stubs", stub),
      `#!/bin/sh\nprintf '%s\\0' "$@" >> /tmp/${stub}.argv\nprintf '\\1' >> /tmp/${stub}.argv\n`,
      { mode: 0o755 },
    );
  }
  writeFileSync(join(root, "tmp/user-data.sh"), script);
  const mounts = binds.map((d) => `mount --bind /${d} "$R/${d}" && mount -o remount,bind,ro "$R/${d}"`).join(" && ");
  const run = spawnSync(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      `set -e; ${mounts}; exec chroot "$R" /usr/bin/env -i PATH=/stubs:/usr/local/bin:/usr/bin:/bin HOME=/root bash /tmp/user-data.sh`,
    ],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", R: root }, encoding: "utf8", timeout: 10_000 },
  );
  const file = (path: string) => join(root, path);
  return {
    status: run.status,
    output: `${run.stdout}${run.stderr}${existsSync(file("var/log/airloft-user-data.log")) ? readFileSync(file("var/log/airloft-user-data.log"), "utf8") : ""}`,
    file,
    exists: (path) => existsSync(file(path)),
    dockerCalls: () => {
      if (!existsSync(file("tmp/docker.argv"))) return [];
      return readFileSync(file("tmp/docker.argv"), "utf8")
        .split("\x01")
        .filter((call) => call !== "")
        .map((call) => call.split("\0").slice(0, -1));
    },
  };
}

// ---- Readers that follow systemd's rules (systemd.syntax, systemd.service, env-file.c) ----

/** An EnvironmentFile as systemd reads it: KEY=VALUE, quotes, backslash escapes, no expansion. */
function readSystemdEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `environment line without '=': ${JSON.stringify(line)}`);
    const key = line.slice(0, eq);
    const raw = line.slice(eq + 1);
    let value = "";
    if (raw.startsWith('"')) {
      let i = 1;
      for (; i < raw.length && raw[i] !== '"'; i++) {
        if (raw[i] === "\\") {
          const next = raw[++i] ?? "";
          // env-file.c: \ before one of "\`$ drops the backslash; before anything else it stays.
          value += '"\\`$'.includes(next) ? next : `\\${next}`;
        } else value += raw[i];
      }
      assert.equal(i, raw.length - 1, `unterminated or trailing text in ${JSON.stringify(line)}`);
    } else {
      assert.match(
        raw,
        /^[^\s"'\\]*$/,
        `an unquoted value must hold no quote, backslash or blank: ${JSON.stringify(line)}`,
      );
      value = raw;
    }
    out[key] = value;
  }
  return out;
}

const C_ESCAPES: Readonly<Record<string, string>> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  s: " ",
  "\\": "\\",
  '"': '"',
  "'": "'",
};

/** The argument vector of an ExecStart= value: specifiers, quotes, C escapes, then $$ -> $. */
function readExecStart(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  const afterSpecifiers = (s: string): string => {
    assert.doesNotMatch(s.replace(/%%/g, ""), /%/, `an unescaped specifier in ${JSON.stringify(s)}`);
    return s.replace(/%%/g, "%");
  };
  const afterVariables = (s: string): string => {
    assert.doesNotMatch(s.replace(/\$\$/g, ""), /\$/, `an unescaped variable reference in ${JSON.stringify(s)}`);
    return s.replace(/\$\$/g, "$");
  };
  const text = afterSpecifiers(value);
  while (i < text.length) {
    while (text[i] === " ") i++;
    if (i >= text.length) break;
    let word = "";
    if (text[i] === '"') {
      i++;
      for (; i < text.length && text[i] !== '"'; i++) {
        if (text[i] !== "\\") {
          word += text[i];
          continue;
        }
        const next = text[++i] ?? "";
        if (next === "x") {
          word += String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16));
          i += 2;
        } else {
          const plain = C_ESCAPES[next];
          assert.ok(plain !== undefined, `unknown escape \\${next} in ${JSON.stringify(value)}`);
          word += plain;
        }
      }
      assert.equal(text[i], '"', `unterminated quote in ${JSON.stringify(value)}`);
      i++;
      assert.ok(i >= text.length || text[i] === " ", `text after a closing quote in ${JSON.stringify(value)}`);
    } else {
      const end = text.indexOf(" ", i) === -1 ? text.length : text.indexOf(" ", i);
      word = text.slice(i, end);
      assert.match(word, /^[^"'\\;]+$/, `a bare word that systemd would read otherwise: ${JSON.stringify(word)}`);
      i = end;
    }
    words.push(afterVariables(word));
  }
  return words;
}

/** A unit file's directives, in order, as [key, value]. */
function unitDirectives(text: string): Array<[string, string]> {
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("["))
    .map((l) => {
      const eq = l.indexOf("=");
      assert.ok(eq > 0, `a unit line that is neither a section nor a directive: ${JSON.stringify(l)}`);
      assert.ok(!l.endsWith("\\"), `a unit line that continues on the next: ${JSON.stringify(l)}`);
      return [l.slice(0, eq), l.slice(eq + 1)];
    });
}

const UNIT_KEYS = [
  "Description",
  "After",
  "Wants",
  "User",
  "WorkingDirectory",
  "EnvironmentFile",
  "ExecStart",
  "Restart",
  "RestartSec",
  "NoNewPrivileges",
  "WantedBy",
];

/** Hostile but legal: everything a shell, a heredoc or systemd treats specially, on one line. */
const TRICKY_WORDS = [
  "node",
  "-e",
  `console.log("it's $HOME %n \\ \`id\` ; AIRLOFT_EOF")`,
  ";",
  "",
  "two  words",
  "ünïcødé ✓",
  "%%",
  "%n",
  "$$",
  "${PATH}",
  "$(touch /tmp/pwned)",
  "'",
  "'; touch /tmp/pwned; '",
  '"',
  "\\",
  "\\\\x3b",
  "trailing\\",
  "AIRLOFT_EOF",
  "EOF",
  "#",
  "-",
  "a=b",
];
const TRICKY_ENV: Readonly<Record<string, string>> = {
  QUOTES: `it's "quoted" $HOME \\ \`x\` %p $(touch /tmp/pwned)`,
  MARKER: "AIRLOFT_EOF",
  BLANKS: "  lead and trail  ",
  EMPTY: "",
  HASH: "#not a comment",
  EQUALS: "a=b=c",
  TAB: "one\ttwo",
  BACKSLASH_END: "ends with \\",
  UNICODE: "ünïcødé ✓",
};

describe("user data under attack (issue 13 item 7): the rendered script, executed", function () {
  this.timeout(20_000);

  before(function () {
    requireComponent(this, "the user-data sandbox", sandboxUnavailable());
  });

  after(() => {
    for (const root of sandboxes.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  const source = { url: "https://git.example.invalid/shop/api.git", ref: "v1.2" };
  const program = (over: Partial<InstanceProgram>): InstanceProgram => ({
    label: "app shop/web",
    runtime: "docker",
    image: "example/web:1",
    source: undefined,
    command: undefined,
    env: {},
    port: 8080,
    ...over,
  });

  /** Renders, or accepts a refusal; a script that renders is run and must not run the payload. */
  function renderAndRunOrRefuse(p: InstanceProgram): Sandboxed | "refused" {
    let script: string;
    try {
      script = renderUserData(p);
    } catch (err) {
      assert.ok(err instanceof TerminalError, `expected a TerminalError, got ${String(err)}`);
      assert.equal(err.reason, "InvalidConfig");
      return "refused";
    }
    const ran = runSandboxed(script);
    assert.ok(!ran.exists("tmp/pwned"), `the payload ran as root:\n${script}\n--- output:\n${ran.output}`);
    return ran;
  }

  it("the sandbox really runs the script: a file the script creates appears in it", () => {
    const ran = runSandboxed("#!/bin/bash\nset -eu\ntouch /tmp/pwned\ninstall -d -o root -m 0755 /opt/airloft/app\n");
    assert.equal(ran.status, 0, ran.output);
    assert.ok(ran.exists("tmp/pwned") && ran.exists("opt/airloft/app"));
  });

  it("a command element cannot end the unit file's heredoc and run the rest as root (node, python, java)", () => {
    for (const runtime of ["node", "python", "java"] as const) {
      const outcome = renderAndRunOrRefuse(
        program({ runtime, image: undefined, source, command: ["sh", "-c", "x\nAIRLOFT_EOF\ntouch /tmp/pwned\n#"] }),
      );
      if (outcome !== "refused") assert.equal(outcome.status, 0, outcome.output);
    }
  });

  it("a command element or env value cannot add directives to the unit, such as ExecStartPre=+ (root)", () => {
    const payload = "x\nExecStartPre=+/bin/touch /tmp/pwned";
    for (const over of [
      { command: ["npm", payload] },
      { command: [payload] },
      { env: { EVIL: payload } },
      { env: { EVIL: "x\rExecStartPre=+/bin/true" } },
    ]) {
      const outcome = renderAndRunOrRefuse(program({ runtime: "node", image: undefined, source, ...over }));
      if (outcome === "refused") continue;
      assert.equal(outcome.status, 0, outcome.output);
      const unit = readFileSync(outcome.file("etc/systemd/system/airloft-app.service"), "utf8");
      assert.deepEqual(
        unitDirectives(unit).map(([k]) => k),
        UNIT_KEYS,
        `the unit gained directives:\n${unit}`,
      );
    }
  });

  it("docker: an env value cannot end the env file's heredoc; a command element cannot end its quote", () => {
    for (const over of [
      { env: { EVIL: "x\nAIRLOFT_EOF\ntouch /tmp/pwned" } },
      { command: ["sh", "-c", "x'\ntouch /tmp/pwned\n'"] },
      { command: ["x\nAIRLOFT_EOF\ntouch /tmp/pwned\n#"] },
    ]) {
      const outcome = renderAndRunOrRefuse(program(over));
      if (outcome === "refused") continue;
      assert.equal(outcome.status, 0, outcome.output);
      const [call] = outcome.dockerCalls().filter((c) => c[0] === "run");
      assert.deepEqual(call?.slice(-1 - (over.command?.length ?? 0)), ["example/web:1", ...(over.command ?? [])]);
    }
  });

  it("refuses control characters in every field it writes, and an image docker would read as an option", () => {
    const refused = (over: Partial<InstanceProgram>) =>
      assert.throws(
        () => renderUserData(program(over)),
        (err: unknown) => err instanceof TerminalError && err.reason === "InvalidConfig",
        JSON.stringify(over),
      );
    for (const bad of ["a\nb", "a\rb", "a\0b", "a\x1bb", "a\x7fb", "a\tb"]) {
      refused({ command: ["sh", bad] });
      refused({ runtime: "node", image: undefined, source, command: [bad] });
      refused({ image: `example/web${bad}` });
      refused({ runtime: "node", image: undefined, source: { url: `https://git.example.invalid/${bad}` } });
      refused({ runtime: "node", image: undefined, source: { url: source.url, ref: `v1${bad}` } });
      refused({ label: `app shop/web${bad}` });
    }
    for (const bad of ["a\nb", "a\rb", "a\0b"]) refused({ env: { A: bad } });
    refused({ image: "--privileged" });
    refused({ runtime: "node", image: undefined, source: { url: source.url, ref: "--upload-pack=touch /tmp/pwned" } });
  });

  it("node: every command word and env value arrives byte for byte, in a root-only env file and a unit systemd accepts", () => {
    const ran = renderAndRunOrRefuse(
      program({ runtime: "node", image: undefined, source, command: TRICKY_WORDS, env: TRICKY_ENV }),
    );
    assert.notEqual(ran, "refused", "a legal program must render");
    if (ran === "refused") return;
    assert.equal(ran.status, 0, ran.output);
    const unitPath = "etc/systemd/system/airloft-app.service";
    const unit = readFileSync(ran.file(unitPath), "utf8");
    const directives = unitDirectives(unit);
    assert.deepEqual(
      directives.map(([k]) => k),
      UNIT_KEYS,
    );
    assert.deepEqual(readExecStart(directives.find(([k]) => k === "ExecStart")?.[1] ?? ""), [
      "/usr/bin/env",
      ...TRICKY_WORDS,
    ]);
    assert.equal(directives.find(([k]) => k === "Description")?.[1], "AirLoft app shop/web");
    const env = readFileSync(ran.file("etc/airloft/app.env"), "utf8");
    assert.deepEqual(readSystemdEnvFile(env), { PATH: "/usr/local/bin:/usr/bin:/bin", PORT: "8080", ...TRICKY_ENV });
    assert.equal(statSync(ran.file("etc/airloft/app.env")).mode & 0o777, 0o600);
    assert.equal(statSync(ran.file(unitPath)).mode & 0o777, 0o644);
    // systemd's own parser, where it is installed: no complaint about the unit's syntax.
    if (spawnSync("sh", ["-c", "command -v systemd-analyze"]).status === 0) {
      const verify = spawnSync("systemd-analyze", ["verify", "--man=no", ran.file(unitPath)], {
        encoding: "utf8",
        timeout: 10_000,
      });
      const complaints = `${verify.stdout}${verify.stderr}`
        .split("\n")
        .filter((l) => l.includes("airloft-app.service:"));
      assert.deepEqual(complaints, [], unit);
    }
  });

  it("docker: every command word reaches docker run as one argument, and env values reach the env file as written", () => {
    const ran = renderAndRunOrRefuse(program({ command: TRICKY_WORDS, env: TRICKY_ENV }));
    assert.notEqual(ran, "refused", "a legal program must render");
    if (ran === "refused") return;
    assert.equal(ran.status, 0, ran.output);
    const run = ran.dockerCalls().find((c) => c[0] === "run");
    assert.deepEqual(run?.slice(-1 - TRICKY_WORDS.length), ["example/web:1", ...TRICKY_WORDS]);
    assert.ok(run?.includes("--env-file"));
    // docker reads --env-file lines literally: KEY=VALUE, no quotes, no escapes.
    const lines = readFileSync(ran.file("etc/airloft/app.env"), "utf8").split("\n");
    assert.deepEqual(lines, [...Object.entries(TRICKY_ENV).map(([k, v]) => `${k}=${v}`), ""]);
    assert.equal(statSync(ran.file("etc/airloft/app.env")).mode & 0o777, 0o600);
  });
});
