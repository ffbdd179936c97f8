import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { stringify } from "yaml";
import { importCompose, templateOf } from "../../src/importers/compose.js";
import { secretCommands } from "../../src/importers/compose-secrets.js";
import { importFly } from "../../src/importers/fly.js";
import {
  durationSeconds,
  formatNote,
  type ImportResult,
  memoryQuantity,
  shellWords,
} from "../../src/importers/report.js";
import { loadTexts } from "../../src/resources/loader.js";
import { formatPath } from "../../src/resources/manifest-object.js";
import type { App } from "../../src/resources/types.js";
import { airloft } from "../support/cli.js";

const CORPUS = "test/fixtures/import";
/** AIRLOFT_UPDATE_GOLDEN=1 rewrites the expected files from what the importers give now (then review the diff). */
const UPDATE = process.env.AIRLOFT_UPDATE_GOLDEN === "1";

function run(kind: "compose" | "fly", dir: string, file: string): ImportResult {
  const path = join(CORPUS, dir, file);
  const content = readFileSync(path, "utf8");
  const options = { outDir: resolve(CORPUS, dir) };
  return kind === "compose" ? importCompose(content, path, path, options) : importFly(content, path, path, options);
}

/** Each case's manifests and report beside its input: expected.yaml and expected-notes.txt. */
function compareWithExpected(dir: string, result: ImportResult): void {
  const yaml = result.objects.map((o) => stringify(o)).join("---\n");
  const notes = `${result.notes.map(formatNote).join("\n")}\n`;
  const yamlFile = join(CORPUS, dir, "expected.yaml");
  const notesFile = join(CORPUS, dir, "expected-notes.txt");
  if (UPDATE || !existsSync(yamlFile)) {
    writeFileSync(yamlFile, yaml);
    writeFileSync(notesFile, notes);
  }
  assert.equal(yaml, readFileSync(yamlFile, "utf8"));
  assert.equal(notes, readFileSync(notesFile, "utf8"));
}

/** Every note's line holds the field it names: the report points at the right place. */
function checkNoteLines(dir: string, file: string, result: ImportResult): void {
  const lines = readFileSync(join(CORPUS, dir, file), "utf8").split("\n");
  for (const note of result.notes) {
    const line = lines[note.position.line - 1] ?? "";
    const last =
      note.field
        .split(/[.[\]]/)
        .filter((s) => s !== "" && !/^\d+$/.test(s))
        .pop() ?? "";
    const indexed = /\]$/.test(note.field);
    assert.ok(
      indexed ? /^\s*(-|\[|\w)/.test(line) : line.includes(last) || line.includes("<<"),
      `${formatNote(note)} points at: ${line}`,
    );
  }
}

