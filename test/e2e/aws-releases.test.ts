import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Revision } from "../../src/releases/revisions.js";
import type { App } from "../../src/resources/types.js";
import type { TestAws } from "../../support/moto.js";
import { AwsInspector } from "../support/aws-inspect.js";
import { airloft } from "../support/cli.js";
import { requireAws } from "../support/e2e.js";
import { Workspace } from "../support/workspace.js";

const GROUP = "relaws";
const groupDoc = {
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Group",
  metadata: { name: GROUP },
  spec: { provider: "aws", aws: { region: "us-east-1", vpc: { create: { cidr: "10.31.0.0/16" } } } },
};
const webDoc = (version: number) => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name: "web", group: GROUP },
  spec: { image: `example/web:${version}`, port: 8080, replicas: 2, healthCheck: { http: { path: "/healthz" } } },
});

/** History and undo are the store's: an AWS app has them as a Docker app does (moto_server). */
describe("releases of an AWS app on moto_server: history and undo", function () {
  this.timeout(300_000);
  let aws: TestAws;
  let inspect: AwsInspector;
  let ws: Workspace;

  const cli = (...args: string[]) => airloft(["--state", ws.state, ...args], { env: aws.env, cwd: ws.dir });
  const apply = async (version: number) => {
    const dir = join(ws.dir, "m");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "app.yaml"), [groupDoc, webDoc(version)].map((d) => stringify(d)).join("---\n"));
    const r = await cli("apply", "-f", dir, "--timeout", "120s");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  };
  const hashes = async () =>
    new Set(
      (await inspect.instances())
        .filter((i) => i.tags["airloft.dev/name"] === "web" && i.state !== "terminated")
        .map((i) => i.tags["airloft.dev/config-hash"]),
    );
  const history = async (): Promise<Revision[]> => {
    const r = await cli("rollout", "history", `app/${GROUP}/web`, "-o", "json");
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Revision[];
  };

  before(async function () {
    aws = await requireAws(this);
    await aws.reset();
    inspect = new AwsInspector(aws);
    ws = new Workspace();
  });

  after(async function () {
    this.timeout(180_000);
    if (ws) await cli("delete", `group/${GROUP}`, "--cascade", "--timeout", "150s");
    ws?.remove();
  });

  it("records three revisions, and undo to the first relaunches its instances as a fourth", async () => {
    await apply(1);
    const first = await hashes();
    assert.equal(first.size, 1);
    await apply(2);
    await apply(3);
    assert.notDeepEqual(await hashes(), first);
    const revisions = await history();
    assert.deepEqual(
      revisions.map((r) => [r.revision, r.image, r.outcome]),
      [
        [1, "example/web:1", "Complete"],
        [2, "example/web:2", "Complete"],
        [3, "example/web:3", "Complete"],
      ],
    );
    assert.match(revisions[0]?.by ?? "", /^user /);

    const undo = await cli("rollout", "undo", `app/${GROUP}/web`, "--to-revision", "1");
    assert.equal(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, /rolled back to revision 1 as revision 4/);
    const status = await cli("rollout", "status", `app/${GROUP}/web`, "--timeout", "120s");
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);
    assert.deepEqual(await hashes(), first, "the instances run revision 1's launch configuration again");
    const app = JSON.parse((await cli("get", `app/${GROUP}/web`, "-o", "json")).stdout) as App;
    assert.equal(app.spec.image, "example/web:1");
    const after = await history();
    assert.deepEqual(after.map((r) => [r.revision, r.outcome]).at(-1), [4, "Complete"]);
    assert.match(after.at(-1)?.by ?? "", /\(undo to revision 1\)$/);
  });
});
