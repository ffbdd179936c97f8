import { strict as assert } from "node:assert";
import { Ajv } from "ajv";
import { ValidationErrors } from "../../src/errors.js";
import { loadFile, loadManifests, loadTexts, loadTextsSteps, MAX_FILE_BYTES } from "../../src/resources/loader.js";
import { AJV_OPTIONS, readSchema } from "../../src/resources/schemas.js";

const FIXTURES = "test/fixtures";

function errorsOf(paths: string[]): string[] {
  try {
    loadManifests(paths, { cwd: process.cwd() });
  } catch (err) {
    if (err instanceof ValidationErrors) return err.errors.map((e) => e.message);
    throw err;
  }
  assert.fail(`expected ${paths.join(", ")} to be rejected`);
}

describe("manifest loader", () => {
  it("loads multi-document YAML and JSON from a folder, with positions", () => {
    const loaded = loadManifests([`${FIXTURES}/valid`]);
    assert.deepEqual(
      loaded.map((m) => `${m.object.kind} ${m.source.file}:${m.source.line}:${m.source.column}`),
      [
        `Group ${FIXTURES}/valid/all.yaml:4:9`,
        `Quota ${FIXTURES}/valid/all.yaml:13:9`,
        `Service ${FIXTURES}/valid/all.yaml:21:9`,
        `App ${FIXTURES}/valid/app.json:4:25`,
      ],
    );
    const app = loaded[3]?.object;
    assert.equal(app?.kind, "App");
    assert.deepEqual(app?.metadata, { name: "web", group: "acme", labels: { tier: "frontend" } });
  });

  it("reads sub-folders only with recursive", () => {
    assert.equal(loadManifests([`${FIXTURES}/valid`], { recursive: false }).length, 4);
    assert.deepEqual(loadManifests([FIXTURES]), []);
    assert.throws(() => loadManifests([FIXTURES], { recursive: true }), ValidationErrors);
  });

  it("names file:line:column for a YAML syntax error", () => {
    assert.deepEqual(errorsOf([`${FIXTURES}/broken/syntax.yaml`]), [
      `${FIXTURES}/broken/syntax.yaml:8:1 YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ]);
  });

  it("rejects an unknown kind at the kind field", () => {
    assert.deepEqual(errorsOf([`${FIXTURES}/broken/unknown-kind.yaml`]), [
      `${FIXTURES}/broken/unknown-kind.yaml:2:7 kind: unknown kind "Deployment"; expected one of Group, App, Service, Quota, Secret`,
    ]);
  });

  it("names every schema problem with its field path and position", () => {
    const f = `${FIXTURES}/broken/fields.yaml`;
    assert.deepEqual(errorsOf([f]), [
      `${f}:4:9 metadata.name: must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`,
      `${f}:8:13 spec.replicas: must be >= 0`,
      `${f}:9:3 spec.colour: unknown field`,
      `${f}:11:13 spec.resources.memory: must be bytes (at least 6 MiB) or a quantity such as "256Mi"`,
      `${f}:16:3 metadata.group: is required`,
      `${f}:18:3 spec: must set exactly one of "image", "build" or "source"`,
    ]);
  });

  it("rejects what a tenant must never get, each with its reason", () => {
    const f = `${FIXTURES}/broken/security.yaml`;
    assert.deepEqual(errorsOf([f]), [
      `${f}:8:3 spec.privileged: privileged containers are not allowed`,
      `${f}:9:3 spec.hostNetwork: host networking is not allowed`,
      `${f}:10:3 spec.pid: sharing the host's PID or IPC namespace is not allowed`,
      `${f}:11:3 spec.capAdd: added capabilities are not allowed`,
      `${f}:12:3 spec.volumes: host mounts are not allowed`,
      `${f}:14:25 spec.command[2]: the Docker socket must not be exposed to a container`,
    ]);
  });

  it("rejects a duplicate (kind, group, name) in one apply, pointing at the first", () => {
    const f = `${FIXTURES}/broken/duplicate.yaml`;
    assert.deepEqual(errorsOf([f]), [`${f}:11:9 metadata.name: duplicate Group "acme", first defined at ${f}:4:9`]);
  });

  it("stops an alias bomb instead of expanding it", () => {
    const [message] = errorsOf([`${FIXTURES}/broken/alias-bomb.yaml`]);
    assert.match(message ?? "", /alias-bomb\.yaml:1:1 cannot be read: Excessive alias count/);
  });

  it("rejects mapping keys that are lists, mappings, binary or empty (found by the fuzz test)", () => {
    for (const [text, line] of [
      ["kind: App\n? {a: b}\n: c\n", 2],
      ["kind: App\n? [a]\n: c\n", 2],
      ["kind: App\n!!binary aGk=: x\n", 2],
      ["kind: App\n: orphan\n", 2],
    ] as const) {
      const { errors } = loadFile(text, "keys.yaml", "/tmp");
      assert.equal(errors.length, 1, text);
      assert.match(
        errors[0]?.message ?? "",
        new RegExp(`^keys\\.yaml:${line}:\\d+ mapping keys must be plain names`),
        text,
      );
    }
  });

  it("bounds nesting before the parser, whatever hides the brackets (tags, anchors, quotes, keys, tabs, line ends)", () => {
    const deep = (open: string) => open.repeat(3000);
    const evasions: Record<string, string> = {
      flow: deep("["),
      tag: `!!seq ${deep("[")}`,
      "tag after a key": `a: !!seq ${deep("[")}`,
      anchor: `a: &x ${deep("[")}`,
      "verbatim tag": `a: !<tag:yaml.org,2002:seq> ${deep("[")}`,
      "document tag": `--- !!seq ${deep("[")}`,
      "explicit key": `? !t {${deep("{")}`,
      "quote inside a plain scalar": `[it's, ${deep("{")}`,
      "double quote inside a plain scalar": `[x"y, ${deep("[")}`,
      "compact sequences": `x:\n${"- ".repeat(3000)}1\n`,
      "an explicit key's value": `? a\n: ${"- ".repeat(3000)}1\n`,
      "an explicit key's value of keys": `? a\n: ${"? ".repeat(3000)}1\n`,
      "an explicit key's value in a sequence": `- ? a\n  : ${"- ".repeat(3000)}1\n`,
      indentation: Array.from({ length: 200 }, (_, k) => `${" ".repeat(k)}k${k}:`).join("\r\n"),
      json: `{"a": ${deep("[")}`,
    };
    for (const [what, text] of Object.entries(evasions)) {
      const result = loadFile(text, "deep.yaml", "/tmp");
      assert.equal(result.errors.length, 1, what);
      assert.match(result.errors[0]?.message ?? "", /^deep\.yaml:\d+:\d+ nested more than 64 levels deep/, what);
    }
  });

  it("rejects an oversized file without parsing it", () => {
    const big = `# ${"x".repeat(MAX_FILE_BYTES)}`;
    const result = loadFile(big, "big.yaml", "/tmp");
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0]?.message ?? "", /^big\.yaml:1:1 file is \d+ bytes, more than the limit of 1048576$/);
  });

  it("reports all broken files of one apply together, and a missing path", () => {
    const all = errorsOf([`${FIXTURES}/broken`]);
    assert.equal(all.length, 16);
    assert.match(errorsOf(["no/such/place"])[0] ?? "", /no\/such\/place:0:0 no such file or folder/);
  });

  it("skips empty documents and keeps a store-owned field out of the object", () => {
    const text =
      "---\n---\napiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\n  uid: forged\n  generation: 9\nspec:\n  provider: docker\nstatus: {observedGeneration: 3}\n";
    const result = loadFile(text, "g.yaml", "/tmp");
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.manifests[0]?.object, {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Group",
      metadata: { name: "acme" },
      spec: { provider: "docker" },
    });
  });

  it("resolves a build context against the manifest's folder and checks it exists", () => {
    const text =
      "apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web, group: acme}\nspec:\n  build: {context: ./nowhere}\n";
    const result = loadFile(text, "web.yaml", "/tmp");
    assert.match(
      result.errors[0]?.message ?? "",
      /^web\.yaml:5:20 spec\.build\.context: build context \/tmp\/nowhere is not a folder$/,
    );
    const ok = loadFile(text.replace("./nowhere", "."), "web.yaml", "/tmp");
    assert.equal(ok.manifests[0]?.object.kind === "App" && ok.manifests[0].object.spec.build?.context, "/tmp");
  });

  it("refuses control characters where user data, a unit file or a health check would read them (issue 13 item 7)", () => {
    const text = [
      "apiVersion: airloft.dev/v1alpha1",
      "kind: App",
      "metadata: {name: api, group: acme}",
      "spec:",
      "  runtime: node",
      '  source: {url: "https://git.example.invalid/a.git\\a", ref: "--upload-pack=touch"}',
      '  command: [sh, -c, "x\\nAIRLOFT_EOF\\ntouch /tmp/pwned\\n#"]',
      '  env: {OK: "tab\\tand $HOME \'\\" %n", BAD: "a\\0b"}',
      '  healthCheck: {http: {path: "/healthz\\r\\nX-Evil: 1"}}',
      "---",
      "apiVersion: airloft.dev/v1alpha1",
      "kind: App",
      "metadata: {name: web, group: acme}",
      "spec:",
      "  image: --privileged",
      '  healthCheck: {http: {path: "/a b"}}',
      "---",
      "apiVersion: airloft.dev/v1alpha1",
      "kind: Service",
      "metadata: {name: cache, group: acme}",
      "spec:",
      "  template: redis",
      '  image: "redis:7\\x85"',
    ].join("\n");
    assert.deepEqual(
      loadFile(text, "evil.yaml", "/tmp").errors.map((e) => e.message),
      [
        "evil.yaml:6:17 spec.source.url: must not contain control characters",
        "evil.yaml:6:61 spec.source.ref: must match ^[A-Za-z0-9._/][A-Za-z0-9._/-]*$",
        "evil.yaml:7:21 spec.command[2]: must not contain control characters",
        "evil.yaml:8:43 spec.env.BAD: must not contain NUL characters",
        "evil.yaml:9:30 spec.healthCheck.http.path: must not contain control characters",
        "evil.yaml:15:10 spec.image: must match ^[A-Za-z0-9][\\x21-\\x7e]*$",
        "evil.yaml:16:30 spec.healthCheck.http.path: must match ^/[\\x21-\\x7e]*$",
        "evil.yaml:23:10 spec.image: must not contain control characters",
      ],
    );
    // Quotes, dollars, percent signs and a tab in an env value are the app's business.
    const legal =
      'apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web, group: acme}\nspec:\n  image: example/web:1\n  command: [sh, -c, "echo \\"$HOME\\" \'%n\' ; AIRLOFT_EOF"]\n  env: {A: "tab\\there $HOME \'q\' \\"%n\\""}\n  healthCheck: {http: {path: "/healthz?probe=1&x=%20"}}\n';
    assert.deepEqual(loadFile(legal, "web.yaml", "/tmp").errors, []);
  });

  it("allows env names that look like forbidden fields", () => {
    const text =
      "apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web, group: acme}\nspec:\n  image: busybox\n  env: {PID: '1', privileged: 'no'}\n";
    assert.deepEqual(loadFile(text, "web.yaml", "/tmp").errors, []);
  });
});

