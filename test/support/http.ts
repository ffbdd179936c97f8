import { request } from "node:http";

/** GET a URL on 127.0.0.1 and return status and body; retries while the server comes up. */
export async function httpGet(url: string, attempts = 20): Promise<{ status: number; body: string }> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await new Promise((resolve, reject) => {
        const req = request(url, { timeout: 3000, agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end();
      });
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw lastError;
}
