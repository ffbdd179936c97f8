import { strict as assert } from "node:assert";
import { GetInstanceProfileCommand, GetRolePolicyCommand, IAMClient } from "@aws-sdk/client-iam";
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import {
  bootFetchLines,
  ensureSecretsRole,
  parameterName,
  syncParameters,
} from "../../src/providers/aws/secret-parameters.js";
import type { TestAws } from "../../support/moto.js";
import { requireAws } from "../support/e2e.js";

const VALUE = "aws-Secret-Value-3e91c2";

describe("secrets on AWS (moto): SSM SecureString parameters and a narrow instance role", () => {
  let aws: TestAws;
  let ssm: SSMClient;
  let iam: IAMClient;

  before(async function () {
    aws = await requireAws(this);
    await aws.reset();
    const config = {
      region: "us-east-1",
      endpoint: aws.endpoint,
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    };
    ssm = new SSMClient(config);
    iam = new IAMClient(config);
  });
  after(() => {
    ssm?.destroy();
    iam?.destroy();
  });

  it("writes values as SecureString under the installation's group path, and removes what is no longer there", async () => {
    const name = parameterName("inst1", "acme", "db", "PASSWORD");
    assert.equal(name, "/airloft/inst1/acme/db/PASSWORD");
    const stale = parameterName("inst1", "acme", "db", "OLD");
    const other = parameterName("inst1", "acme-prod", "db", "PASSWORD");
    await syncParameters(ssm, "inst1", "acme", new Map([[stale, "x"]]));
    await syncParameters(ssm, "inst1", "acme-prod", new Map([[other, "y"]]));
    await syncParameters(ssm, "inst1", "acme", new Map([[name, VALUE]]));
    const plain = await ssm.send(new GetParameterCommand({ Name: name }));
    assert.equal(plain.Parameter?.Type, "SecureString");
    assert.notEqual(plain.Parameter?.Value, VALUE, "read without decryption, the value stays sealed");
    const read = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    assert.equal(read.Parameter?.Value, VALUE);
    const left = await ssm.send(new GetParametersByPathCommand({ Path: "/airloft/inst1/acme/", Recursive: true }));
    assert.deepEqual(
      (left.Parameters ?? []).map((p) => p.Name),
      [name],
    );
    const neighbour = await ssm.send(new GetParameterCommand({ Name: other, WithDecryption: true }));
    assert.equal(neighbour.Parameter?.Value, "y", "acme's sync leaves acme-prod's path alone");
  });

  it("gives the group's instances a role and profile that may only read its own path", async () => {
    const first = await ensureSecretsRole(iam, "us-east-1", "inst1", "acme");
    const again = await ensureSecretsRole(iam, "us-east-1", "inst1", "acme");
    assert.deepEqual(again, first, "idempotent");
    assert.ok(first.roleName.length <= 64);
    const policy = await iam.send(
      new GetRolePolicyCommand({ RoleName: first.roleName, PolicyName: "airloft-secrets-read" }),
    );
    const document = JSON.parse(decodeURIComponent(policy.PolicyDocument ?? "{}"));
    assert.deepEqual(document.Statement, [
      {
        Effect: "Allow",
        Action: ["ssm:GetParameters"],
        Resource: ["arn:aws:ssm:us-east-1:*:parameter/airloft/inst1/acme/*"],
      },
    ]);
    const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: first.profileName }));
    assert.deepEqual(
      (profile.InstanceProfile?.Roles ?? []).map((r) => r.RoleName),
      [first.roleName],
    );
    const other = await ensureSecretsRole(iam, "us-east-1", "inst1", "acme-prod");
    assert.notEqual(other.roleName, first.roleName);
  });

  it("fetches at boot by name: the user-data lines hold no value", () => {
    const name = parameterName("inst1", "acme", "db", "PASSWORD");
    const lines = bootFetchLines("us-east-1", new Map([["DB_PASSWORD", name]]), "/etc/airloft/secrets.env");
    const script = lines.join("\n");
    assert.ok(!script.includes(VALUE));
    assert.match(
      script,
      /aws ssm get-parameters --region us-east-1 --with-decryption --names \/airloft\/inst1\/acme\/db\/PASSWORD/,
    );
    assert.match(script, /^umask 077$/m);
    assert.throws(() => bootFetchLines("us-east-1", new Map([["X", "/a; rm -rf /"]]), "/f"), /not a safe/);
  });
});
