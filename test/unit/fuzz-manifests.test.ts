import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parseAllDocuments, stringify } from "yaml";
import { ValidationError, ValidationErrors } from "../../src/errors.js";
import { loadFile, loadTexts } from "../../src/resources/loader.js";
import { REPO_ROOT } from "../support/cli.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

/**
 * Property-based tests of manifest input: valid manifests mutated at random, as structures and
 * as text. Every result is accepted, or rejected with ValidationErrors that each name a file,
 * line and column; nothing else is thrown, nothing hangs, and a rejected apply stores nothing.
 * AIRLOFT_FUZZ_RUNS sets the runs per property (the long form, `make chaos`, runs many more).
 */
const RUNS = Number(process.env.AIRLOFT_FUZZ_RUNS ?? 300);
/** Far above what a document takes (about a millisecond): only a hang reaches it. */
const HANG_MS = 5_000;
const FILE = "fuzz.yaml";
const tried = { structural: 0, textual: 0, applies: 0, accepted: 0, rejected: 0 };

const seeds: unknown[] = [
  ...parseAllDocuments(readFileSync(join(REPO_ROOT, "test/fixtures/valid/all.yaml"), "utf8")).map((d) => d.toJS()),
  ...["group.yaml", "api.yaml"].map((f) =>
    parseAllDocuments(readFileSync(join(REPO_ROOT, "manifests", f), "utf8"))[0]?.toJS(),
  ),
].filter((d) => d && typeof d === "object");

type Path = Array<string | number>;

/** Every path in a JSON-like value, the root first. */
function pathsOf(value: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...at, i])));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...at, k]));
  return out;
}

interface Mutation {
  readonly target: number;
  readonly op: "delete" | "set" | "addKey" | "wrap";
  readonly key: string;
  readonly value: unknown;
}

const interestingKey = fc.oneof(
  fc.constantFrom(
    "privileged",
    "volumes",
    "hostNetwork",
    "replicas",
    "image",
    "env",
    "port",
    "name",
    "group",
    "kind",
    "apiVersion",
    "spec",
    "metadata",
    "__proto__",
    "constructor",
    "build",
    "healthCheck",
    "services",
    "resources",
  ),
  fc.string({ maxLength: 12 }),
);
const interestingValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    -1,
    0,
    1e308,
    2 ** 53,
    "",
    "x".repeat(300),
    "/var/run/docker.sock",
    "${HOME}",
    "a\nb",
    "..",
    "../../etc",
    null,
    true,
    [],
    {},
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
);
const mutation: fc.Arbitrary<Mutation> = fc.record({
  target: fc.nat(),
  op: fc.constantFrom("delete", "set", "addKey", "wrap"),
  key: interestingKey,
  value: interestingValue,
});

