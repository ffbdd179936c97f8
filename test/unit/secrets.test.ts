import { strict as assert } from "node:assert";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { TerminalError } from "../../src/errors.js";
import { loadTexts } from "../../src/resources/loader.js";
import type { App, Resource } from "../../src/resources/types.js";
import { open, seal } from "../../src/secrets/cipher.js";
import { Keyring, keyFilePath, loadKeyring, newKeyMaterial, parseKey } from "../../src/secrets/keyring.js";
import { resolveSecrets } from "../../src/secrets/references.js";
import { rotateSecretsKey } from "../../src/secrets/rotate.js";
import { Store } from "../../src/store/store.js";
import { openTempStore, removeTempStore } from "../support/temp-store.js";

const VALUE = "s3cr3t-Value-9f1c";
const manifests = (value: string, extra = ""): string => `
apiVersion: airloft.dev/v1alpha1
kind: Group
metadata: {name: acme}
spec: {provider: docker}
---
apiVersion: airloft.dev/v1alpha1
kind: Secret
metadata: {name: app-secrets, group: acme}
stringData: {DB_PASSWORD: "${value}"}
data: {TLS: ${Buffer.from("tls-bytes").toString("base64")}}
${extra}`;
const object = (kind: string, name: string, body: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: ${kind}\nmetadata: {name: ${name}, group: acme}\n${body}\n`;
const load = (text: string) => loadTexts([{ name: "m.yaml", content: text, baseDir: "." }]);

describe("secrets: the cipher", () => {
  const keys = new Keyring([parseKey(newKeyMaterial(), "test")], "test");

  it("opens what it sealed, with a fresh nonce each time", () => {
    const a = seal(keys, "Secret/acme/s/K", Buffer.from(VALUE));
    const b = seal(keys, "Secret/acme/s/K", Buffer.from(VALUE));
    assert.notEqual(a, b);
    assert.ok(!a.includes(VALUE));
    assert.equal(open(keys, "Secret/acme/s/K", a).toString(), VALUE);
  });

  it("refuses a changed ciphertext and one moved to another secret or key", () => {
    const sealed = seal(keys, "Secret/acme/s/K", Buffer.from(VALUE));
    const parts = sealed.split(":");
    const body = Buffer.from(parts[3] ?? "", "base64url");
    body[0] = (body[0] ?? 0) ^ 1;
    const tampered = [...parts.slice(0, 3), body.toString("base64url")].join(":");
    assert.throws(() => open(keys, "Secret/acme/s/K", tampered), /failed its integrity check/);
    assert.throws(() => open(keys, "Secret/other/s/K", sealed), /changed or moved/);
    assert.throws(() => open(keys, "Secret/acme/s/K2", sealed), TerminalError);
  });

  it("says which key is missing rather than failing blindly", () => {
    const sealed = seal(keys, "p", Buffer.from("x"));
    const other = new Keyring([parseKey(newKeyMaterial(), "$AIRLOFT_SECRETS_KEY")], "$AIRLOFT_SECRETS_KEY");
    assert.throws(() => open(other, "p", sealed), /encrypted with key [0-9a-f]{8}, which \$AIRLOFT_SECRETS_KEY/);
  });

  it("takes keys as hex or base64 of 32 bytes, nothing else", () => {
    assert.equal(parseKey("ab".repeat(32), "t").key.length, 32);
    assert.throws(() => parseKey("c2hvcnQ=", "t"), /not 32 bytes/);
  });
});

describe("secrets: in the store", () => {
  let dir: string;
  let path: string;
  let store: Store;
  const env = {};

  beforeEach(async () => {
    ({ dir, path, store } = await openTempStore("airloft-secrets-", { env }));
  });
  afterEach(() => removeTempStore(store, dir));

  it("makes a 0600 key file at first start and keeps values only sealed", async () => {
    assert.equal(statSync(keyFilePath(path)).mode & 0o777, 0o600);
    await store.apply(load(manifests(VALUE)));
    await store.flush();
    const text = readFileSync(path, "utf8");
    assert.ok(!text.includes(VALUE), "the state file holds the value");
    assert.ok(!text.includes(Buffer.from(VALUE).toString("base64")));
    const secret = store.get("Secret/acme/app-secrets") as Resource;
    assert.deepEqual(Object.keys(secret.spec as object), ["keys"]);
    assert.match(JSON.stringify(secret), /"DB_PASSWORD":"sha256:[0-9a-f]{16}"/);
    assert.ok(!JSON.stringify(secret).includes(VALUE));
    assert.deepEqual(store.secretsOf(secret), { DB_PASSWORD: VALUE, TLS: "tls-bytes" });
    assert.deepEqual(secret.metadata.finalizers, []);
  });

  it("seals generated service passwords too, and reads them back after a reopen", async () => {
    await store.apply(load(`${manifests(VALUE)}---\n${object("Service", "db", "spec: {template: redis}")}`));
    const service = store.get("Service/acme/db") as Resource;
    const password = store.secretsOf(service).password ?? "";
    assert.ok(password.length > 20);
    await store.close();
    assert.ok(!readFileSync(path, "utf8").includes(password));
    store = await Store.open(path, { write: true, command: "test", env });
    assert.equal(store.secretsOf(service).password, password);
  });

  it("seals the plain passwords an older state file kept", async () => {
    await store.close();
    const data = JSON.parse(readFileSync(path, "utf8"));
    data.secrets = { "no-such-uid": { password: "legacy-plain-pw" } };
    writeFileSync(path, JSON.stringify(data));
    store = await Store.open(path, { write: true, command: "test", env });
    await store.flush();
    assert.ok(!readFileSync(path, "utf8").includes("legacy-plain-pw"));
    assert.ok(!readFileSync(`${path}.journal`, "utf8").includes("legacy-plain-pw"), "nor in the journal");
  });

  it("changes the hash (and the generation) when a value changes, not otherwise", async () => {
    await store.apply(load(manifests(VALUE)));
    const before = store.get("Secret/acme/app-secrets") as Resource;
    const [same] = (await store.apply(load(manifests(VALUE)))).filter((c) => c.key.startsWith("Secret/"));
    assert.equal(same?.action, "unchanged");
    await store.apply(load(manifests("another")));
    const after = store.get("Secret/acme/app-secrets") as Resource;
    assert.notDeepEqual(before.spec, after.spec);
    assert.equal(after.metadata.generation, 2);
  });

  it("refuses a ciphertext changed in the state file", async () => {
    await store.apply(load(manifests(VALUE)));
    await store.close();
    const data = JSON.parse(readFileSync(path, "utf8"));
    const uid = Object.keys(data.secrets)[0] as string;
    const [other] = Object.values(data.secrets as Record<string, Record<string, string>>);
    // A value moved from one key to another: same key, valid ciphertext, wrong place.
    data.secrets[uid].TLS = other?.DB_PASSWORD;
    writeFileSync(path, JSON.stringify(data));
    store = await Store.open(path, { write: true, command: "test", env });
    const secret = store.get("Secret/acme/app-secrets") as Resource;
    assert.throws(() => store.secretsOf(secret), /Secret\/acme\/app-secrets\/TLS failed its integrity check/);
  });

  it("rotates the key: everything re-sealed under a new key, the old one dropped", async () => {
    await store.apply(load(manifests(VALUE)));
    const oldKey = readFileSync(keyFilePath(path), "utf8");
    const hashes = (store.get("Secret/acme/app-secrets") as Resource).spec;
    const count = await rotateSecretsKey(store, { env });
    assert.equal(count, 2);
    const newKey = readFileSync(keyFilePath(path), "utf8");
    assert.notEqual(newKey, oldKey);
    assert.equal(newKey.trim().split("\n").length, 1);
    const keyring = loadKeyring(path, { create: false, env });
    const data = JSON.parse(readFileSync(path, "utf8"));
    for (const values of Object.values(data.secrets as Record<string, Record<string, string>>))
      for (const sealed of Object.values(values)) assert.equal(sealed.split(":")[1], keyring.current.id);
    await store.close();
    store = await Store.open(path, { write: true, command: "test", env });
    const secret = store.get("Secret/acme/app-secrets") as Resource;
    assert.equal(store.secretsOf(secret).DB_PASSWORD, VALUE);
    // Hashes survive a rotation: apps do not roll for it.
    assert.deepEqual(secret.spec, hashes);
  });

  it("takes the key from $AIRLOFT_SECRETS_KEY, and rotates to its first key", async () => {
    const first = newKeyMaterial();
    const second = newKeyMaterial();
    await store.close();
    store = await Store.open(path, { write: true, command: "test", env: { AIRLOFT_SECRETS_KEY: first } });
    await store.apply(load(manifests(VALUE)));
    await store.close();
    const both = { AIRLOFT_SECRETS_KEY: `${second},${first}` };
    store = await Store.open(path, { write: true, command: "test", env: both });
    await rotateSecretsKey(store, { env: both });
    await store.close();
    store = await Store.open(path, { write: true, command: "test", env: { AIRLOFT_SECRETS_KEY: second } });
    assert.equal(store.secretsOf(store.get("Secret/acme/app-secrets") as Resource).DB_PASSWORD, VALUE);
  });

  it("removes a deleted secret and its values at once", async () => {
    await store.apply(load(manifests(VALUE)));
    await store.markDeleted("Secret/acme/app-secrets");
    await store.flush();
    assert.equal(store.get("Secret/acme/app-secrets"), undefined);
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")).secrets, {});
    assert.equal(readFileSync(`${path}.journal`, "utf8"), "", "the journal's copy is dropped too");
  });

  it("refuses a key file others can read", async () => {
    const { chmodSync } = await import("node:fs");
    chmodSync(keyFilePath(path), 0o644);
    assert.throws(() => loadKeyring(path, { create: false, env }), /can be read by others/);
  });
});

describe("secrets: references", () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    ({ dir, store } = await openTempStore("airloft-secret-refs-", { env: {} }));
    await store.apply(load(manifests(VALUE)));
  });
  afterEach(() => removeTempStore(store, dir));

  const app = (spec: Partial<App["spec"]>): App => ({
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme" },
    spec: { image: "x", ...spec },
  });

  it("resolves env, envFrom and files, the app's own env winning", () => {
    const resolved = resolveSecrets(
      store,
      app({
        env: { PASS: { secret: "app-secrets", key: "DB_PASSWORD" } },
        envFrom: [{ secret: "app-secrets", prefix: "S_" }],
        files: [{ secret: "app-secrets", key: "TLS", path: "/etc/tls/crt" }],
      }),
    );
    assert.deepEqual(resolved.missing, []);
    assert.deepEqual(resolved.env, { S_DB_PASSWORD: VALUE, S_TLS: "tls-bytes", PASS: VALUE });
    assert.equal(resolved.files[0]?.value.toString(), "tls-bytes");
  });

  it("names a missing secret or key", () => {
    const resolved = resolveSecrets(
      store,
      app({ env: { A: { secret: "nope", key: "K" }, B: { secret: "app-secrets", key: "NOKEY" } } }),
    );
    assert.deepEqual(resolved.missing, ["secret nope", "key NOKEY of secret app-secrets"]);
  });

  it("keeps a key named __proto__ like any other, and finds no key an object's prototype has", async () => {
    await store.apply(load(object("Secret", "odd", "stringData: {__proto__: proto-value, A: a}")));
    const secret = store.get("Secret/acme/odd") as Resource;
    assert.deepEqual(Object.keys((secret.spec as { keys: object }).keys), ["A", "__proto__"], "both keys hashed");
    assert.deepEqual(Object.entries(store.secretsOf(secret)), [
      ["__proto__", "proto-value"],
      ["A", "a"],
    ]);
    const resolved = resolveSecrets(
      store,
      app({
        envFrom: [{ secret: "odd" }],
        env: { P: { secret: "odd", key: "__proto__" }, C: { secret: "odd", key: "constructor" } },
      }),
    );
    assert.deepEqual(Object.entries(resolved.env), [
      ["__proto__", "proto-value"],
      ["A", "a"],
      ["P", "proto-value"],
    ]);
    assert.deepEqual(resolved.missing, ["key constructor of secret odd"]);
    await store.flush();
    const reopened = await Store.open(store.path, { write: false, command: "test", env: {} });
    assert.deepEqual(Object.keys(reopened.secretsOf(reopened.get("Secret/acme/odd") as Resource)), ["__proto__", "A"]);
  });

  it("digests hashes: a value change changes it, an unrelated secret does not", async () => {
    const spec = { env: { PASS: { secret: "app-secrets", key: "DB_PASSWORD" } } };
    const before = resolveSecrets(store, app(spec)).digest;
    await store.apply(load(`${manifests(VALUE)}---\n${object("Secret", "unrelated", "stringData: {X: y}")}`));
    assert.equal(resolveSecrets(store, app(spec)).digest, before);
    await store.apply(load(manifests("changed")));
    assert.notEqual(resolveSecrets(store, app(spec)).digest, before);
    assert.ok(!before.includes(VALUE));
  });
});

describe("secrets: in a Docker app's config", () => {
  const group = {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "Group",
    metadata: { name: "acme", uid: "g" },
    spec: { provider: "docker" },
  } as const;
  const web: App = {
    apiVersion: "airloft.dev/v1alpha1",
    kind: "App",
    metadata: { name: "web", group: "acme", uid: "u" },
    spec: { image: "x", env: { PLAIN: "p", PASS: { secret: "s", key: "K" } } },
  };
  const image = { ref: "x", id: "sha256:1" };
  const secrets = (value: string, digest: string) => ({
    env: { PASS: value },
    mounts: [{ source: `/dev/shm/airloft-secrets/i/u/${digest}/0`, target: "/etc/tls/crt" }],
    digest,
  });

  it("hashes the digest, never the value: the same digest gives the same hash", async () => {
    const { desiredApp, containerCreateOptions } = await import("../../src/providers/docker/desired.js");
    const a = desiredApp(web, group, "i", image, {}, secrets(VALUE, "d1"));
    const b = desiredApp(web, group, "i", image, {}, secrets("other", "d1"));
    const c = desiredApp(web, group, "i", image, {}, secrets(VALUE, "d2"));
    assert.equal(a.configHash, b.configHash);
    assert.notEqual(a.configHash, c.configHash);
    const body = containerCreateOptions(a, 1) as { Labels: object; Env: string[]; HostConfig: { Mounts: object[] } };
    assert.ok(!JSON.stringify(body.Labels).includes(VALUE));
    assert.ok(body.Env.includes(`PASS=${VALUE}`));
    assert.ok(body.Env.includes("PLAIN=p"));
    assert.deepEqual(body.HostConfig.Mounts, [
      { Type: "bind", Source: "/dev/shm/airloft-secrets/i/u/d1/0", Target: "/etc/tls/crt", ReadOnly: true },
    ]);
  });

  it("keeps the hash of an app without secrets as it was", async () => {
    const { desiredApp } = await import("../../src/providers/docker/desired.js");
    const plain: App = { ...web, spec: { image: "x", env: { PLAIN: "p" } } };
    // As main computed it before secrets existed: an upgrade must not roll every app.
    assert.equal(desiredApp(plain, group, "i", image).configHash, "8a4b0249fe80");
  });
});

describe("secrets: the values `secret set` reads", () => {
  it("reads KEY=VALUE, KEY=- from standard input and --from-file KEY=path", async () => {
    const { parseValues } = await import("../../src/cli/commands/secret.js");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const dir = mkdtempSync("/tmp/airloft-secret-values-");
    try {
      writeFileSync(`${dir}/key.pem`, "pem-bytes");
      const values = parseValues(["A=x=y", "B=-"], [`TLS=${dir}/key.pem`], () => Buffer.from("from stdin\n"));
      assert.deepEqual(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.toString()])), {
        A: "x=y",
        B: "from stdin\n",
        TLS: "pem-bytes",
      });
      const odd = parseValues(["__proto__=p"], [], () => Buffer.from(""));
      assert.deepEqual(Object.keys(odd), ["__proto__"], "a key like any other, not the prototype");
      assert.throws(
        () => parseValues(["A=-", "B=-"], [], () => Buffer.from("")),
        /only one key can read standard input/,
      );
      assert.throws(() => parseValues(["novalue"], [], () => Buffer.from("")), /expected KEY=VALUE/);
      assert.throws(
        () => parseValues([], [`K=${dir}/missing`], () => Buffer.from("")),
        /cannot read .*missing: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("secrets: diff and manifest checks", () => {
  it("diffs a Secret by its key hashes, never its values", async () => {
    const { planDiff } = await import("../../src/server/diff-plan.js");
    const { ProviderRegistry } = await import("../../src/providers/registry.js");
    const { dir, store } = await openTempStore("airloft-secret-diff-", { env: {} });
    try {
      await store.apply(load(manifests(VALUE)));
      const providers = new ProviderRegistry({ instanceId: store.instanceId });
      const secretsOnly = async (text: string) =>
        (await planDiff(store, providers, load(text))).filter((e) => e.title.startsWith("secret/"));
      assert.deepEqual(await secretsOnly(manifests(VALUE)), []);
      const entries = await secretsOnly(manifests("new-Value-1b2c"));
      assert.equal(entries.length, 1);
      assert.match(entries[0]?.specLines.join("\n") ?? "", /^- +DB_PASSWORD: sha256:[0-9a-f]{16}$/m);
      assert.ok(!JSON.stringify(entries).includes("new-Value-1b2c") && !JSON.stringify(entries).includes(VALUE));
    } finally {
      await removeTempStore(store, dir);
    }
  });

  it("refuses a file path that climbs out, a malformed reference and a bad key name, at their line and field", () => {
    const app = (spec: string) =>
      `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web, group: acme}\nspec:\n  image: x\n${spec}`;
    const errors = (text: string): string[] => {
      try {
        load(text);
        return [];
      } catch (err) {
        return (err as { errors: Array<{ message: string }> }).errors.map((e) => e.message);
      }
    };
    assert.match(
      errors(app("  files: [{secret: s, key: k, path: /etc/../root/x}]\n")).join(),
      /m\.yaml:6:\d+ spec\.files\[0\]\.path/,
    );
    assert.match(errors(app("  files: [{secret: s, key: k, path: relative}]\n")).join(), /spec\.files\[0\]\.path/);
    assert.match(
      errors(app("  env: {A: {secret: s}}\n")).join(),
      /m\.yaml:6:\d+ spec\.env\.A: must be a string or \{secret, key\}/,
    );
    assert.match(errors(app("  imagePullSecret: Bad_Name\n")).join(), /spec\.imagePullSecret/);
    assert.match(
      errors(object("Secret", "s", 'stringData: {"a b": x}')).join(),
      /m\.yaml:4:\d+ stringData: must match/,
    );
  });
});

describe("secrets: files on Docker", () => {
  it("names files by secret and key, so a reordered list mounts each value at its own path", async () => {
    const { writeSecretFiles, secretFilesRoot } = await import("../../src/providers/docker/secret-files.js");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const dir = mkdtempSync("/dev/shm/airloft-unit-files-");
    try {
      const a = { name: "s_a", path: "/x", value: Buffer.from("value-a") };
      const b = { name: "s_b", path: "/y", value: Buffer.from("value-b") };
      writeSecretFiles(dir, [a, b]);
      const mounts = writeSecretFiles(dir, [b, a]);
      for (const m of mounts) assert.equal(readFileSync(m.source, "utf8"), m.target === "/x" ? "value-a" : "value-b");
      assert.equal(statSync(mounts[0]?.source ?? "").mode & 0o777, 0o444);
      assert.equal(secretFilesRoot("unix:///x.sock", { AIRLOFT_SECRET_FILES_DIR: `${dir}/root` }), `${dir}/root`);
      assert.equal(statSync(`${dir}/root`).mode & 0o777, 0o700);
      assert.throws(
        () => secretFilesRoot("unix:///x.sock", { AIRLOFT_SECRET_FILES_DIR: dir.replace("/dev/shm", "/tmp") }),
        /is not a tmpfs/,
      );
      assert.throws(() => secretFilesRoot("tcp://127.0.0.1:2375", {}), /need the Docker engine on this machine/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(dir.replace("/dev/shm", "/tmp"), { recursive: true, force: true });
    }
  });
});
