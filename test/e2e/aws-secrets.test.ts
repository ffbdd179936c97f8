import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import {
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolesCommand,
} from "@aws-sdk/client-iam";
import { GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DECODER_SOURCE } from "../../src/providers/aws/boot-secrets.js";
import { encodeValue, ownerPath, parameterPath } from "../../src/providers/aws/secret-parameters.js";
import { ROLE_PATH, ROLE_POLICY_NAME, secretsRoleName } from "../../src/providers/aws/secrets-role.js";
import type { AppOutcome } from "../../src/providers/types.js";
import type { App } from "../../src/resources/types.js";
import type { ResolvedSecrets } from "../../src/secrets/references.js";
import { useStrictGroup } from "../support/strict-harness.js";

const VALUE = "aws-Secret-Value-3e91c2";
const FILE = "-----BEGIN KEY-----\nfile-Secret-7d0a\n-----END KEY-----\n";
const PASSWORD = "bound-Password-55f1ae";
const ROTATED = "aws-Rotated-Value-90bb1f";
const BINDINGS = { DB_URL: `postgres://app:${PASSWORD}@db:5432/app` };

/** What resolveSecrets gives for env DB_PASSWORD and a file, with the keyed hashes it would carry. */
function resolved(value: string, hash: string): ResolvedSecrets {
  return {
    env: { DB_PASSWORD: value },
    files: [{ name: "tls_key", path: "/etc/tls/key.pem", value: Buffer.from(FILE) }],
    digest: `d-${hash}`,
    hashes: { "env/DB_PASSWORD": hash, "file/tls_key": "file-hash" },
    missing: [],
  };
}

const spec = { image: "example/web:1", port: 8080, replicas: 2, env: { PLAIN: "visible" } };

