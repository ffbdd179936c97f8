import { strict as assert } from "node:assert";
import { API_PREFIX } from "../../src/resources/kinds.js";
import type { App, StoredEvent } from "../../src/resources/types.js";
import type { ServeProcess } from "./serve.js";

/** Reads a group's apps through a running server's API, and waits on their status, never on a speed. */
export class AppWaiter {
  constructor(
    private readonly server: ServeProcess,
    private readonly token: string,
    private readonly group: string,
  ) {}

  async get(name: string): Promise<App> {
    const r = await this.server.api("GET", `${API_PREFIX}/groups/${this.group}/apps/${name}`, this.token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as App;
  }

  /** Polls the app once a second until `check` holds; the machine is shared, so only the deadline is a time. */
  async until(name: string, check: (app: App) => boolean, what: string, ms = 240_000): Promise<App> {
    const deadline = Date.now() + ms;
    for (;;) {
      const app = await this.get(name);
      if (check(app)) return app;
      if (Date.now() > deadline) throw new Error(`${name}: no ${what} in time: ${JSON.stringify(app.status)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async events(name: string): Promise<StoredEvent[]> {
    const r = await this.server.api("GET", `${API_PREFIX}/groups/${this.group}/apps/${name}/events`, this.token);
    return (r.json as { items: StoredEvent[] }).items;
  }
}
