import { strict as assert } from "node:assert";
import { boundHeapGrowth, DEFAULT_HEAP_GROWING_PERCENT } from "../../src/server/heap-growth.js";

describe("the server's heap growth bound", () => {
  it("is 20% by default, 0 keeps V8's rule, and anything else but a whole percentage is refused", () => {
    assert.equal(boundHeapGrowth({}), DEFAULT_HEAP_GROWING_PERCENT);
    assert.equal(boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: "0" }), 0);
    assert.equal(boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: "50" }), 50);
    for (const bad of ["x", "-1", "1.5", "2000", " 20; rm"])
      assert.throws(() => boundHeapGrowth({ AIRLOFT_HEAP_GROWING_PERCENT: bad }), /whole number from 0 to 1000/, bad);
    boundHeapGrowth({});
  });
});