function mutate(doc: unknown, mutations: readonly Mutation[]): unknown {
  let root: unknown = structuredClone(doc);
  for (const mutation of mutations) {
    // A copy of the generated value: placing one object twice would let a later step make a cycle.
    const m = { ...mutation, value: structuredClone(mutation.value) };
    const paths = pathsOf(root);
    const path = paths[m.target % paths.length] ?? [];
    if (path.length === 0) {
      root = m.op === "wrap" ? [root] : m.op === "set" ? m.value : root;
      continue;
    }
    const parent = path
      .slice(0, -1)
      .reduce<unknown>((node, seg) => (node as Record<string | number, unknown>)[seg], root) as Record<
      string | number,
      unknown
    >;
    const last = path[path.length - 1] as string | number;
    if (m.op === "delete") {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (m.op === "set") parent[last] = m.value;
    else if (m.op === "wrap") parent[last] = { [m.key]: parent[last] };
    else if (parent[last] && typeof parent[last] === "object" && !Array.isArray(parent[last]))
      Object.defineProperty(parent[last], m.key, {
        value: m.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return root;
}

/** The contract: accepted, or ValidationErrors that each name this file and a real position. */
function checkOutcome(run: () => unknown): "accepted" | "rejected" {
  const started = Date.now();
  try {
    run();
    return "accepted";
  } catch (err) {
    assert.ok(
      err instanceof ValidationErrors,
      `not a validation error: ${err instanceof Error ? err.stack : String(err)}`,
    );
    for (const e of err.errors) {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.position.file, FILE);
      assert.ok(e.position.line >= 1 && e.position.column >= 1, `no position: ${e.message}`);
      assert.ok(e.detail.length > 0);
    }
    return "rejected";
  } finally {
    assert.ok(Date.now() - started < HANG_MS, "a document took longer than the hang limit");
  }
}

function load(text: string): void {
  const { errors } = loadFile(text, FILE, "/nonexistent");
  if (errors.length > 0) throw new ValidationErrors(errors);
}

describe("manifest input, property-based (fast-check)", function () {
  this.timeout(120_000);

  after(() => {
    process.stdout.write(
      `      inputs tried: ${tried.structural} structural and ${tried.textual} textual mutations, ${tried.applies} applies (${tried.accepted} accepted, ${tried.rejected} rejected)\n`,
    );
  });

  it("structural mutations of valid manifests are accepted or rejected with a position", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (seed, mutations, asJson) => {
          tried.structural++;
          const doc = mutate(seed, mutations);
          const text = asJson ? (JSON.stringify(doc) ?? "null") : stringify(doc);
          tried[checkOutcome(() => load(text))]++;
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("text mutations (YAML's special characters, control characters, cuts) never throw anything else", () => {
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.nat({ max: 8 }),
      insert: fc.oneof(
        fc.constantFrom(
          ":",
          "- ",
          "{",
          "}",
          "[",
          "]",
          "*a",
          "&a ",
          "!!binary ",
          "|",
          ">",
          "\t",
          "\u0000",
          "\uFEFF",
          "---\n",
          "...\n",
          "? ",
          "%YAML 1.1\n",
          "<<: *a\n",
          '"',
          "'",
          "#",
          "\n  ",
        ),
        fc.string({ maxLength: 6 }),
      ),
    });
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 6 }), (seed, edits) => {
        tried.textual++;
        let text = stringify(seed);
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        }
        tried[checkOutcome(() => load(text))]++;
      }),
      { numRuns: RUNS },
    );
  });

  it("an apply with a mutated document stores all of it or nothing", async () => {
    const { dir, store } = await openTempStore("airloft-fuzz-", { groupCommitMs: 0 });
    try {
      const base =
        "apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: acme\nspec:\n  provider: docker\n---\napiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: base\n  group: acme\nspec:\n  image: example/base:1\n";
      await store.apply(loadTexts([{ name: FILE, content: base, baseDir: "/nonexistent" }]));
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...seeds),
          fc.array(mutation, { minLength: 1, maxLength: 3 }),
          async (seed, mutations) => {
            tried.applies++;
            const before = JSON.stringify(store.list());
            const beforeVersion = store.lastResourceVersion;
            const extra =
              "apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata:\n  name: fuzz-extra\n  group: acme\nspec:\n  image: example/x:1\n  port: 8080\n---\n";
            const text = extra + stringify(mutate(seed, mutations));
            let applied = false;
            try {
              await store.apply(loadTexts([{ name: FILE, content: text, baseDir: "/nonexistent" }]));
              applied = true;
            } catch (err) {
              assert.ok(err instanceof ValidationErrors, `not a validation error: ${String(err)}`);
              assert.equal(JSON.stringify(store.list()), before, "a rejected apply changed the store");
              assert.equal(store.lastResourceVersion, beforeVersion);
            }
            if (applied) {
              assert.ok(store.get("App/acme/fuzz-extra"), "an accepted apply stored every document");
              await store.markDeleted("App/acme/fuzz-extra");
              await store.removeFinalizer("App/acme/fuzz-extra", "airloft.dev/infrastructure");
            }
          },
        ),
        { numRuns: Math.max(20, Math.floor(RUNS / 3)) },
      );
    } finally {
      await removeTempStore(store, dir);
    }
  });
});
