import { strict as assert } from "node:assert";
import { decide, pruneHistory, type Recommendation, recommend, stabilize } from "../../src/autoscale/hpa.js";
import { quotaRoom } from "../../src/autoscale/quota-room.js";
import { TerminalError, ValidationErrors } from "../../src/errors.js";
import { EdgeTraffic } from "../../src/metrics/edge-traffic.js";
import { parseCaddyMetrics } from "../../src/providers/docker/edge/traffic.js";
import { loadTexts } from "../../src/resources/loader.js";
import { usageOf } from "../../src/resources/quota.js";
import { replicasOf, withAutoscaledReplicas } from "../../src/resources/replicas.js";
import type { App, AutoscaleSpec, Group, Quota } from "../../src/resources/types.js";

const cpu50: AutoscaleSpec = { min: 1, max: 10, targetCPUUtilization: 50 };
const rps10: AutoscaleSpec = { min: 1, max: 10, targetRequestsPerSecond: 10 };

const app = (autoscale?: AutoscaleSpec, desired?: number, cpu = "500m", uid = "u1", name = "web"): App => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name, group: "acme", uid },
  spec: { image: "x", ...(autoscale ? { autoscale } : { replicas: 2 }), resources: { cpu } },
  ...(desired !== undefined ? { status: { autoscale: { currentReplicas: desired, desiredReplicas: desired } } } : {}),
});
const quota = (hard: Quota["spec"]["hard"]): Quota => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Quota",
  metadata: { name: "q", group: "acme", uid: "q1" },
  spec: { hard },
});

describe("autoscale: the HPA's maths on plain data", () => {
  it("scales by ceil(n * metric / target), within a 10% tolerance", () => {
    assert.equal(recommend(cpu50, { currentReplicas: 1, cpuUtilization: 150, cpuReplicas: 1 }), 3);
    assert.equal(recommend(cpu50, { currentReplicas: 2, cpuUtilization: 101, cpuReplicas: 2 }), 5);
    // 54% of a 50% target is within 10%: nothing moves.
    assert.equal(recommend(cpu50, { currentReplicas: 4, cpuUtilization: 54, cpuReplicas: 4 }), 4);
    assert.equal(recommend(cpu50, { currentReplicas: 4, cpuUtilization: 46, cpuReplicas: 4 }), 4);
    assert.equal(recommend(cpu50, { currentReplicas: 4, cpuUtilization: 44, cpuReplicas: 4 }), 4);
    assert.equal(recommend(cpu50, { currentReplicas: 4, cpuUtilization: 10, cpuReplicas: 4 }), 1);
  });

  it("takes the request rate as the app's total, and the highest of the metrics", () => {
    assert.equal(recommend(rps10, { currentReplicas: 1, requestsPerSecond: 35 }), 4);
    assert.equal(recommend(rps10, { currentReplicas: 3, requestsPerSecond: 0 }), 0);
    const both = { ...cpu50, targetRequestsPerSecond: 10 };
    assert.equal(recommend(both, { currentReplicas: 2, cpuUtilization: 150, cpuReplicas: 2, requestsPerSecond: 5 }), 6);
    assert.equal(recommend(both, { currentReplicas: 2, cpuUtilization: 5, cpuReplicas: 2, requestsPerSecond: 75 }), 8);
  });

  it("keeps the current count without any figure", () => {
    assert.equal(recommend({ ...cpu50, targetRequestsPerSecond: 1 }, { currentReplicas: 3 }), 3);
  });

  it("scales down to the highest recommendation within the down window, up at once", () => {
    const spec = { ...cpu50, scaleDownStabilizationSeconds: 60 };
    const history: Recommendation[] = [
      { at: 0, replicas: 5 },
      { at: 30_000, replicas: 3 },
    ];
    assert.equal(stabilize(spec, 5, 1, history, 50_000), 5);
    assert.equal(stabilize(spec, 5, 1, history, 70_000), 3);
    assert.equal(stabilize(spec, 5, 1, history, 95_000), 1);
    // Up needs no agreement from the past with the default window of 0.
    assert.equal(stabilize(spec, 1, 4, history, 50_000), 4);
  });

  it("scales up to the lowest recommendation within an up window", () => {
    const spec = { ...cpu50, scaleUpStabilizationSeconds: 60 };
    const history: Recommendation[] = [{ at: 10_000, replicas: 2 }];
    assert.equal(stabilize(spec, 1, 6, history, 20_000), 2);
    assert.equal(stabilize(spec, 1, 6, history, 80_000), 6);
  });

  it("bounds by min and max, and says which one held it", () => {
    const hot = decide(cpu50, { currentReplicas: 4, cpuUtilization: 500, cpuReplicas: 4 }, [], 0);
    assert.deepEqual([hot.desiredReplicas, hot.limitedBy, hot.recommendation.replicas], [10, "TooManyReplicas", 40]);
    const cold = decide({ ...cpu50, min: 2 }, { currentReplicas: 2, cpuUtilization: 1, cpuReplicas: 2 }, [], 0);
    assert.deepEqual([cold.desiredReplicas, cold.limitedBy], [2, "TooFewReplicas"]);
    const fine = decide(cpu50, { currentReplicas: 2, cpuUtilization: 100, cpuReplicas: 2 }, [], 0);
    assert.deepEqual([fine.desiredReplicas, fine.limitedBy], [4, undefined]);
  });

  it("never goes beyond the quota's room, and never evicts below what runs", () => {
    const capped = decide(cpu50, { currentReplicas: 1, cpuUtilization: 300, cpuReplicas: 1 }, [], 0, 3);
    assert.deepEqual([capped.desiredReplicas, capped.limitedBy], [3, "QuotaExceeded"]);
    const lowered = decide(cpu50, { currentReplicas: 4, cpuUtilization: 100, cpuReplicas: 4 }, [], 0, 2);
    assert.deepEqual([lowered.desiredReplicas, lowered.limitedBy], [4, "QuotaExceeded"]);
  });

  it("drops history older than both windows", () => {
    const spec = { ...cpu50, scaleDownStabilizationSeconds: 10 };
    assert.deepEqual(
      pruneHistory(
        spec,
        [
          { at: 0, replicas: 1 },
          { at: 5_000, replicas: 2 },
        ],
        12_000,
      ),
      [{ at: 5_000, replicas: 2 }],
    );
  });
});

