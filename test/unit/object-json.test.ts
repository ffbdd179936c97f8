import assert from "node:assert/strict";
import type { Resource } from "../../src/resources/types.js";
import { listJson, objectJson } from "../../src/server/object-json.js";
import { watchLine } from "../../src/server/watch-hub.js";

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
});
