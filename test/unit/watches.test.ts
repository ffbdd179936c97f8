import { strict as assert } from "node:assert";
import { APP_WATCHES } from "../../src/controllers/app.js";
import { GROUP_WATCHES } from "../../src/controllers/group.js";
import { QUOTA_WATCHES } from "../../src/controllers/quota.js";
import { SERVICE_WATCHES } from "../../src/controllers/service.js";
import { WatchRouter } from "../../src/controllers/watch-router.js";
import type { Requeue, WatchDeclaration } from "../../src/controllers/watches.js";
import { setCondition } from "../../src/resources/conditions.js";
import { keyOf } from "../../src/resources/kinds.js";
import type { Resource } from "../../src/resources/types.js";
import type { ListFilter, StoreEvent, StoreEventType } from "../../src/store/store.js";

const API = "airloft.dev/v1alpha1";
const group = (status: Record<string, unknown> = {}): Resource =>
  ({ apiVersion: API, kind: "Group", metadata: { name: "acme" }, spec: { provider: "docker" }, status }) as Resource;
const app = (name: string, services: string[] = []): Resource =>
  ({
    apiVersion: API,
    kind: "App",
    metadata: { name, group: "acme" },
    spec: { image: "busybox", services: services.map((s) => ({ name: s })) },
  }) as Resource;
const service = (name: string): Resource =>
  ({ apiVersion: API, kind: "Service", metadata: { name, group: "acme" }, spec: { template: "redis" } }) as Resource;
const quota = (): Resource =>
  ({
    apiVersion: API,
    kind: "Quota",
    metadata: { name: "default", group: "acme" },
    spec: { hard: { apps: 5 } },
  }) as Resource;
const event = (type: StoreEventType, object: Resource): StoreEvent => ({ type, key: keyOf(object), object });

/** The requeues a declaration maps an event to: those of every watch that hears it. */
function mapped(declaration: WatchDeclaration, type: StoreEventType, object: Resource): Requeue[] {
  return declaration.watches
    .filter((w) => w.kinds.includes(object.kind) && w.on.includes(type))
    .flatMap((w) => [...w.map(object)]);
}

describe("controllers' watch declarations", () => {
  it("an app hears its group, its group's quotas and the services bound to it", () => {
    assert.deepEqual(mapped(APP_WATCHES, "spec", quota()), [{ group: "acme", kind: "App" }]);
    assert.deepEqual(mapped(APP_WATCHES, "status", quota()), [], "a quota's recount requeues no app");
    assert.deepEqual(mapped(APP_WATCHES, "status", service("db")), [
      { group: "acme", kind: "App", referring: "Service/acme/db" },
    ]);
    assert.deepEqual(mapped(APP_WATCHES, "status", group()), [{ group: "acme", kind: "App" }]);
    assert.deepEqual(
      APP_WATCHES.references?.(app("web", ["db", "cache"]), () => undefined),
      ["Service/acme/db", "Service/acme/cache"],
    );
  });

  it("a quota recounts when its group's apps and services come, change or go", () => {
    for (const type of ["added", "spec", "deleting", "removed"] as const) {
      assert.deepEqual(mapped(QUOTA_WATCHES, type, app("web")), [{ group: "acme", kind: "Quota" }], type);
      assert.deepEqual(mapped(QUOTA_WATCHES, type, service("db")), [{ group: "acme", kind: "Quota" }], type);
    }
    // An app's status changes usage only through its running job runs: a `seen` filters the rest.
    const onStatus = QUOTA_WATCHES.watches.filter((w) => w.kinds.includes("App") && w.on.includes("status"));
    assert.ok(
      onStatus.every((w) => w.seen),
      "an app's other status writes recount nothing",
    );
  });

  it("a group looks again at each object of it removed; a service hears its group", () => {
    assert.deepEqual(mapped(GROUP_WATCHES, "removed", app("web")), [{ key: "Group//acme" }]);
    assert.deepEqual(mapped(GROUP_WATCHES, "removed", quota()), [{ key: "Group//acme" }]);
    assert.deepEqual(mapped(GROUP_WATCHES, "deleting", app("web")), []);
    assert.deepEqual(mapped(SERVICE_WATCHES, "status", group()), [{ group: "acme", kind: "Service" }]);
  });
});

