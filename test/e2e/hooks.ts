import { stopEngine } from "../support/engine.js";

/** Root hooks: whatever started the private engine, it stops after the whole run. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopEngine();
  },
};