describe("import from Compose and fly.io", () => {
  for (const [kind, dir, file] of [
    ["compose", "compose-v3", "docker-compose.yml"],
    ["compose", "compose-v2", "docker-compose.yml"],
    ["fly", "fly-web", "fly.toml"],
    ["fly", "fly-processes", "fly.toml"],
  ] as const) {
    it(`${dir}: manifests and report as expected, manifests valid, each note at its field's line`, () => {
      const result = run(kind, dir, file);
      assert.deepEqual(result.errors, []);
      compareWithExpected(dir, result);
      const loaded = loadTexts([
        {
          name: "expected.yaml",
          content: readFileSync(join(CORPUS, dir, "expected.yaml")),
          baseDir: resolve(CORPUS, dir),
        },
      ]);
      assert.equal(loaded.length, result.objects.length);
      checkNoteLines(dir, file, result);
    });
  }

  it("refuses, each on its own line, every field with no AirLoft equivalent that the issue names", () => {
    const { notes } = run("compose", "compose-v3", "docker-compose.yml");
    const refused = (field: string) => notes.find((n) => formatPath([field]) && n.field === field);
    for (const [field, reason] of [
      ["services.worker.privileged", /privileged containers are not allowed/],
      ["services.worker.network_mode", /host networking is not allowed/],
      ["services.worker.cap_add", /added capabilities are not allowed/],
      ["services.web.volumes[0]", /host mounts are not allowed/],
      ["services.worker.secrets[0].mode", /read-only with its own owner and mode/],
      ["services.worker.secrets[1].uid", /read-only with its own owner and mode/],
      ["services.worker.secrets[2]", /missing is not under the top-level secrets/],
      ["services.cache.secrets", /takes no secret files/],
    ] as const) {
      const note = refused(field);
      assert.ok(note, `${field} reported`);
      assert.match(note.message, reason);
    }
  });

  it("Compose secrets: files of one Secret, no value in any manifest, a command per secret from its source", () => {
    const result = run("compose", "compose-v3", "docker-compose.yml");
    const value = readFileSync(join(CORPUS, "compose-v3", "stripe.txt"), "utf8").trim();
    const yaml = result.objects.map((o) => stringify(o)).join("---\n");
    assert.ok(!yaml.includes(value), "the secret's value is in no manifest");
    assert.ok(!result.objects.some((o) => o.kind === "Secret"), "no Secret manifest: an apply would replace its keys");
    assert.ok(result.secrets);
    assert.deepEqual(secretCommands(result.secrets, resolve(CORPUS)), [
      "airloft secret set compose-v3-secrets -g compose-v3 --from-file stripe_key=compose-v3/stripe.txt",
      "airloft secret set compose-v3-secrets -g compose-v3 --from-file tls.crt=compose-v3/certs/site.crt",
      'printf %s "$API_TOKEN" | airloft secret set compose-v3-secrets -g compose-v3 api_token=-',
      "airloft secret set compose-v3-secrets -g compose-v3 signing_key=-",
    ]);
  });

  it("Compose secrets: names a key cannot have are mapped and reported; bad targets and variables are refused", () => {
    const long = "s".repeat(300);
    const text = [
      "services:",
      "  web:",
      "    image: shop/web:1",
      "    secrets:",
      `      - ${long}`,
      `      - ${long}x`,
      "      - source: odd",
      "        target: ../../etc/passwd",
      "secrets:",
      `  ${long}: {file: "a b's.txt"}`,
      `  ${long}x: {file: ./b.txt}`,
      "  odd: {environment: 'X; rm -rf /'}",
      "  -dash: {external: true, name: prod_dash}",
      "  named: {file: ./n.txt, name: engine_name}",
      "",
    ].join("\n");
    const result = importCompose(text, "c.yml", "/tmp/in/c.yml", { outDir: "/tmp", group: "g" });
    assert.deepEqual(result.errors, []);
    const app = result.objects.find((o) => o.kind === "App") as App;
    const [first, second] = ["s".repeat(253), `${"s".repeat(251)}-2`];
    assert.deepEqual(app.spec.files, [
      { secret: "g-secrets", key: first, path: `/run/secrets/${long}` },
      { secret: "g-secrets", key: second, path: `/run/secrets/${long}x` },
    ]);
    loadTexts([{ name: "out.yaml", content: stringify(app), baseDir: "/tmp" }]);
    const notes = result.notes.map(formatNote);
    assert.ok(
      notes.some((n) => n.startsWith(`c.yml:10:3 secrets.${long}: changed: is key ${first} of Secret g-secrets`)),
    );
    assert.ok(notes.some((n) => n.startsWith(`c.yml:11:3 secrets.${long}x: changed: is key ${second}`)));
    assert.ok(
      notes.includes(
        "c.yml:7:9 services.web.secrets[2]: not imported: /run/secrets/../../etc/passwd is not an absolute path without .. parts",
      ),
      notes.join("\n"),
    );
    assert.ok(
      notes.some((n) => n.startsWith("c.yml:12:9 secrets.odd.environment: changed: is not a variable name")),
      notes.join("\n"),
    );
    assert.deepEqual(secretCommands(result.secrets!, "/tmp"), [
      `airloft secret set g-secrets -g g --from-file '${first}=in/a b'\\''s.txt'`,
      `airloft secret set g-secrets -g g --from-file ${second}=in/b.txt`,
      "airloft secret set g-secrets -g g odd=-",
      "airloft secret set g-secrets -g g -- -dash=-",
      "airloft secret set g-secrets -g g --from-file named=in/n.txt",
    ]);
    const outside = "its value is outside the Compose file (prod_dash): give it on standard input (... -dash=-)";
    assert.ok(notes.includes(`c.yml:13:3 secrets.-dash: changed: ${outside}`), notes.join("\n"));
    assert.ok(
      notes.some((n) => n.startsWith("c.yml:14:26 secrets.named.name: not imported: name has no")),
      notes.join("\n"),
    );
  });

  it("names file:line:column and field for Compose files that are not YAML or not Compose", () => {
    const broken = (file: string) => {
      const path = join(CORPUS, "broken", file);
      return importCompose(readFileSync(path, "utf8"), path, path, { outDir: "/tmp" }).errors.map((e) => e.message);
    };
    assert.deepEqual(broken("schema.yml"), [
      `${CORPUS}/broken/schema.yml:4:5 services.web.replicas: unknown field`,
      `${CORPUS}/broken/schema.yml:6:9 services.web.ports[0]: must match exactly one schema in oneOf`,
    ]);
    assert.match(broken("syntax.yml")[0] ?? "", /^test\/fixtures\/import\/broken\/syntax\.yml:4:1 YAML syntax error/);
    const fly = join(CORPUS, "broken", "fly.toml");
    assert.deepEqual(
      importFly(readFileSync(fly, "utf8"), fly, fly, { outDir: "/tmp" }).errors.map((e) => e.message),
      [`${fly}:3:26 TOML syntax error: each key-value declaration must be followed by an end-of-line`],
    );
  });

  it("names line and field of a fly.toml field of a type the importer cannot read", () => {
    const errorsOf = (text: string) =>
      importFly(text, "fly.toml", "/tmp/fly.toml", { outDir: "/tmp" }).errors.map((e) => e.message);
    assert.deepEqual(errorsOf('app = "a"\nprocesses = [1, 2]\n'), ["fly.toml:2:13 processes: must be object"]);
    assert.deepEqual(errorsOf('app = "a"\n[http_service]\ninternal_port = "80"\n'), [
      "fly.toml:3:17 http_service.internal_port: must be integer",
    ]);
    assert.deepEqual(errorsOf('app = "a"\n[[vm]]\ncpus = -1\n'), [
      "fly.toml:2:1 vm: must match exactly one schema in oneOf",
    ]);
    assert.deepEqual(errorsOf("[env]\nA = 1\n"), ["fly.toml:1:1 app: is required"]);
  });

  it("bounds hostile Compose input: size, nesting, aliases", () => {
    const errorsOf = (text: string) =>
      importCompose(text, "c.yml", "/tmp/c.yml", { outDir: "/tmp" }).errors.map((e) => e.message);
    assert.match(
      errorsOf(`services: {}\n#${"x".repeat(1024 * 1024)}`)[0] ?? "",
      /^c\.yml:1:1 file is \d+ bytes, more than/,
    );
    assert.match(errorsOf(`services: ${"[".repeat(5000)}`)[0] ?? "", /^c\.yml:1:\d+ nested more than 64 levels/);
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x, x]",
      ..."bcdefghij".split("").map((c, i) => `${c}: &${c} [${Array(10).fill(`*${"abcdefghij"[i]}`).join(", ")}]`),
    ].join("\n");
    assert.match(errorsOf(`${bomb}\nservices: {}\n`)[0] ?? "", /cannot be read: Excessive alias count|unknown field/);
    assert.deepEqual(errorsOf("services:\n  web:\n    image: x\n---\nservices: {}\n"), [
      "c.yml:4:1 a Compose file is one YAML document",
    ]);
  });

  it("reads the values Compose and fly write in their own forms", () => {
    assert.deepEqual(
      ["512m", "1g", "1.5GB", "100k", 1048576, "1000", "lots"].map((v) => memoryQuantity(v)),
      ["512Mi", "1Gi", "1536Mi", "100Ki", "1Mi", 1000, undefined],
    );
    assert.equal(memoryQuantity(512, "m"), "512Mi");
    assert.deepEqual(
      ["1m30s", "10s", "500ms", "2h", "soon", 3].map((v) => durationSeconds(v)),
      [90, 10, 1, 7200, undefined, 3],
    );
    assert.deepEqual(shellWords(`node a.js --q "high priority" 'x y' a\\ b ""`), [
      "node",
      "a.js",
      "--q",
      "high priority",
      "x y",
      "a b",
      "",
    ]);
    assert.deepEqual(templateOf("redis:7-alpine"), { template: "redis", own: true, tag: "7-alpine" });
    assert.deepEqual(templateOf("docker.io/library/postgres"), { template: "postgres", own: true });
    assert.deepEqual(templateOf("registry.example.test:5000/team/mongo:7@sha256:ab"), {
      template: "mongo",
      own: false,
      tag: "7",
    });
    assert.equal(templateOf("example/api:2"), undefined);
  });

  it("the command: manifests on stdout and the report on stderr; a broken file exits 2 and writes nothing", async function () {
    this.timeout(30_000);
    const ok = await airloft(["import", "fly", "fly.toml", "-g", "shop"], { cwd: join(CORPUS, "fly-web") });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^kind: App$/m);
    assert.match(ok.stdout, /^ {2}group: shop$/m);
    assert.match(ok.stderr, /^fly\.toml:32:1 mounts: not imported: apps have no volumes/m);
    assert.match(ok.stderr, /2 object\(s\) written; 7 field\(s\) not imported, 2 changed\n$/);
    const compose = await airloft(["import", "compose", "compose-v3/docker-compose.yml", "-g", "shop"], {
      cwd: CORPUS,
    });
    assert.equal(compose.code, 0, compose.stderr);
    assert.match(
      compose.stderr,
      /^set the secrets .*\n {2}airloft secret set shop-secrets -g shop --from-file stripe_key=compose-v3\/stripe\.txt\n/m,
    );
    assert.match(
      compose.stderr,
      /^ {2}printf %s "\$API_TOKEN" \| airloft secret set shop-secrets -g shop api_token=-$/m,
    );
    assert.ok(!`${compose.stdout}${compose.stderr}`.includes("sk_test_"), "no secret value is printed");
    const broken = await airloft(["import", "compose", "schema.yml", "-o", "/nonexistent/out"], {
      cwd: join(CORPUS, "broken"),
    });
    assert.equal(broken.code, 2);
    assert.equal(broken.stdout, "");
    assert.match(broken.stderr, /^error: schema\.yml:4:5 services\.web\.replicas: unknown field$/m);
    assert.match(broken.stderr, /nothing was imported/);
    assert.ok(!existsSync("/nonexistent/out"));
  });

  it("mutated Compose files and fly.tomls import or fail with positions; nothing else is thrown (fast-check)", function () {
    this.timeout(60_000); // hundreds of imports: a shared machine may take a while
    const seeds = [
      ["compose", readFileSync(join(CORPUS, "compose-v3/docker-compose.yml"), "utf8")],
      ["compose", readFileSync(join(CORPUS, "compose-v2/docker-compose.yml"), "utf8")],
      ["fly", readFileSync(join(CORPUS, "fly-web/fly.toml"), "utf8")],
      ["fly", readFileSync(join(CORPUS, "fly-processes/fly.toml"), "utf8")],
    ] as const;
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.nat({ max: 12 }),
      insert: fc.oneof(
        fc.constantFrom(
          ": ",
          "- ",
          "[",
          "]",
          "{",
          "}",
          "= ",
          '"',
          "\n",
          "  ",
          "null",
          "1",
          "true",
          "[[vm]]\n",
          "x = []\n",
          "[processes]\n",
        ),
        fc.string({ maxLength: 6 }),
      ),
    });
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 5 }), ([kind, seed], edits) => {
        let text: string = seed;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        }
        const file = kind === "compose" ? "/nonexistent/docker-compose.yml" : "/nonexistent/fly.toml";
        const result =
          kind === "compose"
            ? importCompose(text, "in", file, { outDir: "/nonexistent" })
            : importFly(text, "in", file, { outDir: "/nonexistent" });
        const lines = text.split("\n").length;
        for (const e of result.errors) assert.ok(e.position.line >= 1 && e.position.line <= lines + 1, e.message);
        for (const n of result.notes) assert.ok(n.position.line >= 1 && n.position.line <= lines + 1, formatNote(n));
      }),
      { numRuns: Number(process.env.AIRLOFT_FUZZ_RUNS ?? 300) },
    );
  });
});
