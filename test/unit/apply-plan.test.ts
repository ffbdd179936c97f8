import { strict as assert } from "node:assert";
import type { LoadedManifest } from "../../src/resources/loader.js";
import type { Resource } from "../../src/resources/types.js";
import { type PlanContext, planWrites } from "../../src/store/apply-plan.js";
import { VersionHole } from "../../src/store/serialize.js";
import { runToEnd } from "../../src/util/steps.js";

const context: PlanContext = {
  peek: () => undefined,
  stored: (manifest) => manifest.object,
  hole: new VersionHole(),
  now: () => "2026-01-01T00:00:00.000Z",
  eventsOf: () => undefined,
  encodeEvents: (uid, list) => ({ bytes: Buffer.from(`${JSON.stringify(uid)}:${JSON.stringify(list)}`) }),
};
const manifest = (name: string): LoadedManifest => ({
  source: { file: "m.yaml", line: 1, column: 1 },
  object: {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name, group: "acme" },
    spec: { image: "busybox", replicas: 1 },
  } as Resource,
});

/** Runs the plan's steps, counting its pauses. */
function pausesOf(count: number): number {
  const steps = planWrites(
    Array.from({ length: count }, (_, i) => manifest(`app-${i}`)),
    context,
  );
  let pauses = 0;
  for (let next = steps.next(); !next.done; next = steps.next()) pauses++;
  return pauses;
}

describe("apply plan", () => {
  it("pauses between manifests and never after the last: a one-object apply commits without waiting for the thread's share", () => {
    assert.equal(pausesOf(1), 0);
    assert.equal(pausesOf(3), 2);
  });

  it("makes a created object's event list and its entry's text in the plan", () => {
    const [write] = runToEnd(planWrites([manifest("web")], context));
    const uid = write?.next?.metadata.uid ?? "";
    assert.deepEqual(write?.events?.list, [
      { time: "2026-01-01T00:00:00.000Z", type: "Normal", reason: "Created", message: "created by apply" },
    ]);
    assert.equal(write?.events?.text.bytes.toString(), `${JSON.stringify(uid)}:${JSON.stringify(write?.events?.list)}`);
    assert.equal(write?.events?.against, undefined);
  });
});
