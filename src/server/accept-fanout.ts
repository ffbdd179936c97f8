import { type SendHandle, spawn } from "node:child_process";
import { createServer, type Server } from "node:net";

/** Listening descriptors added to the server's one: each turn of the event loop accepts one connection per descriptor. */
export const EXTRA_LISTENERS = 7;
/** The helper process has this long to hand the descriptors back; past it the server listens on its one. */
const HANDOFF_TIMEOUT_MS = 5000;
/** Sends each handle it is given straight back: passing a handle between processes duplicates its descriptor. */
const ECHO = `process.on("message", (message, handle) => process.send(message, handle));`;

/**
 * More ways in to the server's one listening socket. libuv accepts one connection per turn of
 * the event loop for each descriptor epoll reports ready (since 1.45), so under load the kernel's
 * queue drained at 20 to 100 connections a second, one per turn: a tenant opening 150 at once
 * (stalled watches and a burst of logins) kept another's new connection waiting in it for over a
 * second while the server had time to spare (issue 13). Each descriptor here is a duplicate of
 * the same socket, made the way the cluster module shares one (a handle sent to another process,
 * which sends it back), so each turn accepts up to one connection per descriptor, as nginx's
 * multi_accept does. SO_REUSEPORT would give separate queues, but Node before 22.12 cannot set
 * it. The connections go to `server` as its own: its timeouts and shutdown cover them.
 *
 * Linux only (descriptors pass over a Unix socket); any failure leaves the server on its one
 * descriptor, as before, and is reported through `onFailure`.
 */
export async function addListeners(
  server: Server,
  count = EXTRA_LISTENERS,
  onFailure: (message: string) => void = () => undefined,
): Promise<Server[]> {
  // The server's native handle: what the cluster module passes between processes too.
  const handle = (server as unknown as { _handle?: object })._handle;
  if (count <= 0 || process.platform !== "linux" || !handle) return [];
  let handles: object[];
  try {
    handles = await duplicates(handle, count);
  } catch (err) {
    onFailure(`listening on one descriptor only: ${(err as Error).message}`);
    return [];
  }
  // Closed meanwhile: the duplicates would keep its socket listening.
  if (!server.listening) {
    for (const duplicate of handles) closeHandle(duplicate);
    return [];
  }
  return handles.map((duplicate) => {
    // As http.createServer sets them for its own connections: Nagle's delay off, half-open allowed.
    const extra = createServer({ noDelay: true, allowHalfOpen: true });
    extra.on("connection", (socket) => server.emit("connection", socket));
    extra.on("error", (err) => onFailure(`an extra listener failed: ${err.message}`));
    extra.listen(duplicate);
    return extra;
  });
}

/** Closes every extra listener; resolves once each has (the connections it took are the server's to end). */
export function closeListeners(extras: readonly Server[]): Promise<void> {
  return Promise.all(extras.map((extra) => new Promise<void>((resolve) => extra.close(() => resolve())))).then(
    () => undefined,
  );
}

function closeHandle(handle: object): void {
  (handle as { close?: () => void }).close?.();
}

/** `count` duplicates of the handle's descriptor, from a helper process that echoes it back. */
function duplicates(handle: object, count: number): Promise<object[]> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // the server's preloads (a profiler, a loader) have no business in the helper
  const helper = spawn(process.execPath, ["-e", ECHO], { stdio: ["ignore", "ignore", "ignore", "ipc"], env });
  return new Promise<object[]>((resolve, reject) => {
    const got: object[] = [];
    const timer = setTimeout(() => finish(new Error("the helper process did not answer")), HANDOFF_TIMEOUT_MS);
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const settle = (): void => {
        if (!err) {
          resolve(got);
          return;
        }
        for (const duplicate of got) closeHandle(duplicate);
        reject(err);
      };
      // Settled once the helper is gone: its copies of the descriptor would keep the socket open.
      if (helper.exitCode !== null || helper.signalCode !== null) settle();
      else {
        helper.once("exit", settle);
        helper.kill("SIGKILL");
      }
    };
    helper.on("error", (err) => finish(err));
    helper.on("exit", (code) => finish(new Error(`the helper process exited (${code})`)));
    helper.on("message", (_message, returned) => {
      if (!returned) return;
      // One still in the pipe when the helper was given up on: nothing else would close it.
      if (done) closeHandle(returned);
      else {
        got.push(returned as object);
        if (got.length === count) finish();
      }
    });
    try {
      for (let i = 0; i < count; i++) helper.send(i, handle as SendHandle);
    } catch (err) {
      finish(err as Error);
    }
  });
}