describe("autoscale: replicas and the quota", () => {
  it("runs at the last decision within min and max, and ignores spec.replicas", () => {
    assert.equal(replicasOf(app(cpu50)), 1);
    assert.equal(replicasOf(app({ ...cpu50, min: 2 })), 2);
    assert.equal(replicasOf(app(cpu50, 4)), 4);
    assert.equal(replicasOf(app(cpu50, 40)), 10);
    assert.equal(replicasOf(app()), 2);
    assert.equal(usageOf([app(cpu50, 4)]).replicas, 4);
  });

  it("counts the room the other apps leave, by replicas, cpu and memory", () => {
    const other = app(undefined, undefined, "1", "u2", "other");
    assert.equal(quotaRoom(app(cpu50), [other]), Number.POSITIVE_INFINITY);
    assert.equal(quotaRoom(app(cpu50), [other, quota({ replicas: 5 })]), 3);
    // 0.5 core a replica; the other app takes 2 x 1 core of 3.5.
    assert.equal(quotaRoom(app(cpu50, 2), [app(cpu50, 2), other, quota({ cpu: "3500m" })]), 3);
    assert.equal(quotaRoom(app(cpu50), [other, quota({ replicas: 1 })]), 0);
  });

  it("refuses autoscale on a group that is neither on Docker nor on AWS", () => {
    const swarm = { metadata: { name: "acme" }, spec: { provider: "swarm" } } as Group;
    assert.throws(() => withAutoscaledReplicas(app(cpu50), swarm), TerminalError);
    const aws = { metadata: { name: "acme" }, spec: { provider: "aws" } } as Group;
    assert.equal(withAutoscaledReplicas(app(cpu50, 2), aws).spec.replicas, 2);
    const docker = { metadata: { name: "acme" }, spec: { provider: "docker" } } as Group;
    assert.equal(withAutoscaledReplicas(app(cpu50, 3), docker).spec.replicas, 3);
  });
});

