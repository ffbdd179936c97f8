// The manifest worker's thread when the server runs from its sources (src/server/manifest-worker.ts):
// tsx is registered here first, as bin/airloft.js does for the CLI. A built server runs its bundle.
import { register } from "tsx/esm/api";

register();
await import("./manifest-worker-main.ts");