describe("secrets on AWS: SSM SecureString parameters, a narrow instance role, user data without values", function () {
  this.timeout(180_000);
  const s = useStrictGroup();
  const config = () => ({
    region: "us-east-1",
    endpoint: s.aws.moto.endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });

  async function settle(app: App, secrets: ResolvedSecrets, passes = 8): Promise<AppOutcome> {
    let outcome: AppOutcome | undefined;
    const bindings = BINDINGS;
    for (let pass = 0; pass < passes; pass++) {
      outcome = await s.h.provider.reconcileApp(app, s.h.group, { secrets, bindings });
      if (outcome.converged) return outcome;
      s.h.provider.forget("us-east-1");
    }
    return outcome as AppOutcome;
  }

  async function parameters(path: string): Promise<Map<string, { type: string; value: string }>> {
    const ssm = new SSMClient(config());
    const out = await ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: true, WithDecryption: true }));
    ssm.destroy();
    return new Map((out.Parameters ?? []).map((p) => [p.Name ?? "", { type: p.Type ?? "", value: p.Value ?? "" }]));
  }

  async function userData(uid: string): Promise<string[]> {
    const ids = (await s.h.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [uid] }])).map((i) => i.id);
    const texts: string[] = [];
    for (const id of ids) {
      const out = await s.h.inspect.ec2.send(
        new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: "userData" }),
      );
      texts.push(Buffer.from(out.UserData?.Value ?? "", "base64").toString());
    }
    return texts;
  }

  it("writes SecureStrings under the owner's folder, launches with the group's profile, and no user data holds a value", async () => {
    const app = s.h.app("web", spec);
    const outcome = await settle(app, resolved(VALUE, "h1"));
    assert.equal(outcome.converged, true, JSON.stringify(outcome));
    const folder = ownerPath(s.h.instanceId, "strict", app.metadata.uid ?? "");
    const params = await parameters(folder);
    assert.deepEqual([...params.keys()].sort(), [`${folder}env/DB_PASSWORD`, `${folder}env/DB_URL`, `${folder}file/0`]);
    for (const p of params.values()) assert.equal(p.type, "SecureString");
    assert.equal(params.get(`${folder}env/DB_PASSWORD`)?.value, encodeValue(Buffer.from(VALUE)));

    const scripts = await userData(app.metadata.uid ?? "");
    assert.equal(scripts.length, 2);
    for (const script of scripts) {
      for (const secret of [VALUE, PASSWORD, "file-Secret-7d0a", Buffer.from(VALUE).toString("base64")])
        assert.ok(!script.includes(secret), "a secret value in the user data");
      assert.match(script, /PLAIN=visible/);
      assert.ok(script.includes(`--path ${folder} `), "the boot fetch reads the owner's folder");
      assert.match(script, /--env-file \/run\/airloft\/secrets\.env/);
      assert.match(script, /-v \/run\/airloft\/files\/0:\/etc\/tls\/key\.pem:ro/);
      assert.equal(execFileSync("bash", ["-n"], { input: script }).toString(), "");
    }
    const profile = secretsRoleName(s.h.instanceId, "strict");
    const described = await s.h.inspect.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "tag:airloft.dev/uid", Values: [app.metadata.uid ?? ""] }] }),
    );
    for (const i of (described.Reservations ?? []).flatMap((r) => r.Instances ?? []))
      assert.match(i.IamInstanceProfile?.Arn ?? "", new RegExp(`instance-profile${ROLE_PATH}${profile}$`));

    // The boot fetch, run for real: the aws cli against the endpoint, then the decoder.
    const dir = mkdtempSync("/tmp/airloft-boot-secrets-");
    try {
      const decoder = join(dir, "secrets.py");
      writeFileSync(decoder, DECODER_SOURCE.join("\n"));
      const env = { ...process.env, ...s.aws.moto.env, AWS_ENDPOINT_URL: s.aws.moto.endpoint };
      const json = execFileSync(
        "aws",
        ["ssm", "get-parameters-by-path", "--region", "us-east-1", "--path", folder, "--recursive"].concat([
          "--with-decryption",
          "--output",
          "json",
          "--endpoint-url",
          s.aws.moto.endpoint,
        ]),
        { env },
      );
      execFileSync("python3", [decoder, "systemd", userInfo().username, folder, dir], { input: json });
      assert.equal(
        readFileSync(join(dir, "secrets.env"), "utf8"),
        `DB_PASSWORD="${VALUE}"\nDB_URL="postgres://app:${PASSWORD}@db:5432/app"\n`,
      );
      assert.equal(readFileSync(join(dir, "files/0"), "utf8"), FILE);
      assert.equal(statSync(join(dir, "files/0")).mode & 0o777, 0o400);
      assert.equal(statSync(join(dir, "secrets.env")).mode & 0o777, 0o400);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a second pass writes nothing; a changed value is written once and rolls the app", async () => {
    const app = s.h.app("web", spec);
    await settle(app, resolved(VALUE, "h1"));
    const before = (await s.h.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [app.metadata.uid ?? ""] }]))
      .map((i) => i.tags["airloft.dev/config-hash"])
      .sort();
    s.h.provider.calls.reset();
    const again = await s.h.provider.reconcileApp(app, s.h.group, {
      secrets: resolved(VALUE, "h1"),
      bindings: BINDINGS,
    });
    assert.deepEqual(again.operations, []);
    const calls = Object.keys(s.h.provider.calls.snapshot());
    assert.deepEqual(
      calls.filter((c) => /^(ssm|iam):/.test(c)),
      [],
      "no SSM or IAM call on a pass with nothing changed",
    );

    const rolled = await settle(app, resolved(ROTATED, "h2"), 12);
    assert.equal(rolled.converged, true, JSON.stringify(rolled));
    const folder = ownerPath(s.h.instanceId, "strict", app.metadata.uid ?? "");
    assert.equal((await parameters(folder)).get(`${folder}env/DB_PASSWORD`)?.value, encodeValue(Buffer.from(ROTATED)));
    const after = (await s.h.inspect.instances([{ Name: "tag:airloft.dev/uid", Values: [app.metadata.uid ?? ""] }]))
      .map((i) => i.tags["airloft.dev/config-hash"])
      .sort();
    assert.equal(after.length, 2);
    assert.ok(!after.some((h) => before.includes(h)), `rolled: ${before} -> ${after}`);
    for (const script of await userData(app.metadata.uid ?? "")) assert.ok(!script.includes(ROTATED));
  });

  it("the group's role may read its own path only (and decrypt through SSM for it): tenancy", async () => {
    const app = s.h.app("web", { ...spec, replicas: 1 });
    await settle(app, resolved(VALUE, "h1"));
    const iam = new IAMClient(config());
    try {
      const name = secretsRoleName(s.h.instanceId, "strict");
      const role = await iam.send(new GetRoleCommand({ RoleName: name }));
      assert.equal(role.Role?.Path, ROLE_PATH);
      assert.deepEqual(Object.fromEntries((role.Role?.Tags ?? []).map((t) => [t.Key, t.Value])), {
        "airloft.dev/instance": s.h.instanceId,
        "airloft.dev/group": "strict",
      });
      const policy = await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: ROLE_POLICY_NAME }));
      const document = JSON.parse(decodeURIComponent(policy.PolicyDocument ?? "{}"));
      const own = parameterPath(s.h.instanceId, "strict");
      const resources = document.Statement.flatMap((st: { Resource: string | string[] }) => st.Resource);
      assert.deepEqual(document.Statement[0].Action, ["ssm:GetParameters", "ssm:GetParametersByPath"]);
      assert.deepEqual(document.Statement[0].Resource, [`arn:aws:ssm:us-east-1:*:parameter${own}*`]);
      assert.equal(document.Statement.length, 2);
      assert.equal(document.Statement[1].Action, "kms:Decrypt");
      assert.equal(document.Statement[1].Condition.StringEquals["kms:ViaService"], "ssm.us-east-1.amazonaws.com");
      // IAM's wildcard, applied to other groups' and installations' parameters: none matches.
      const matches = (pattern: string, arn: string) =>
        new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(arn);
      const arn = (path: string) => `arn:aws:ssm:us-east-1:123456789012:parameter${path}u/env/X`;
      for (const other of [
        parameterPath(s.h.instanceId, "strict-prod"),
        parameterPath(s.h.instanceId, "stric"),
        parameterPath("another-installation", "strict"),
      ])
        assert.ok(!resources.some((r: string) => matches(r, arn(other))), `${other} is readable`);
      assert.ok(resources.some((r: string) => matches(r, arn(own))));
      const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
      assert.deepEqual(
        (profile.InstanceProfile?.Roles ?? []).map((r) => r.RoleName),
        [name],
      );
    } finally {
      iam.destroy();
    }
  });

  it("a crash after CreateRole, or after the parameters and before the launch, leaves no duplicate or leak", async () => {
    const iam = new IAMClient(config());
    const name = secretsRoleName(s.h.instanceId, "strict");
    // What a process killed right after CreateRole leaves: the role, tagged in that same call (there
    // is no window where it exists untagged), without its policy or profile.
    await iam.send(
      new CreateRoleCommand({
        RoleName: name,
        Path: ROLE_PATH,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        Tags: [
          { Key: "airloft.dev/instance", Value: s.h.instanceId },
          { Key: "airloft.dev/group", Value: "strict" },
        ],
      }),
    );
    const app = s.h.app("web", { ...spec, replicas: 1 });
    // A first process writes the parameters and is stopped before its first launch.
    const secrets = resolved(VALUE, "h1");
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(
      s.h.provider.reconcileApp(app, s.h.group, { secrets, bindings: BINDINGS, signal: stop.signal }),
    );
    assert.equal((await parameters(ownerPath(s.h.instanceId, "strict", app.metadata.uid ?? ""))).size, 3);
    assert.deepEqual(await s.h.running(app), []);
    s.h.newProvider();
    s.h.provider.calls.reset();
    assert.equal((await settle(app, secrets)).converged, true);
    assert.equal(s.h.provider.calls.counts.get("ssm:PutParameter") ?? 0, 0, "the parameters are not written twice");
    const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
    assert.deepEqual(
      (profile.InstanceProfile?.Roles ?? []).map((r) => r.RoleName),
      [name],
    );
    assert.deepEqual(await s.h.running(app), ["0"]);
    await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: ROLE_POLICY_NAME }));
    const roles = await iam.send(new ListRolesCommand({ PathPrefix: ROLE_PATH }));
    assert.deepEqual(
      (roles.Roles ?? []).map((r) => r.RoleName),
      [name],
      "one role, no second one",
    );
    iam.destroy();
  });

  it("deleting the app deletes its parameters; deleting the group deletes the rest, the role and the profile", async () => {
    const web = s.h.app("web", { ...spec, replicas: 1 });
    const api = s.h.app("api", { ...spec, replicas: 1 });
    await settle(web, resolved(VALUE, "h1"));
    await settle(api, resolved(VALUE, "h1"));
    for (let i = 0; i < 8 && !(await s.h.provider.finalizeApp(web, s.h.group)); i++) s.h.provider.forget("us-east-1");
    const group = parameterPath(s.h.instanceId, "strict");
    const left = [...(await parameters(group)).keys()];
    assert.ok(
      left.length > 0 && left.every((n) => n.startsWith(ownerPath(s.h.instanceId, "strict", api.metadata.uid ?? ""))),
    );
    for (let i = 0; i < 8 && !(await s.h.provider.finalizeApp(api, s.h.group)); i++) s.h.provider.forget("us-east-1");
    let done = false;
    for (let i = 0; i < 12 && !done; i++) {
      s.h.provider.forget("us-east-1");
      // The strict endpoint refuses deletes while the load balancer's interfaces linger, as AWS does.
      done = await s.h.provider.finalizeGroup(s.h.group).catch((err: { name?: string; message?: string }) => {
        if (!/DependencyViolation/.test(`${err.name} ${err.message}`)) throw err;
        return false;
      });
    }
    assert.ok(done);
    assert.equal((await parameters(group)).size, 0);
    const iam = new IAMClient(config());
    const name = secretsRoleName(s.h.instanceId, "strict");
    await assert.rejects(iam.send(new GetRoleCommand({ RoleName: name })), /NoSuchEntity|not found/i);
    await assert.rejects(
      iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })),
      /NoSuchEntity|not found/i,
    );
    iam.destroy();
  });

  it("a garbage pass deletes the parameters of an owner that is gone", async () => {
    const web = s.h.app("web", { ...spec, replicas: 1 });
    await settle(web, resolved(VALUE, "h1"));
    await s.h.provider.collectGarbage(s.h.group, new Set([s.h.group.metadata.uid ?? ""]));
    assert.equal((await parameters(parameterPath(s.h.instanceId, "strict"))).size, 0);
  });

  it("hostile input is refused before anything is written: a line break, a path with a colon, a name with a slash", async () => {
    const app = s.h.app("web", { ...spec, replicas: 1 });
    const broken = { ...resolved(VALUE, "h1"), env: { DB_PASSWORD: "a\nINJECTED=1" } };
    await assert.rejects(s.h.provider.reconcileApp(app, s.h.group, { secrets: broken }), /line break/);
    const colon = { ...resolved(VALUE, "h1"), files: [{ name: "x", path: "/etc/a:/b", value: Buffer.from("v") }] };
    await assert.rejects(s.h.provider.reconcileApp(app, s.h.group, { secrets: colon }), /not an absolute plain path/);
    assert.throws(() => parameterPath(s.h.instanceId, "a/../b"), /cannot name an SSM parameter path/);
    assert.throws(() => ownerPath(s.h.instanceId, "g", ".."), /cannot name an SSM parameter path/);
    assert.equal((await parameters(parameterPath(s.h.instanceId, "strict"))).size, 0);
  });

  it("a service's generated password is a parameter, not user data", async () => {
    const service = s.h.service("db", { template: "postgres", version: "16" });
    const outcome = await s.h.settleService(service);
    assert.ok(outcome.operations.length >= 0);
    const folder = ownerPath(s.h.instanceId, "strict", service.metadata.uid ?? "");
    const params = await parameters(folder);
    assert.equal(params.get(`${folder}env/POSTGRES_PASSWORD`)?.value, encodeValue(Buffer.from("test-password")));
    for (const script of await userData(service.metadata.uid ?? "")) {
      assert.ok(!script.includes("test-password"));
      assert.match(script, /POSTGRES_USER=app/);
    }
  });
});
