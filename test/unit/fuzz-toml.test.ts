import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parse, stringify } from "smol-toml";
import { ValidationError } from "../../src/errors.js";
import { loadFile } from "../../src/resources/loader.js";
import { indexToml } from "../../src/resources/toml-positions.js";
import { REPO_ROOT } from "../support/cli.js";

/**
 * Property-based tests of the TOML path, as fuzz-manifests.test.ts does for YAML: mutated TOML
 * texts are accepted, or rejected with errors that each name a line and column inside the text;
 * nothing else is thrown and nothing hangs. And the position index, on any TOML that smol-toml
 * writes, finds every value where the value really starts.
 */
const RUNS = Number(process.env.AIRLOFT_FUZZ_RUNS ?? 300);
const HANG_MS = 5_000;
const FILE = "fuzz.toml";
const tried = { textual: 0, accepted: 0, rejected: 0, indexed: 0 };

const seeds = ["valid/all.toml", "valid/web.toml", "broken/fields.toml"].map((f) =>
  readFileSync(join(REPO_ROOT, "test/fixtures/toml", f), "utf8"),
);

function checkOutcome(text: string): "accepted" | "rejected" {
  const started = Date.now();
  const { errors } = loadFile(text, FILE, "/nonexistent");
  assert.ok(Date.now() - started < HANG_MS, "a file took longer than the hang limit");
  const lines = text.split("\n");
  for (const e of errors) {
    assert.ok(e instanceof ValidationError);
    assert.equal(e.position.file, FILE);
    const line = lines[e.position.line - 1];
    assert.ok(line !== undefined && e.position.line >= 1, `no such line: ${e.message}`);
    // smol-toml may point one past the end of a line (the end of input or a missing character).
    assert.ok(e.position.column >= 1 && e.position.column <= line.length + 2, `no such column: ${e.message}`);
    assert.ok(e.detail.length > 0);
  }
  return errors.length === 0 ? "accepted" : "rejected";
}

/** Every leaf value's path and value in a parsed TOML table. */
function leaves(value: unknown, at: (string | number)[] = []): Array<[(string | number)[], unknown]> {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...at, i]));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => leaves(v, [...at, k]));
  return [[at, value]];
}

describe("TOML input, property-based (fast-check)", function () {
  this.timeout(120_000);

  after(() => {
    process.stdout.write(
      `      inputs tried: ${tried.textual} textual mutations (${tried.accepted} accepted, ${tried.rejected} rejected), ${tried.indexed} generated tables indexed\n`,
    );
  });

  it("text mutations (TOML's special characters, control characters, cuts) are accepted or rejected with a position", () => {
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.nat({ max: 8 }),
      insert: fc.oneof(
        fc.constantFrom(
          "[",
          "]",
          "[[",
          "]]",
          "{",
          "}",
          "=",
          ".",
          ",",
          '"',
          "'",
          '"""',
          "'''",
          "\\",
          "\\u0000",
          "#",
          "\n",
          "\r\n",
          "\t",
          "\u0000",
          "\uFEFF",
          "[object]\n",
          "[[object]]\n",
          "__proto__",
          "1979-05-27T07:32:00Z",
          "inf",
          "nan",
          "0x7fffffffffffffff",
          "a.b.c",
        ),
        fc.string({ maxLength: 6 }),
      ),
    });
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 6 }), (seed, edits) => {
        tried.textual++;
        let text = seed;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        }
        tried[checkOutcome(text)]++;
      }),
      { numRuns: RUNS },
    );
  });

  it("the position index finds each value of any table smol-toml writes, where that value starts", () => {
    const key = fc.oneof(
      fc.constantFrom("a", "b-c", "1", "a.b", "x y", "'", '"', "[t]", "#", "é"),
      fc.string({ maxLength: 4 }),
    );
    const scalar = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('"""', "'''", "[x]\ny = 1", "# no", "a\nb", "\\"),
      fc.integer(),
      fc.boolean(),
    );
    const { table } = fc.letrec<{ table: Record<string, unknown>; value: unknown }>((tie) => ({
      table: fc.dictionary(key, tie("value"), { maxKeys: 4 }),
      value: fc.oneof(
        { depthSize: "small" },
        scalar,
        fc.array(scalar, { maxLength: 3 }),
        tie("table"),
        fc.array(tie("table"), { minLength: 1, maxLength: 3 }),
      ),
    }));
    fc.assert(
      fc.property(table, (value) => {
        tried.indexed++;
        const text = stringify(value);
        const parsed = parse(text);
        const index = indexToml(text, 64);
        for (const [path, leaf] of leaves(parsed)) {
          const at = index.valueAt(path);
          assert.ok(at !== undefined, `no position for ${JSON.stringify(path)} in\n${text}`);
          // The value's own text starts there: parsed alone, it is the same value.
          const rest = text.slice(at);
          const again = parse(`v = ${rest.slice(0, valueLength(rest))}`).v;
          assert.deepEqual(again, leaf, `${JSON.stringify(path)} at ${at} in\n${text}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

/** The length of the scalar at the start of `text`: a string with its quotes, or up to a separator. */
function valueLength(text: string): number {
  for (const quote of ['"""', "'''", '"', "'"]) {
    if (!text.startsWith(quote)) continue;
    for (let i = quote.length; i < text.length; i++) {
      if (quote.startsWith('"') && text[i] === "\\") i++;
      else if (text.startsWith(quote, i)) {
        let end = i + quote.length;
        while (quote.length === 3 && text[end] === quote[0]) end++;
        return end;
      }
    }
  }
  const end = text.search(/[,\]}\n#]/);
  return end === -1 ? text.length : end;
}
