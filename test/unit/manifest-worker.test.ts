import { strict as assert } from "node:assert";
import { ValidationErrors } from "../../src/errors.js";
import { ApiError } from "../../src/server/http.js";
import { type ManifestBody, parseManifestBody } from "../../src/server/manifest-body.js";
import { ManifestWorker } from "../../src/server/manifest-worker.js";
import { runToEnd } from "../../src/util/steps.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const MANIFESTS = `apiVersion: airloft.dev/v1alpha1
kind: Secret
metadata: {name: creds, group: acme}
stringData: {password: s3cret-value}
---
apiVersion: airloft.dev/v1alpha1
kind: App
metadata: {name: web, group: acme}
spec:
  image: "x:1"
  env: {BIG: "${"x".repeat(300)}"}
`;

function body(text: string, type = "application/yaml", maxObjectBytes = 100_000): ManifestBody {
  return { type, body: Buffer.from(text), baseDir: "/nonexistent", builds: "refused", maxObjectBytes };
}

/** What the server's own thread makes of a body, or the error it throws. */
function here(input: ManifestBody): unknown {
  try {
    return runToEnd(parseManifestBody(input));
  } catch (err) {
    return err;
  }
}

describe("manifest worker (parsing off the server's thread)", function () {
  this.timeout(30_000);
  let worker: ManifestWorker;
  afterEach(() => worker.close());

  it("parses a body as the server's thread does: the manifests, a Secret's values as Buffers, objects past the size limit", async () => {
    worker = new ManifestWorker();
    const input = body(MANIFESTS, "application/yaml", 300);
    const parsed = await worker.parse(input);
    assert.deepEqual(parsed, here(input));
    assert.ok(Buffer.isBuffer(parsed.manifests[0]?.values?.password), "a Secret's value is a Buffer again");
    assert.equal(parsed.manifests[0]?.values?.password?.toString(), "s3cret-value");
    assert.deepEqual(
      parsed.oversized.map((e) => e.message),
      [
        `request body:8:18 app/acme/web is ${JSON.stringify(parsed.manifests[1]?.object).length} bytes as JSON, more than the limit of 300 bytes per object`,
      ],
    );
  });

  it("throws what the server's thread throws: errors naming file, line, column and field; 400 for a body of the wrong shape", async () => {
    worker = new ManifestWorker();
    const wrong = body(
      JSON.stringify({ files: [{ name: "web.yaml", content: MANIFESTS.replace('image: "x:1"', "image: 7") }] }),
      "application/json",
    );
    const invalid = await worker.parse(wrong).catch((err: unknown) => err);
    assert.ok(invalid instanceof ValidationErrors);
    assert.equal(invalid.message, (here(wrong) as Error).message);
    assert.match(invalid.message, /^web\.yaml:10:10 spec\.image: /);
    assert.equal(invalid.errors[0]?.position.line, 10);
    const shape = await worker.parse(body('{"files": 3}', "application/json")).catch((err: unknown) => err);
    assert.ok(shape instanceof ApiError);
    assert.equal(shape.status, 400);
    // A JSON body of null is an empty document, as in YAML (reading its "files" was a TypeError, 500).
    const empty = body("null", "application/json");
    assert.deepEqual(here(empty), { manifests: [], oversized: [] });
    assert.deepEqual(await worker.parse(empty), { manifests: [], oversized: [] });
  });

  it("a body that exhausts the worker's memory fails alone: the server's thread lives, and the next body gets a new worker", async () => {
    // 16 MiB starts the worker; a body of 1,000 documents (900 KB, within every limit) needs more.
    worker = new ManifestWorker({ heapMb: 16 });
    const doc = (i: number) =>
      `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web-${i}, group: acme}\nspec: {image: "x:1", env: {A: "${"y".repeat(800)}"}}\n`;
    const huge = body(Array.from({ length: 1000 }, (_, i) => doc(i)).join("---\n"));
    await assert.rejects(
      worker.parse(huge),
      (err: ApiError) => err.status === 503 && /manifest parser stopped/.test(err.message),
    );
    assert.equal(worker.started, false);
    const parsed = await worker.parse(body(MANIFESTS));
    assert.equal(parsed.manifests.length, 2);
  });

  it("stops its thread when idle, and starts one again for the next body", async () => {
    worker = new ManifestWorker({ idleMs: 20 });
    await worker.parse(body(MANIFESTS));
    assert.equal(worker.started, true);
    await sleep(200);
    assert.equal(worker.started, false);
    assert.equal((await worker.parse(body(MANIFESTS))).manifests.length, 2);
  });

  it("ends a worker that does not answer in time; the next body gets a new one", async () => {
    worker = new ManifestWorker({ timeoutMs: 1 });
    await assert.rejects(
      worker.parse(body(MANIFESTS)),
      (err: ApiError) => err.status === 503 && /took more than 1 ms/.test(err.message),
    );
    assert.equal(worker.started, false);
    worker = new ManifestWorker();
    assert.equal((await worker.parse(body(MANIFESTS))).manifests.length, 2);
  });

  it("starts no worker after close(): a body sent while the server shuts down gets 503", async () => {
    worker = new ManifestWorker();
    await worker.parse(body(MANIFESTS));
    await worker.close();
    assert.equal(worker.available, false);
    await assert.rejects(worker.parse(body(MANIFESTS)), (err: ApiError) => err.status === 503);
    assert.equal(worker.started, false);
  });
});
