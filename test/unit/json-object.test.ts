import assert from "node:assert/strict";
import fc from "fast-check";
import { scanJsonObject } from "../../src/resources/json-object.js";
import { type FileResult, loadFile } from "../../src/resources/loader.js";

/**
 * The JSON fast path (src/resources/json-object.ts) must give what the YAML path gives for the
 * same text, errors included. A comment line before a text sends it down the YAML path and moves
 * every position one line down: the two results are compared with that line taken back.
 */
const FILE = "app.json";
const RUNS = Number(process.env.AIRLOFT_FUZZ_RUNS ?? 300);

function outcome(result: FileResult, lineShift = 0): unknown {
  const at = (p: { file: string; line: number; column: number }) => `${p.file}:${p.line - lineShift}:${p.column}`;
  return {
    manifests: result.manifests.map((m) => ({ object: m.object, source: at(m.source), values: m.values })),
    errors: result.errors.map((e) => `${at(e.position)} ${e.field} ${e.detail}`),
  };
}

function bothPaths(text: string): { fast: unknown; yaml: unknown } {
  return {
    fast: outcome(loadFile(text, FILE, "/nonexistent", "refused")),
    yaml: outcome(loadFile(`# through the YAML path\n${text}`, FILE, "/nonexistent", "refused"), 1),
  };
}

const app = (extra: Record<string, unknown> = {}) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: "web", group: "acme", labels: { tier: "front" } },
  spec: {
    image: "example/web:1",
    replicas: 2,
    env: { A: "1", B_2: 'line\nbreak \u2603 \ud83d\ude00 "q" \\' },
    ...extra,
  },
});

describe("manifests written as one JSON object (the fast path)", () => {
  it("gives the same object and source position as the YAML path, compact or indented", () => {
    for (const text of [
      JSON.stringify(app()),
      JSON.stringify(app(), null, 2),
      `\n  ${JSON.stringify(app(), null, "\t")}\n`,
    ]) {
      const { fast, yaml } = bothPaths(text);
      assert.deepEqual(fast, yaml);
      assert.equal((fast as { manifests: unknown[] }).manifests.length, 1);
    }
  });

  it("is taken for a valid object, and not for YAML, a repeated key, deep nesting or a list", () => {
    assert.ok(scanJsonObject(JSON.stringify(app())));
    assert.equal(scanJsonObject("kind: App\n"), undefined);
    assert.equal(scanJsonObject('{"kind": "App", "kind": "App"}'), undefined);
    // The same key spelled with an escape is the same key.
    assert.equal(scanJsonObject('{"a": 1, "\\u0061": 2}'), undefined);
    assert.equal(scanJsonObject(`${"{".repeat(1)}"a":${"[".repeat(70)}${"]".repeat(70)}}`), undefined);
    assert.equal(scanJsonObject("[1, 2]"), undefined);
    assert.equal(scanJsonObject('{"a": 1} {"b": 2}'), undefined);
    assert.equal(scanJsonObject('{"a": "b\\"}'), undefined);
    assert.deepEqual(scanJsonObject('{"metadata": {"x": "a\\"b", "name": "web"}}'), { nameOffset: 35 });
  });

  it("refuses what the YAML path refuses, with the same errors: repeated keys, deep nesting, bad fields, invalid JSON", () => {
    const texts = [
      '{"apiVersion": "airloft.dev/v1alpha1", "kind": "App", "kind": "App", "metadata": {"name": "web", "group": "acme"}, "spec": {"image": "x:1"}}',
      JSON.stringify(app({ replicas: -1 })),
      JSON.stringify(app({ privileged: true })),
      JSON.stringify({ ...app(), spec: { image: "x:1", command: ["sh", "-c", "a\nb"] } }),
      `{"apiVersion": "airloft.dev/v1alpha1", "kind": "App", "metadata": {"name": "web", "group": "acme"}, "spec": {"image": "x:1", "env": ${"[".repeat(80)}${"]".repeat(80)}}}`,
      '{"apiVersion": "airloft.dev/v1alpha1", "kind": "App", "metadata": {"name": "web", "group": "acme"}, "spec": {"image": "x:1",}, "x": 1}',
      '{"__proto__": {"polluted": true}, "apiVersion": "airloft.dev/v1alpha1", "kind": "App", "metadata": {"name": "web", "group": "acme"}, "spec": {"image": "x:1"}}',
      // A key with a bad escape: the YAML path's positioned syntax error, not a thrown SyntaxError.
      '{"a\\q": 1, "kind": "App"}',
      '{"\\u12": 1}',
    ];
    for (const text of texts) {
      const { fast, yaml } = bothPaths(text);
      assert.deepEqual(fast, yaml, text);
      assert.ok((fast as { errors: unknown[] }).errors.length > 0, `accepted: ${text}`);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("a Secret's values leave the object on both paths", () => {
    const secret = {
      apiVersion: "airloft.dev/v1alpha1",
      kind: "Secret",
      metadata: { name: "db", group: "acme" },
      stringData: { password: "s3cret" },
    };
    const { fast, yaml } = bothPaths(JSON.stringify(secret));
    assert.deepEqual(fast, yaml);
  });

  it("property: any JSON text of a manifest-like value gives what the YAML path gives", () => {
    const key = fc.oneof(
      fc.constantFrom("name", "group", "image", "env", "replicas", "spec", "metadata", "kind", "__proto__", "a\\b"),
      fc.string({ maxLength: 6 }),
    );
    const leaf = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        leaf,
        fc.array(tie("node"), { maxLength: 3 }),
        fc.dictionary(key, tie("node"), { maxKeys: 4 }),
      ),
    })).node;
    /** Mostly a valid choice, sometimes not. */
    const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: other, weight: 1 });
    const manifest = fc.oneof(
      fc.record({
        apiVersion: mostly(fc.constant("airloft.dev/v1alpha1"), fc.constant("v1")),
        kind: mostly(fc.constant("App"), fc.constantFrom("Service", "Nope")),
        metadata: fc.record({
          name: mostly(fc.constantFrom("web", "db"), fc.constantFrom("a b", "")),
          group: fc.constantFrom("acme", "x"),
        }),
        spec: mostly(
          fc.record({
            image: mostly(fc.constant("example/web:1"), fc.constant("")),
            env: mostly(fc.dictionary(fc.constantFrom("A", "B_2", "PATH"), fc.string()), fc.dictionary(key, value)),
          }),
          value,
        ),
      }),
      fc.record({
        apiVersion: fc.constant("airloft.dev/v1alpha1"),
        kind: fc.constant("Group"),
        metadata: fc.record({ name: mostly(fc.constant("acme"), fc.constant("A_")) }),
        spec: mostly(fc.constant({ provider: "docker" }), value),
      }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(manifest, fc.constantFrom(undefined, 2, "\t"), (m, indent) => {
        const { fast, yaml } = bothPaths(JSON.stringify(m, null, indent));
        assert.deepEqual(fast, yaml);
        if ((fast as { manifests: unknown[] }).manifests.length > 0) accepted++;
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(`      ${accepted} of ${RUNS} inputs were valid manifests\n`);
    // The property means something only if valid manifests are among the inputs.
    assert.ok(accepted > RUNS / 20, `only ${accepted} of ${RUNS} inputs were valid manifests`);
  });
});