describe("manifest loader in steps (a server loads between other requests)", () => {
  const doc = (i: number): string =>
    `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: app-${i}\n  group: g\nspec:\n  image: example/app:1\n`;
  const texts = [
    {
      name: "many.yaml",
      content: Array.from({ length: 300 }, (_, i) => doc(i)).join("---\n"),
      baseDir: "/nonexistent",
    },
  ];

  it("pauses within a file, at least once per document, and ends with what loadTexts returns", () => {
    const steps = loadTextsSteps(texts, "refused");
    let pauses = 0;
    for (let next = steps.next(); !next.done; next = steps.next()) pauses++;
    assert.ok(pauses >= 300, `${pauses} pauses for 300 documents`);
    const again = loadTextsSteps(texts, "refused");
    let result = again.next();
    while (!result.done) result = again.next();
    assert.deepEqual(result.value, loadTexts(texts, "refused"));
  });

  it("refuses a document too big to compose in one step, and checks repeated keys itself (yaml's check is quadratic)", () => {
    const app = "apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: a, group: g}\nspec:\n  image: x\n";
    const keys = (n: number): string => Array.from({ length: n }, (_, i) => `K${i}: v`).join(", ");
    const huge = loadFile(`${app}  env: {${keys(20_000)}}\n`, "huge.yaml", "/tmp");
    assert.deepEqual(
      huge.errors.map((e) => e.message),
      ["huge.yaml:6:58835 a document of more than 40000 YAML tokens; a manifest needs far fewer"],
    );
    const repeated = loadFile(`${app}  env: {${keys(3)}, K1: w}\n`, "dup.yaml", "/tmp");
    assert.deepEqual(
      repeated.errors.map((e) => e.message),
      ["dup.yaml:6:30 YAML syntax error: Map keys must be unique"],
    );
  });

  it("says the first problems of a list of thousands of wrong items, without running out of stack", () => {
    const app = "apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: a, group: g}\nspec:\n  image: x\n";
    const result = loadFile(`${app}  command: [${"1,".repeat(15_000)}1]\n`, "list.yaml", "/tmp");
    assert.ok(result.errors.length > 0 && result.errors.length <= 50, `${result.errors.length} errors`);
  });

  it("stops lexing where the nesting passes the bound, before the rest of the text is read", () => {
    const deep = {
      name: "deep.yaml",
      content: `${"[".repeat(100)}${"]".repeat(100)}\n---\n${doc(1).repeat(8_000)}`,
      baseDir: "/x",
    };
    const steps = loadTextsSteps([deep], "refused");
    let pauses = 0;
    assert.throws(() => {
      for (let next = steps.next(); !next.done; next = steps.next()) pauses++;
    }, /deep.yaml:1:64 nested more than 64 levels deep/);
    assert.ok(pauses < 5, `${pauses} pauses: the text after the deep part was read`);
  });
});

describe("shipped JSON Schemas", () => {
  it("are valid against the meta-schema and compile in strict mode with optimised code (what the CLI skips at start-up)", () => {
    const ajv = new Ajv({ ...AJV_OPTIONS, validateSchema: true });
    ajv.addSchema(readSchema("common.schema.json"));
    for (const file of ["group", "app", "service", "quota"])
      assert.equal(typeof ajv.compile(readSchema(`${file}.schema.json`)), "function");
  });
});
