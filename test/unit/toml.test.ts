import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { renderObjects } from "../../src/cli/output.js";
import { ValidationErrors } from "../../src/errors.js";
import { SourceSync } from "../../src/gitops/sync.js";
import { FolderWatcher } from "../../src/gitops/watcher.js";
import { loadFile, loadManifests, loadTexts, loadTextsSteps } from "../../src/resources/loader.js";
import { MAX_TOML_BYTES } from "../../src/resources/toml-documents.js";
import { indexToml } from "../../src/resources/toml-positions.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const FIXTURES = "test/fixtures/toml";

function errorsOf(path: string): string[] {
  try {
    loadManifests([path], { cwd: process.cwd() });
  } catch (err) {
    if (err instanceof ValidationErrors) return err.errors.map((e) => e.message);
    throw err;
  }
  assert.fail(`expected ${path} to be rejected`);
}

/** The text at a path's recorded value offset, up to the end of its line. */
function valueText(text: string, path: (string | number)[]): string | undefined {
  const at = indexToml(text, 64).valueAt(path);
  return at === undefined ? undefined : text.slice(at).split("\n")[0];
}

describe("TOML manifests", () => {
  it("loads one object per file, or several as [[object]] tables, with positions", () => {
    const loaded = loadManifests([`${FIXTURES}/valid`]);
    assert.deepEqual(
      loaded.map((m) => `${m.object.kind} ${m.source.file}:${m.source.line}:${m.source.column}`),
      [
        `Group ${FIXTURES}/valid/all.toml:5:21`,
        `Service ${FIXTURES}/valid/all.toml:13:8`,
        `App ${FIXTURES}/valid/web.toml:6:8`,
      ],
    );
    const app = loaded[2]?.object;
    assert.equal(app?.kind, "App");
    assert.deepEqual(app?.metadata, { name: "web", group: "acme", labels: { tier: "frontend" } });
    assert.deepEqual(app?.kind === "App" && app.spec.env, { GREETING: 'hello "world"', QUOTED_KEY: "two\nlines" });
  });

  it("names file:line:column and the field of each schema problem, as YAML does", () => {
    const f = `${FIXTURES}/broken/fields.toml`;
    assert.deepEqual(errorsOf(f), [
      `${f}:4:21 metadata.name: must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`,
      `${f}:8:12 spec.replicas: must be >= 0`,
      `${f}:9:1 spec.colour: unknown field`,
      `${f}:10:20 spec.resources.memory: must be bytes (at least 6 MiB) or a quantity such as "256Mi"`,
      `${f}:15:1 metadata.group: is required`,
      `${f}:17:1 spec: must set exactly one of "image", "build" or "source"`,
    ]);
  });

  it("names the position of a TOML syntax error", () => {
    const f = `${FIXTURES}/broken/syntax.toml`;
    assert.deepEqual(errorsOf(f), [
      `${f}:6:11 TOML syntax error: each key-value declaration must be followed by an end-of-line`,
    ]);
  });

  it("refuses deep nesting by headers, dotted keys and inline values, with where it starts", () => {
    const keys = Array.from({ length: 3000 }, () => "a").join(".");
    const cases: Record<string, string> = {
      header: `kind = "App"\n[${keys}]\nx = 1\n`,
      "array of tables": `kind = "App"\n[[${keys}]]\nx = 1\n`,
      "dotted key": `kind = "App"\n${keys} = 1\n`,
      "inline table key": `kind = "App"\nx = { ${keys} = 1 }\n`,
      "inline arrays": `kind = "App"\nx = ${"[".repeat(3000)}${"]".repeat(3000)}\n`,
      "inline tables": `kind = "App"\nx = ${"{a=".repeat(3000)}1${"}".repeat(3000)}\n`,
    };
    for (const [what, text] of Object.entries(cases)) {
      const { errors } = loadFile(text, "deep.toml", "/tmp");
      assert.equal(errors.length, 1, what);
      assert.match(
        errors[0]?.message ?? "",
        /^deep\.toml:2:\d+ (nested more than 64 levels deep|a key of more than 64 parts|TOML syntax error: .*nested)/,
        what,
      );
    }
  });

  it("refuses a TOML file over its size bound, dates, and prototype keys", () => {
    const big = `kind = "App"\nx = "${"y".repeat(MAX_TOML_BYTES)}"\n`;
    assert.match(loadFile(big, "big.toml", "/tmp").errors[0]?.message ?? "", /^big\.toml:1:1 a TOML file of more than/);
    const dated = 'kind = "App"\n[metadata]\nname = "x"\n[spec]\nwhen = 1979-05-27\n';
    assert.deepEqual(
      loadFile(dated, "d.toml", "/tmp").errors.map((e) => e.message),
      ["d.toml:5:8 dates and times have no meaning in a manifest: write them as strings"],
    );
    for (const key of ["__proto__", "constructor", '"__proto__"']) {
      const { errors } = loadFile(`kind = "App"\n[spec.${key}]\nx = 1\n`, "p.toml", "/tmp");
      assert.match(errors[0]?.message ?? "", /^p\.toml:2:\d+ TOML syntax error: .*unsafe/, key);
    }
  });

  it("indexes keys and values past strings, comments and arrays of tables that look like headers", () => {
    const text = [
      'a = """', // 1
      "[not.a.table]", // 2
      'b = "no"', // 3
      '"""', // 4
      "c = 'x' # [nor.this]", // 5
      "[[t]]", // 6
      "n = 1", // 7
      "[[t]]", // 8
      "n = 2", // 9
      "[[t.sub]]", // 10
      '"quoted key".y = [1, # comment ]', // 11
      "  { z = 2 }, 'q]' ]", // 12
      "[t.plain]", // 13
      "when = 07:32:00 ", // 14
    ].join("\n");
    assert.equal(valueText(text, ["a"]), '"""');
    assert.equal(valueText(text, ["not"]), undefined);
    assert.equal(valueText(text, ["b"]), undefined);
    assert.equal(valueText(text, ["c"]), "'x' # [nor.this]");
    assert.equal(valueText(text, ["t", 0, "n"]), "1");
    assert.equal(valueText(text, ["t", 1, "n"]), "2");
    assert.equal(valueText(text, ["t", 1, "sub", 0]), "[[t.sub]]");
    assert.equal(valueText(text, ["t", 1, "sub", 0, "quoted key", "y", 0]), "1, # comment ]");
    assert.equal(valueText(text, ["t", 1, "sub", 0, "quoted key", "y", 1, "z"]), "2 }, 'q]' ]");
    assert.equal(valueText(text, ["t", 1, "sub", 0, "quoted key", "y", 2]), "'q]' ]");
    assert.equal(valueText(text, ["t", 1, "plain", "when"]), "07:32:00 ");
    assert.equal(indexToml(text, 64).keyAt(["t", 1, "sub", 0, "quoted key", "y"]), text.indexOf('"quoted key"'));
  });

  it("prints objects with get -o toml as the loader reads them back", () => {
    const loaded = loadManifests([`${FIXTURES}/valid`]).map((m) => m.object);
    const withStatus = loaded.map((o) => ({ ...o, status: { observedGeneration: 1, conditions: [] } }));
    for (const objects of [withStatus, withStatus.slice(2)]) {
      const text = renderObjects(objects, "toml");
      const back = loadFile(text, "out.toml", "/tmp");
      assert.deepEqual(back.errors, []);
      assert.deepEqual(
        back.manifests.map((m) => m.object),
        objects.map(({ status: _, ...o }) => o),
      );
    }
    // The same objects as YAML and as TOML are the same objects.
    assert.deepEqual(parseYaml(renderObjects(loaded.slice(2), "yaml")), loaded[2]);
  });

  it("loads in steps, a pause at least once per object, as the server runs an apply", () => {
    const texts = [
      { name: "all.toml", content: readFileSync(`${FIXTURES}/valid/all.toml`), baseDir: "/tmp" },
      { name: "web.toml", content: readFileSync(`${FIXTURES}/valid/web.toml`), baseDir: "/tmp" },
    ];
    const steps = loadTextsSteps(texts, "refused");
    let pauses = 0;
    let next = steps.next();
    for (; !next.done; next = steps.next()) pauses++;
    assert.ok(pauses >= 3, `${pauses} pauses`);
    assert.deepEqual(next.value, loadTexts(texts, "refused"));
  });

  it("is watched as YAML is: a .toml file in a watched folder is applied, and each save syncs", async function () {
    this.timeout(20_000);
    const { dir, store } = await openTempStore("airloft-toml-watch-");
    const repo = join(dir, "repo");
    mkdirSync(repo);
    const app = (replicas: number) =>
      `apiVersion = "airloft.dev/v1alpha1"\nkind = "App"\nmetadata = { name = "web", group = "acme" }\nspec = { image = "busybox", replicas = ${replicas} }\n`;
    writeFileSync(
      join(repo, "group.toml"),
      'apiVersion = "airloft.dev/v1alpha1"\nkind = "Group"\nmetadata.name = "acme"\nspec.provider = "docker"\n',
    );
    const source = new SourceSync(store, "repo", [repo], "watch", { recursive: true, cwd: repo });
    await source.sync();
    let synced: () => void = () => undefined;
    const watcher = new FolderWatcher(
      repo,
      async () => {
        await source.sync();
        synced();
      },
      { debounceMs: 100 },
    );
    await watcher.start();
    const replicas = () => (store.get("App/acme/web") as { spec: { replicas: number } } | undefined)?.spec.replicas;
    try {
      for (const n of [2, 3]) {
        const done = new Promise<void>((resolve, reject) => {
          synced = resolve;
          setTimeout(() => reject(new Error("no sync after saving web.toml")), 5000).unref();
        });
        writeFileSync(join(repo, "web.toml"), app(n));
        await done;
        assert.equal(replicas(), n);
      }
      assert.ok(store.get("Group//acme"));
    } finally {
      await watcher.stop();
      await removeTempStore(store, dir);
    }
  });
});
