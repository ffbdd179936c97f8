import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { iamPolicy } from "../../src/providers/aws/policy.js";
import { airloft, REPO_ROOT } from "../support/cli.js";

interface Statement {
  Action: string | string[];
  Resource: string | string[];
  Condition?: unknown;
}

const FAMILY_OF: Record<string, string> = {
  ec2: "ec2",
  "clients.ec2": "ec2",
  elb: "elasticloadbalancing",
  route53: "route53",
  ssm: "ssm",
  iam: "iam",
  cloudwatch: "cloudwatch",
};

/** Every AWS call the provider makes, as an IAM action, read from its source. */
function actionsInSource(): Set<string> {
  const dir = join(REPO_ROOT, "src/providers/aws");
  const out = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(dir, file), "utf8");
    for (const m of text.matchAll(/(\w+)\.send\(\s*new (\w+)Command/g)) {
      const family = FAMILY_OF[m[1]?.replace(/^clients\./, "") ?? ""] ?? "";
      if (family) out.add(`${family}:${m[2]}`);
    }
    for (const m of text.matchAll(/paginate(\w+)\(\{ client: ([\w.]+)/g))
      out.add(`${FAMILY_OF[m[2] ?? ""] ?? "?"}:${m[1]}`);
  }
  return out;
}

describe("the IAM policy AirLoft needs (airloft aws policy)", () => {
  const statements = (iamPolicy() as { Statement: Statement[] }).Statement;
  const granted = new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));

  it("grants every call the provider makes, and only names IAM's service prefixes", () => {
    const used = actionsInSource();
    assert.ok(used.size > 40, `${used.size} calls found in the source`);
    const missing = [...used].filter((a) => !granted.has(a));
    assert.deepEqual(missing, [], "calls the policy does not grant");
    assert.ok(![...granted].some((a) => a.startsWith("elbv2:")), "ELBv2's IAM prefix is elasticloadbalancing:");
  });

  it("conditions creates and changes on AirLoft's tag, and allows the load balancers' service-linked role", () => {
    const create = statements.find((s) => (s.Action as string[]).includes?.("ec2:RunInstances") && s.Condition);
    assert.match(JSON.stringify(create?.Condition), /aws:RequestTag\/airloft\.dev\/instance/);
    const change = statements.find((s) => (s.Action as string[]).includes?.("ec2:TerminateInstances"));
    assert.match(JSON.stringify(change?.Condition), /aws:ResourceTag\/airloft\.dev\/instance/);
    assert.ok(granted.has("iam:CreateServiceLinkedRole"));
  });

  it("holds IAM to AirLoft's own roles: PassRole only for them and only to EC2, nothing account-wide", () => {
    const iamStatements = statements.filter((s) =>
      (Array.isArray(s.Action) ? s.Action : [s.Action]).some((a) => a.startsWith("iam:")),
    );
    for (const st of iamStatements) {
      const resources = [st.Resource].flat();
      assert.ok(
        resources.every(
          (r) =>
            r.includes(":role/airloft/airloft-secrets-") ||
            r.includes(":instance-profile/airloft/airloft-secrets-") ||
            r.includes("aws-service-role/elasticloadbalancing"),
        ),
        JSON.stringify(st),
      );
    }
    const pass = statements.find((s) => s.Action === "iam:PassRole");
    assert.match(JSON.stringify(pass?.Condition), /"iam:PassedToService":"ec2\.amazonaws\.com"/);
    const params = statements.filter((s) => [s.Action].flat().some((a) => /^ssm:(Put|Delete)/.test(a)));
    for (const st of params) assert.equal(st.Resource, "arn:aws:ssm:*:*:parameter/airloft/*");
  });

  it("airloft aws policy prints it as JSON", async function () {
    this.timeout(30_000); // two CLI processes on a busy machine
    const r = await airloft(["aws", "policy"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), iamPolicy());
    const wrong = await airloft(["aws", "nothing"]);
    assert.notEqual(wrong.code, 0);
  });
});
