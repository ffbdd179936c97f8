import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { AwsProvider } from "../../src/providers/aws/provider.js";
import { DockerProvider } from "../../src/providers/docker/provider.js";
import { SwarmProvider } from "../../src/providers/swarm/provider.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { SWARM_REDIS_IMAGE } from "../../support/swarm.js";
import { REPO_ROOT } from "../support/cli.js";
import { providerConformance } from "../support/conformance.js";
import { requireAws, requireEngine, requireSwarm } from "../support/e2e.js";

const REDIS_IMAGE = "airloft-test/redis:1";

providerConformance("docker, on the private engine", async (ctx) => {
  const engine = await requireEngine(ctx);
  await promisify(execFile)("sh", [join(REPO_ROOT, "scripts/redis-image.sh"), REDIS_IMAGE], {
    env: { ...process.env, DOCKER_HOST: engine.host },
  });
  return {
    provider: new DockerProvider({ instanceId: `conformance-${randomUUID()}`, env: { DOCKER_HOST: engine.host } }),
    groupSpec: { provider: "docker", docker: { host: engine.host } },
    serviceSpec: { template: "redis", image: REDIS_IMAGE },
    appSpec: (replicas, version) => ({
      image: TEST_IMAGE,
      replicas,
      command: ["sh", "-c", "exec sleep 3600"],
      env: { VERSION: version },
    }),
  };
});

/** The same app and service specs as on docker: only the Group's provider differs. */
providerConformance("swarm, on a three-node swarm", async (ctx) => {
  const swarm = await requireSwarm(ctx);
  return {
    provider: new SwarmProvider({ instanceId: `conformance-${randomUUID()}`, env: {} }),
    groupSpec: { provider: "swarm", swarm: { host: swarm.host } },
    serviceSpec: { template: "redis", image: SWARM_REDIS_IMAGE },
    appSpec: (replicas, version) => ({
      image: TEST_IMAGE,
      replicas,
      command: ["sh", "-c", "exec sleep 3600"],
      env: { VERSION: version },
    }),
  };
});

providerConformance("aws, on moto_server", async (ctx) => {
  const aws = await requireAws(ctx);
  await aws.reset();
  const fast = { perSecond: 1000, burst: 1000 };
  return {
    provider: new AwsProvider({
      instanceId: `conformance-${randomUUID()}`,
      env: aws.env,
      rates: { ec2: fast, elbv2: fast, route53: fast },
    }),
    groupSpec: {
      provider: "aws",
      aws: { region: "us-east-1", vpc: { create: { cidr: "10.40.0.0/16" } }, domain: "conformance.example.com" },
    },
    serviceSpec: { template: "redis" },
    appSpec: (replicas, version) => ({
      image: `example/web:${version}`,
      port: 8080,
      replicas,
      healthCheck: { http: { path: "/healthz" } },
    }),
  };
});
