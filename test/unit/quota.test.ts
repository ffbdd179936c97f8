import { strict as assert } from "node:assert";
import { admissionErrors, usageOf, violations } from "../../src/resources/quota.js";
import { bindingEnv, bindingNames, SERVICE_TEMPLATES } from "../../src/resources/templates.js";
import type { App, Quota, Resource, Service } from "../../src/resources/types.js";

const app = (name: string, replicas: number, resources?: App["spec"]["resources"]): App => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "App",
  metadata: { name, group: "acme" },
  spec: { image: "x", replicas, ...(resources ? { resources } : {}) },
});
const service = (name: string): Service => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Service",
  metadata: { name, group: "acme" },
  spec: { template: "redis", resources: { cpu: "500m", memory: "128Mi" } },
});
const quota = (hard: Quota["spec"]["hard"]): Quota => ({
  apiVersion: "airloft.dev/v1alpha1",
  kind: "Quota",
  metadata: { name: "default", group: "acme" },
  spec: { hard },
});

describe("quota", () => {
  it("counts apps, replicas, services, and cpu and memory per replica", () => {
    const objects: Resource[] = [app("a", 2, { cpu: 0.25, memory: "64Mi" }), app("b", 3), service("db")];
    assert.deepEqual(usageOf(objects), {
      apps: 2,
      replicas: 5,
      services: 1,
      cpu: 1,
      memory: 2 * 64 * 1024 ** 2 + 128 * 1024 ** 2,
    });
    const deleting = { ...app("c", 9), metadata: { name: "c", group: "acme", deletionTimestamp: "now" } };
    assert.equal(usageOf([...objects, deleting]).replicas, 5, "objects being deleted no longer count");
  });

  it("admits up to the limit and names the quota, resource and numbers past it", () => {
    const q = quota({ replicas: 10, apps: 5 });
    assert.deepEqual(admissionErrors([q], [q, app("a", 10)]), []);
    assert.deepEqual(
      admissionErrors([q], [q, app("a", 12)]).map((e) => e.message),
      ["quota acme/default: replicas 12 would exceed 10"],
    );
  });

  it("lets an apply through that keeps or lowers usage over a lowered quota", () => {
    const q = quota({ replicas: 2 });
    const before = [q, app("a", 4)];
    assert.deepEqual(admissionErrors(before, [q, app("a", 4)]), []);
    assert.deepEqual(admissionErrors(before, [q, app("a", 3)]), []);
    assert.equal(admissionErrors(before, [q, app("a", 5)]).length, 1);
    assert.deepEqual(
      violations([q], usageOf(before)).map((v) => v.message),
      ["quota acme/default: replicas 4 exceeds 2"],
    );
  });

  it("needs resources on every app and service once cpu or memory is limited", () => {
    const q = quota({ cpu: 2, memory: "1Gi" });
    const errors = admissionErrors([], [q, app("a", 1), app("b", 1, { cpu: 1, memory: "256Mi" })]).map(
      (e) => e.message,
    );
    assert.deepEqual(errors, [
      "quota acme/default limits cpu: app a must set spec.resources.cpu",
      "quota acme/default limits memory: app a must set spec.resources.memory",
    ]);
    assert.deepEqual(
      admissionErrors([], [q, app("b", 3, { cpu: 1, memory: "256Mi" })]).map((e) => e.message),
      ["quota acme/default: cpu 3 would exceed 2"],
    );
  });
});

describe("service templates and bindings", () => {
  it("exports the documented variables, with a prefix for a second service of a kind", () => {
    const creds = { password: "p@ss/word" };
    assert.deepEqual(bindingEnv(SERVICE_TEMPLATES.redis, "cache", creds, undefined), {
      REDIS_URL: "redis://default:p%40ss%2Fword@cache:6379/0",
    });
    assert.deepEqual(bindingEnv(SERVICE_TEMPLATES.redis, "sessions", creds, "SESSIONS"), {
      SESSIONS_URL: "redis://default:p%40ss%2Fword@sessions:6379/0",
    });
    assert.deepEqual(bindingEnv(SERVICE_TEMPLATES.postgres, "db", creds, undefined), {
      DATABASE_URL: "postgres://app:p%40ss%2Fword@db:5432/app",
    });
    assert.deepEqual(bindingEnv(SERVICE_TEMPLATES.mongo, "docs", creds, undefined), {
      MONGO_URL: "mongodb://app:p%40ss%2Fword@docs:27017/?authSource=admin",
    });
    assert.deepEqual(bindingEnv(SERVICE_TEMPLATES.kafka, "events", creds, undefined), { KAFKA_BROKERS: "events:9092" });
    assert.deepEqual(bindingNames(SERVICE_TEMPLATES.postgres, "ANALYTICS"), ["ANALYTICS_URL"]);
  });

  it("keeps secrets out of the command line: the template reads them from the environment", () => {
    for (const t of Object.values(SERVICE_TEMPLATES)) {
      assert.ok(!(t.command ?? []).join(" ").includes("secret-value"));
      const env = t.env({ password: "secret-value" }, "svc");
      if (t.name !== "kafka")
        assert.ok(Object.values(env).includes("secret-value"), `${t.name} gets its password from env`);
    }
  });
});
