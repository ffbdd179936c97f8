import { stopEngine } from "../../support/engine.js";
import { stopMoto } from "../../support/moto.js";

/** Root hooks: whatever started the private engine or moto_server, they stop after the whole run. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await Promise.all([stopEngine(), stopMoto()]);
  },
};
