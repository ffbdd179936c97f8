import { strict as assert } from "node:assert";
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import type { App } from "../../src/resources/types.js";
import { useStrictGroup, webSpec } from "../support/strict-harness.js";

const FIRST = "ami-0aaaaaaaaaaaaaaa1";
const NEWER = "ami-0bbbbbbbbbbbbbbb2";

/** The image comes from the AL2023 public parameter and is pinned: a release between passes changes nothing. */
describe("AWS AMI: Amazon Linux 2023, pinned (strict endpoint)", function () {
  this.timeout(180_000);
  const s = useStrictGroup({
    prepare: (a) => {
      a.proxy.latestAmi = FIRST;
    },
  });

  const images = async (app: App) => {
    const out = await s.h.inspect.ec2.send(
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
    const app = s.h.app("web", { image: "example/web:1", port: 8080, replicas: 2 });
    assert.equal((await s.h.settle(app)).converged, true);
    assert.deepEqual(await images(app), [FIRST, FIRST], "the image the AL2023 parameter names");
    assert.equal(s.h.group.status?.aws?.ami, FIRST, "pinned in the group's status");

    s.aws.proxy.latestAmi = NEWER;
    s.h.newProvider(); // caches as minutes later
    await s.h.reconcileGroup();
    const before = s.h.calls(/RunInstances|TerminateInstances/);
    const outcome = await s.h.settle(app);
    assert.equal(outcome.converged, true);
    assert.deepEqual(outcome.operations, []);
    assert.equal(s.h.calls(/RunInstances|TerminateInstances/) - before, 0, "run or terminate calls");
    assert.deepEqual(await images(app), [FIRST, FIRST]);
  });

  it("amiPolicy FollowLatest rolls the apps onto a new release; an explicit ami wins", async () => {
    const app = s.h.app("web", { image: "example/web:1", port: 8080, replicas: 1 });
    await s.h.settle(app);
    s.aws.proxy.latestAmi = NEWER;
    s.h.group = {
      ...s.h.group,
      spec: { ...s.h.group.spec, aws: { ...s.h.group.spec.aws, amiPolicy: "FollowLatest" } },
    };
    s.h.newProvider();
    await s.h.reconcileGroup();
    assert.equal(s.h.group.status?.aws?.ami, NEWER);
    assert.equal((await s.h.settle(app)).converged, true);
    assert.deepEqual(await images(app), [NEWER]);
    const own = s.h.app("own", { image: "example/web:1", port: 8080, replicas: 1, ami: "ami-0ccccccccccccccc3" });
    assert.equal((await s.h.settle(own)).converged, true);
    assert.deepEqual(await images(own), ["ami-0ccccccccccccccc3"]);
  });
});
