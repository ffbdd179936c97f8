import assert from "node:assert/strict";
import type { Resource } from "../../src/resources/types.js";
import { changesJsonSteps, listJson, objectJson } from "../../src/server/object-json.js";
import { watchLine } from "../../src/server/watch-hub.js";
import type { Change } from "../../src/store/store.js";
import { runToEnd } from "../../src/util/steps.js";

const changesJson = (changes: readonly Change[]): string => runToEnd(changesJsonSteps(changes));

const app = (): Resource =>
  ({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme", resourceVersion: "7" },
    spec: { image: "x:1", replicas: 2, env: { A: 'quote " and \\ back' } },
  }) as unknown as Resource;

describe("object-json: stored objects encoded once per version", () => {
  it("encodes as JSON.stringify does, lists and watch lines included", () => {
    const o = app();
    assert.equal(objectJson(o), JSON.stringify(o));
    assert.deepEqual(JSON.parse(listJson("9", [o, o])), {
      kind: "List",
      apiVersion: "v1",
      metadata: { resourceVersion: "9" },
      items: [o, o],
    });
    assert.deepEqual(JSON.parse(listJson("9", [])).items, []);
    assert.deepEqual(JSON.parse(watchLine("ADDED", o, "9")), { type: "ADDED", object: o, resourceVersion: "9" });
    assert.deepEqual(JSON.parse(watchLine("BOOKMARK", undefined, "9")), { type: "BOOKMARK", resourceVersion: "9" });
  });

  it("encodes again after an in-place change, which bumps the resourceVersion", () => {
    const o = app();
    const before = objectJson(o);
    (o as { status?: unknown }).status = { phase: "Ready" };
    o.metadata.resourceVersion = "8";
    assert.notEqual(objectJson(o), before);
    assert.equal(objectJson(o), JSON.stringify(o));
  });

  it("does not trust an object without a resourceVersion", () => {
    const o = app();
    delete (o.metadata as { resourceVersion?: string }).resourceVersion;
    objectJson(o);
    (o.spec as { replicas: number }).replicas = 5;
    assert.equal(objectJson(o), JSON.stringify(o));
  });

  it("encodes an apply's answer byte for byte as JSON.stringify does, from the objects' cached JSON", () => {
    const o = app();
    const changes: Change[] = [
      { key: "App/acme/web", display: 'app/acme/"web"\u2028', action: "configured", object: o },
      { key: "App/acme/web", display: "app/acme/web", action: "unchanged", object: app() },
    ];
    const plain = JSON.stringify({
      changes: changes.map(({ key, display, action, object }) => ({ key, display, action, object })),
    });
    assert.equal(changesJson(changes), plain);
    assert.equal(changesJson([]), '{"changes":[]}');
    assert.equal(
      runToEnd(changesJsonSteps(changes, true)),
      JSON.stringify({ dryRun: true, changes: JSON.parse(plain).changes }),
      "a dry run's answer",
    );
    // The watch streams' encoding of the same version is what the answer carries.
    (o.spec as { replicas: number }).replicas = 3; // a change in place without a new version: only the cache holds 2
    assert.match(changesJson(changes), /"replicas":2/);
  });

  it("makes a big apply's answer in steps of 100 changes, the same text as at once", () => {
    const changes: Change[] = Array.from({ length: 250 }, (_, i) => ({
      key: `App/acme/web-${i}`,
      display: `app/acme/web-${i}`,
      action: "created",
      object: app(),
    }));
    const steps = changesJsonSteps(changes);
    let pauses = 0;
    let next = steps.next();
    for (; !next.done; next = steps.next()) pauses += 1;
    assert.equal(pauses, 2);
    assert.equal(next.value, changesJson(changes));
    assert.equal(JSON.parse(next.value).changes.length, 250);
  });
});
