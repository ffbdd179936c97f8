import { strict as assert } from "node:assert";
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import type { App } from "../../src/resources/types.js";
import type { StrictTestAws } from "../../support/strict-aws.js";
import { requireStrictAws } from "../support/e2e.js";
import { StrictHarness } from "../support/strict-harness.js";

const FIRST = "ami-0aaaaaaaaaaaaaaa1";
const NEWER = "ami-0bbbbbbbbbbbbbbb2";

/** The image comes from the AL2023 public parameter and is pinned: a release between passes changes nothing. */
describe("AWS AMI: Amazon Linux 2023, pinned (strict endpoint)", function () {
  this.timeout(180_000);
  let aws: StrictTestAws;
  let h: StrictHarness;

  before(async function () {
    aws = await requireStrictAws(this);
  });

  beforeEach(async () => {
    await aws.reset();
    aws.proxy.latestAmi = FIRST;
    h = new StrictHarness(aws);
    await h.reconcileGroup();
  });

  const images = async (app: App) => {
    const out = await h.inspect.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: "tag:airloft.dev/uid", Values: [app.metadata.uid ?? ""] },
          { Name: "instance-state-name", Values: ["pending", "running"] },
        ],
      }),
    );
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.ImageId);
  };

  it("a newer image between passes makes no run or terminate call", async () => {
    const app = h.app("web", { image: "example/web:1", port: 8080, replicas: 2 });
    assert.equal((await h.settle(app)).converged, true);
    assert.deepEqual(await images(app), [FIRST, FIRST], "the image the AL2023 parameter names");
    assert.equal(h.group.status?.aws?.ami, FIRST, "pinned in the group's status");

    aws.proxy.latestAmi = NEWER;
    h.newProvider(); // caches as minutes later
    await h.reconcileGroup();
    const before = h.calls(/RunInstances|TerminateInstances/);
    const outcome = await h.settle(app);
    assert.equal(outcome.converged, true);
    assert.deepEqual(outcome.operations, []);
    assert.equal(h.calls(/RunInstances|TerminateInstances/) - before, 0, "run or terminate calls");
    assert.deepEqual(await images(app), [FIRST, FIRST]);
  });

  it("amiPolicy FollowLatest rolls the apps onto a new release; an explicit ami wins", async () => {
    const app = h.app("web", { image: "example/web:1", port: 8080, replicas: 1 });
    await h.settle(app);
    aws.proxy.latestAmi = NEWER;
    h.group = { ...h.group, spec: { ...h.group.spec, aws: { ...h.group.spec.aws, amiPolicy: "FollowLatest" } } };
    h.newProvider();
    await h.reconcileGroup();
    assert.equal(h.group.status?.aws?.ami, NEWER);
    assert.equal((await h.settle(app)).converged, true);
    assert.deepEqual(await images(app), [NEWER]);
    const own = h.app("own", { image: "example/web:1", port: 8080, replicas: 1, ami: "ami-0ccccccccccccccc3" });
    assert.equal((await h.settle(own)).converged, true);
    assert.deepEqual(await images(own), ["ami-0ccccccccccccccc3"]);
  });
});
