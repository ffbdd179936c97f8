import type { IncomingMessage, ServerResponse } from "node:http";
import type { Resource } from "../resources/types.js";
import { ApiError, COMMON_HEADERS } from "./http.js";
import type { WatchEvent, WatchHub } from "./watch-hub.js";

const BOOKMARK_EVERY_MS = 15_000;
/** A watcher this far behind is cut off; it resumes from its last position. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Streams changes as JSON lines, Kubernetes-style. Without `resourceVersion`: every matching
 * object as ADDED, a BOOKMARK with the current position, then changes. With it: the changes
 * after that position (410 Gone when they are no longer kept: list again), then live ones.
 */
export function streamWatch(
  req: IncomingMessage,
  res: ServerResponse,
  hub: WatchHub,
  options: { matches: (obj: Resource) => boolean; current: () => readonly Resource[]; resourceVersion: string | null; onOpen: (end: () => void) => () => void },
): void {
  let backlog: WatchEvent[] | undefined;
  let ended = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let forget = (): void => undefined;
  if (options.resourceVersion !== null) {
    backlog = hub.since(Number(options.resourceVersion));
    if (!backlog) throw new ApiError(410, "Expired", `resourceVersion ${options.resourceVersion} is too old or unknown here; list again and watch from the list's resourceVersion`);
  }
  res.writeHead(200, { ...COMMON_HEADERS, "content-type": "application/x-ndjson; charset=utf-8" });
  res.flushHeaders();
  const send = (line: object): void => {
    if (ended) return;
    res.write(JSON.stringify(line) + "\n");
    if (res.writableLength > MAX_BUFFERED_BYTES) end();
  };
  const bookmark = (): void => send({ type: "BOOKMARK", resourceVersion: hub.current });
  // Subscribing and reading the backlog in the same turn: no change falls between them.
  const unsubscribe = hub.subscribe((event) => {
    if (options.matches(event.object)) send(event);
  });
  if (backlog) {
    for (const event of backlog) if (options.matches(event.object)) send(event);
  } else {
    for (const object of options.current()) send({ type: "ADDED", object, resourceVersion: hub.current });
    bookmark();
  }
  heartbeat = setInterval(bookmark, BOOKMARK_EVERY_MS);
  forget = options.onOpen(() => end());
  function end(): void {
    if (ended) return;
    ended = true;
    if (!res.writableEnded) res.end();
    clearInterval(heartbeat);
    unsubscribe();
    forget();
  }
  req.on("close", end);
  res.on("close", end);
}
