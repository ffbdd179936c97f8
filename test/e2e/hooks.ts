import { stopEngine } from "../../support/engine.js";
import { stopMoto } from "../../support/moto.js";
import { stopSwarm } from "../../support/swarm.js";

/** Root hooks: whatever started the private engine or moto_server, they stop after the whole run. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(90_000);
    await Promise.all([stopEngine(), stopMoto(), stopSwarm()]);
  },
};
