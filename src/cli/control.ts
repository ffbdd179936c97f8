import { existsSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { createInterface } from "node:readline";

/**
 * A small control channel next to the state file, for commands that must reach the process that
 * holds the writer lock (`watch`, `controller`): suspend, resume, reconcile. One JSON line each
 * way over a unix socket, which only local users with access to the state folder can open.
 */
export interface ControlRequest {
  readonly op: "suspend" | "resume" | "reconcile";
  /** An object key ("App/acme/web") or "source/NAME". */
  readonly target: string;
}

export interface ControlResponse {
  readonly ok: boolean;
  readonly message: string;
}

/** What was done, in the words every path prints (the socket, the state file, the server). */
export function controlDone(op: ControlRequest["op"], target: string): string {
  if (op === "reconcile") return `${target} ${target.startsWith("source/") ? "synced" : "queued for reconcile"}`;
  return `${target} ${op === "suspend" ? "suspended" : "resumed"}`;
}

export function controlSocketPath(statePath: string): string {
  return `${statePath}.sock`;
}

export function serveControl(path: string, handle: (req: ControlRequest) => Promise<ControlResponse>): Promise<Server> {
  if (existsSync(path)) unlinkSync(path); // left by a killed holder: we hold the lock now
  const server = createServer({ allowHalfOpen: false }, (socket) => {
    const lines = createInterface({ input: socket });
    lines.once("line", (line) => {
      let req: ControlRequest;
      try {
        req = JSON.parse(line) as ControlRequest;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, message: "malformed request" })}\n`);
        return;
      }
      handle(req).then(
        (res) => socket.end(`${JSON.stringify(res)}\n`),
        (err: unknown) =>
          socket.end(`${JSON.stringify({ ok: false, message: err instanceof Error ? err.message : String(err) })}\n`),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve(server));
  });
}

export function sendControl(path: string, req: ControlRequest, timeoutMs = 10_000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => socket.destroy(new Error("no answer from the running process")), timeoutMs);
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(`${JSON.stringify(req)}\n`);
    createInterface({ input: socket }).once("line", (line) => {
      clearTimeout(timer);
      socket.end();
      resolve(JSON.parse(line) as ControlResponse);
    });
  });
}