describe("the watch router", () => {
  const objects = [
    group(),
    quota(),
    service("db"),
    service("cache"),
    app("web", ["db"]),
    app("worker", ["cache"]),
    app("plain"),
  ];
  let listings: ListFilter[];
  let enqueued: string[];
  let router: WatchRouter;
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  beforeEach(() => {
    listings = [];
    enqueued = [];
    const store = {
      view: (filter: ListFilter = {}) => {
        listings.push(filter);
        return objects.filter(
          (o) =>
            (!filter.kind || o.kind === filter.kind) &&
            (filter.group === undefined || o.metadata.group === filter.group),
        );
      },
      eventsInFlight: { pending: 0, delivered: 0 },
      peek: (key: string) => objects.find((o) => keyOf(o) === key),
    };
    router = new WatchRouter([GROUP_WATCHES, QUOTA_WATCHES, SERVICE_WATCHES, APP_WATCHES], store, (key) =>
      enqueued.push(key),
    );
  });
  afterEach(() => router.stop());

  it("requeues an object on its own creation, spec and deletion, not on its status", () => {
    for (const type of ["added", "spec", "deleting", "status", "metadata"] as const)
      router.handle(event(type, app("plain")));
    assert.deepEqual(enqueued, ["App/acme/plain", "App/acme/plain", "App/acme/plain"]);
  });

  it("gathers a turn's group requeues into one listing of the kind asked for", async () => {
    for (const name of ["a", "b", "c"]) router.handle(event("added", app(name)));
    assert.deepEqual(enqueued, ["App/acme/a", "App/acme/b", "App/acme/c"], "the quota waits for the end of the turn");
    await turn();
    assert.deepEqual(listings, [{ group: "acme", kind: "Quota" }]);
    assert.deepEqual(enqueued.slice(3), ["Quota/acme/default"]);
  });

  it("requeues only the apps bound to a service whose status changed", async () => {
    router.handle(event("status", service("db")));
    await turn();
    assert.deepEqual(enqueued, ["App/acme/web"]);
  });

  it("requeues a group's objects once per change of what they see of it, in one listing", async () => {
    const ready = (message: string): Resource =>
      group(setCondition({}, { type: "Ready", status: "True", reason: "Converged", message }, 1));
    router.handle(event("status", ready("network up")));
    router.handle(event("status", ready("network up, 1 load balancer")));
    await turn();
    assert.deepEqual(listings, [{ group: "acme" }], "three kinds asked for: the group listed once");
    assert.deepEqual(
      enqueued.sort(),
      objects
        .filter((o) => o.kind !== "Group")
        .map(keyOf)
        .sort(),
    );
    enqueued.length = 0;
    router.handle(event("status", ready("network up, 2 load balancers")));
    await turn();
    assert.deepEqual(enqueued, [], "a progress message requeues nothing");
    router.handle(event("removed", group()));
    router.handle(event("status", ready("network up")));
    await turn();
    assert.equal(enqueued.length, 6, "a group made again under the name is seen anew");
  });

  it("looks at a group again when one of its objects is removed, at once", () => {
    router.handle(event("removed", service("db")));
    assert.deepEqual(enqueued, ["Group//acme"]);
  });

  it("requeues at once the apps that pull with their swarm group's registry credentials when that Secret changes", async () => {
    router.stop();
    const swarm = {
      ...group(),
      spec: {
        provider: "swarm",
        swarm: { registry: "10.0.0.1:5000", registryAuth: { secret: "regcreds", usernameKey: "u", passwordKey: "p" } },
      },
    } as Resource;
    const pulling = app("pulling");
    const own = { ...app("own"), spec: { image: "busybox", imagePullSecret: "mine" } } as Resource;
    const objects = [swarm, pulling, own];
    router = new WatchRouter(
      [APP_WATCHES],
      {
        view: (filter: ListFilter = {}) => objects.filter((o) => o.metadata.group === filter.group),
        eventsInFlight: { pending: 0, delivered: 0 },
        peek: (key: string) => objects.find((o) => keyOf(o) === key),
      },
      (key) => enqueued.push(key),
    );
    const secret = (name: string) =>
      ({ apiVersion: API, kind: "Secret", metadata: { name, group: "acme" }, spec: {} }) as Resource;
    router.handle(event("spec", secret("regcreds")));
    await turn();
    assert.deepEqual(enqueued, ["App/acme/pulling"], "an app with a pull secret of its own reads not the group's");
    enqueued.length = 0;
    router.handle(event("spec", secret("mine")));
    await turn();
    assert.deepEqual(enqueued, ["App/acme/own"]);
  });

  it("applies only the declarations it is given", async () => {
    router.stop();
    router = new WatchRouter(
      [APP_WATCHES],
      { view: () => objects, eventsInFlight: { pending: 0, delivered: 0 }, peek: () => undefined },
      (key) => enqueued.push(key),
    );
    router.handle(event("added", app("web")));
    router.handle(event("removed", app("web")));
    await turn();
    assert.deepEqual(enqueued, ["App/acme/web"], "no quota, no group: their controllers do not run");
  });
});