describe("edge request metrics: Caddy's text to each app's series", () => {
  const caddy = (n2: number, n5: number) =>
    [
      "# TYPE caddy_http_request_duration_seconds histogram",
      `caddy_http_request_duration_seconds_bucket{code="200",handler="reverse_proxy",method="GET",server="airloft_app_acme_web",le="0.1"} ${n2}`,
      `caddy_http_request_duration_seconds_bucket{code="200",handler="reverse_proxy",method="GET",server="airloft_app_acme_web",le="+Inf"} ${n2}`,
      `caddy_http_request_duration_seconds_bucket{code="503",handler="static_response",method="GET",server="airloft_app_acme_web",le="0.1"} ${n5}`,
      `caddy_http_request_duration_seconds_bucket{code="503",handler="static_response",method="GET",server="airloft_app_acme_web",le="+Inf"} ${n5}`,
      `caddy_http_request_duration_seconds_sum{code="200",handler="reverse_proxy",method="GET",server="airloft_app_acme_web"} 0.5`,
      `caddy_http_request_duration_seconds_count{code="200",handler="reverse_proxy",method="GET",server="airloft_app_acme_web"} ${n2}`,
      `caddy_http_request_duration_seconds_count{code="503",handler="static_response",method="GET",server="airloft_app_acme_web"} ${n5}`,
      `caddy_http_request_size_bytes_sum{code="200",handler="reverse_proxy",method="GET",server="airloft_app_acme_web"} 1000`,
      `caddy_http_response_size_bytes_sum{code="200",handler="reverse_proxy",method="GET",server="airloft_app_acme_web"} 300`,
      // The front server and a name that is not an app's are left out.
      `caddy_http_request_duration_seconds_count{code="200",handler="reverse_proxy",method="GET",server="edge"} 99`,
      `caddy_http_request_duration_seconds_count{code="200",handler="x",method="GET",server="airloft_app_a_b_c"} 99`,
    ].join("\n");

  it("sums codes into status classes and methods into one histogram per app", () => {
    const [web, ...rest] = parseCaddyMetrics(caddy(10, 2), 1000);
    assert.equal(rest.length, 0);
    assert.deepEqual(web?.requests, { "2xx": 10, "5xx": 2 });
    assert.deepEqual(web?.durationBuckets, [
      [0.1, 12],
      [Number.POSITIVE_INFINITY, 12],
    ]);
    assert.deepEqual([web?.group, web?.app, web?.bytesIn, web?.bytesOut], ["acme", "web", 1000, 300]);
  });

  it("gives a rate between two reads, none after a counter went back, and only the apps asked for", () => {
    const traffic = new EdgeTraffic();
    traffic.update(parseCaddyMetrics(caddy(10, 0), 1000));
    assert.equal(traffic.rateOf("acme", "web"), undefined);
    traffic.update(parseCaddyMetrics(caddy(30, 0), 3000));
    assert.equal(traffic.rateOf("acme", "web"), 10);
    assert.match(
      traffic.text(() => true),
      /^airloft_edge_requests_total\{group="acme",app="web",code="2xx"\} 30$/m,
    );
    assert.match(
      traffic.text(() => true),
      /^airloft_edge_request_duration_seconds_bucket\{group="acme",app="web",le="\+Inf"\} 30$/m,
    );
    assert.match(
      traffic.text(() => true),
      /^airloft_edge_requests_per_second\{group="acme",app="web"\} 10$/m,
    );
    assert.equal(
      traffic.text(() => false),
      "",
    );
    traffic.update(parseCaddyMetrics(caddy(1, 0), 4000));
    assert.equal(traffic.rateOf("acme", "web"), undefined);
  });
});

describe("autoscale in manifests", () => {
  const load = (spec: string): string[] => {
    const content = `apiVersion: airloft.dev/v1alpha1\nkind: App\nmetadata: {name: web, group: acme}\nspec:\n  image: x\n${spec}`;
    try {
      loadTexts([{ name: "app.yaml", content, baseDir: "." }]);
      return [];
    } catch (err) {
      if (err instanceof ValidationErrors) return err.errors.map((e) => e.message);
      throw err;
    }
  };

  it("accepts min, max and the targets", () => {
    assert.deepEqual(
      load("  autoscale: {min: 1, max: 5, targetCPUUtilization: 60, targetRequestsPerSecond: 2.5}\n"),
      [],
    );
  });

  it("refuses replicas beside autoscale, no target, and values out of range, naming file:line:column and field", () => {
    const both = load("  replicas: 2\n  autoscale: {max: 3, targetCPUUtilization: 50}\n");
    assert.equal(both.length, 1, both.join("\n"));
    assert.match(both[0] ?? "", /app\.yaml:5:3 spec: must not set both replicas and autoscale/);
    const none = load("  autoscale: {max: 3}\n");
    assert.match(none.join("\n"), /spec\.autoscale.*must set targetCPUUtilization or targetRequestsPerSecond/);
    assert.equal(none.length, 1, none.join("\n"));
    const hostile = load(
      "  autoscale: {max: 100000, min: 0, targetRequestsPerSecond: -1, scaleDownStabilizationSeconds: 1e9, x: 1}\n",
    );
    for (const field of ["max", "min", "targetRequestsPerSecond", "scaleDownStabilizationSeconds"])
      assert.match(hostile.join("\n"), new RegExp(`spec\\.autoscale\\.${field}`), hostile.join("\n"));
    assert.match(hostile.join("\n"), /additional|unknown|\bx\b/);
  });
});
