import type { request as httpRequest } from "node:http";
import type { request as httpsRequest } from "node:https";

/** One request on a new connection (127.0.0.1 unless `host` is given): status, headers and body. */
export function fetchOnce(
  request: typeof httpRequest | typeof httpsRequest,
  options: Record<string, unknown>,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", agent: false, timeout: 10_000, ...options }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}
