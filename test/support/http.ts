import { getOnce } from "../../support/http-load.js";

/** GET a URL on 127.0.0.1 and return status and body; retries while the server comes up. */
export async function httpGet(url: string, attempts = 20): Promise<{ status: number; body: string }> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await getOnce(url);
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw lastError;
}
