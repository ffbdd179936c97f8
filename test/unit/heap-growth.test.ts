import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  boundHeapGrowth,
  DEFAULT_HEAP_GROWING_PERCENT,
  favourMemory,
  SERVER_NODE_FLAGS,
  youngGenerationBounded,
} from "../../src/server/heap-growth.js";

/**
 * A process started with `nodeFlags` that calls favourMemory with `env`, then makes garbage a fifth
 * of which lives a while: whether favourMemory set --optimize-for-size, and its young generation's size, MiB.
 */
function youngGeneration(
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
): { optimizedForSize: boolean; mib: number } {
  const module = new URL("../../src/server/heap-growth.ts", import.meta.url).href;
  const script = `
    import v8 from "node:v8";
    const { favourMemory } = await import(${JSON.stringify(module)});
    const optimizedForSize = favourMemory(${JSON.stringify(env)});
    let kept = [];
    for (let i = 0; i < 3e6; i++) { kept.push({ i, text: "x" + i }); if (kept.length > 200000) kept = []; }
    kept = [];
    // Full collections, whenever they would have come: V8 sizes the young generation after them.
    globalThis.gc();
    globalThis.gc();
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(JSON.stringify({ optimizedForSize, mib: young.space_size / 1048576 }));`;
  const out = execFileSync(
    process.execPath,
    [...nodeFlags, "--import", "tsx", "--expose-gc", "--input-type=module", "-e", script],
    { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } },
  );
  return JSON.parse(out.trim()) as { optimizedForSize: boolean; mib: number };
}

describe("the server's heap growth bound", () => {
  let defaults: { optimizedForSize: boolean; mib: number };
  before(function () {
    this.timeout(120_000);
    defaults = youngGeneration({ AIRLOFT_OPTIMIZE_FOR_SIZE: "0" });
  });

  it("is 30% by default, 0 keeps V8's rule, and anything else but a whole percentage is refused", () => {
    assert.equal(boundHeapGrowth({}), DEFAULT_HEAP_GROWING_PERCENT);
    assert.equal(boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: "0" }), 0);
    assert.equal(boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: "50" }), 50);
    for (const bad of ["x", "-1", "1.5", "2000", " 20; rm"])
      assert.throws(() => boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: bad }), /whole number from 0 to 1000/, bad);
    boundHeapGrowth({});
  });

  it("favours memory when started without the server's flags (a young generation half of V8's default or less), and AIRLOFT_OPTIMIZE_FOR_SIZE=0 leaves V8's defaults", function () {
    this.timeout(120_000);
    const favoured = youngGeneration({});
    assert.ok(favoured.optimizedForSize && !defaults.optimizedForSize);
    assert.ok(
      favoured.mib * 2 <= defaults.mib,
      `young generation ${favoured.mib} MiB against V8's default ${defaults.mib} MiB`,
    );
    for (const bad of ["yes", "2", "true"])
      assert.throws(() => favourMemory({ AIRLOFT_OPTIMIZE_FOR_SIZE: bad }), /must be 0 or 1/, bad);
  });

  it("started with the server's flags, as its systemd unit starts it: a young generation as small, and no --optimize-for-size (whose full collections compact in their pause)", function () {
    this.timeout(120_000);
    const started = youngGeneration({}, SERVER_NODE_FLAGS);
    assert.equal(started.optimizedForSize, false);
    assert.ok(
      started.mib * 2 <= defaults.mib,
      `young generation ${started.mib} MiB against V8's default ${defaults.mib} MiB`,
    );
    // Still the operator's to decide.
    assert.equal(youngGeneration({ AIRLOFT_OPTIMIZE_FOR_SIZE: "1" }, SERVER_NODE_FLAGS).optimizedForSize, true);
  });

  it("knows a bounded young generation from the command line or NODE_OPTIONS, and nothing else", () => {
    assert.ok(youngGenerationBounded(["--max-semi-space-size=2"], ""));
    assert.ok(youngGenerationBounded([], "--max-old-space-size=900 --max-semi-space-size=4"));
    assert.ok(!youngGenerationBounded([], ""));
    assert.ok(youngGenerationBounded(["--max_semi_space_size=2"], ""));
    assert.ok(!youngGenerationBounded(["--max-old-space-size=900"], "--max-semi-space-size-x=1"));
    // 0 is V8's own default, up to 32 MiB.
    assert.ok(!youngGenerationBounded(["--max-semi-space-size=0"], ""));
  });

  it("the systemd unit starts node with the server's flags", () => {
    const unit = readFileSync(new URL("../../deploy/airloft.service", import.meta.url), "utf8");
    const execStart = unit.split("\n").find((line) => line.startsWith("ExecStart="));
    const args = execStart?.slice("ExecStart=".length).split(" ") ?? [];
    const script = args.findIndex((a) => a.endsWith("bin/airloft.js"));
    assert.ok(script > 0, `no bin/airloft.js in ${execStart}`);
    assert.deepEqual(args.slice(1, script), [...SERVER_NODE_FLAGS]);
  });
});
