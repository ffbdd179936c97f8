import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { boundHeapGrowth, DEFAULT_HEAP_GROWING_PERCENT, favourMemory } from "../../src/server/heap-growth.js";

/** A process that calls favourMemory with `env`, then makes garbage a fifth of which lives a while: its young generation's size, MiB. */
function youngGenerationMiB(env: Record<string, string>): number {
  const module = new URL("../../src/server/heap-growth.ts", import.meta.url).href;
  const script = `
    import v8 from "node:v8";
    const { favourMemory } = await import(${JSON.stringify(module)});
    favourMemory(${JSON.stringify(env)});
    let kept = [];
    for (let i = 0; i < 3e6; i++) { kept.push({ i, text: "x" + i }); if (kept.length > 200000) kept = []; }
    kept = [];
    // Full collections, whenever they would have come: V8 sizes the young generation after them.
    globalThis.gc();
    globalThis.gc();
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(young.space_size / 1048576);`;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--expose-gc", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  return Number(out.trim());
}

describe("the server's heap growth bound", () => {
  it("is 30% by default, 0 keeps V8's rule, and anything else but a whole percentage is refused", () => {
    assert.equal(boundHeapGrowth({}), DEFAULT_HEAP_GROWING_PERCENT);
    assert.equal(boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: "0" }), 0);
    assert.equal(boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: "50" }), 50);
    for (const bad of ["x", "-1", "1.5", "2000", " 20; rm"])
      assert.throws(() => boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: bad }), /whole number from 0 to 1000/, bad);
    boundHeapGrowth({});
  });

  it("favours memory by default (a young generation half of V8's default or less), and AIRLOFT_OPTIMIZE_FOR_SIZE=0 leaves V8's defaults", function () {
    this.timeout(120_000);
    const favoured = youngGenerationMiB({});
    const defaults = youngGenerationMiB({ AIRLOFT_OPTIMIZE_FOR_SIZE: "0" });
    assert.ok(favoured * 2 <= defaults, `young generation ${favoured} MiB against V8's default ${defaults} MiB`);
    for (const bad of ["yes", "2", "true"])
      assert.throws(() => favourMemory({ AIRLOFT_OPTIMIZE_FOR_SIZE: bad }), /must be 0 or 1/, bad);
  });
});
