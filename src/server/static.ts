import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { COMMON_HEADERS } from "./http.js";

/** The status page's files, read once (the folder sits next to src/ and dist/ alike). */
const ROOT = new URL("../../static/", import.meta.url);
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
  "/favicon.ico": { file: "favicon.svg", type: "image/svg+xml" },
};
/** Only our own files run: no inline script, no other origin, no framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const cache = new Map<string, Buffer>();

export function serveStatic(path: string, res: ServerResponse): boolean {
  const entry = FILES[path];
  if (!entry) return false;
  let content = cache.get(entry.file);
  if (!content) {
    content = readFileSync(new URL(entry.file, ROOT));
    cache.set(entry.file, content);
  }
  res.writeHead(200, {
    ...COMMON_HEADERS,
    "content-type": entry.type,
    "content-length": String(content.length),
    "content-security-policy": CSP,
  });
  res.end(res.req.method === "HEAD" ? undefined : content);
  return true;
}
