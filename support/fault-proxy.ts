import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault = "throttle" | "unavailable" | "internal" | "denied" | "expired" | "invalid-change";

/** One call through the proxy, as a hook sees it. */
export interface ProxiedCall {
  readonly service: string;
  readonly action: string;
  /** The form parameters of a query-protocol call (EC2, ELBv2); empty for the others. */
  readonly params: URLSearchParams;
  readonly body: Buffer;
  readonly headers: IncomingMessage["headers"];
}

/** An answer made by the proxy itself instead of the endpoint's. */
export interface ProxyAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
}

/** Which fault (if any) answers a call: decided per call from its service and action. */
export type FaultPolicy = (call: { service: string; action: string; body: string }) => Fault | undefined;

/**
 * A small HTTP proxy on 127.0.0.1 in front of moto_server that answers chosen calls with the
 * errors AWS gives: throttling (EC2's RequestLimitExceeded, ELBv2's and Route 53's Throttling),
 * 500 and 503, or a permission refusal. Everything else goes through. It counts calls by service
 * and action, and the faults it injected.
 */
export class FaultProxy {
  readonly calls = new Map<string, number>();
  readonly injected = new Map<Fault, number>();
  policy: FaultPolicy = () => undefined;
  private server: Server | undefined;
  url = "";

  constructor(protected readonly target: string) {}

  /** A subclass answers a call itself here (after the fault policy), or lets it through. */
  protected async intercept(_call: ProxiedCall): Promise<ProxyAnswer | undefined> {
    return undefined;
  }

  /** A subclass reads or rewrites the endpoint's answer to a call it let through. */
  protected async rewrite(_call: ProxiedCall, answer: ProxyAnswer): Promise<ProxyAnswer> {
    return answer;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Lets the process exit while the proxy still listens (a proxy shared by a whole run). */
  unref(): void {
    this.server?.unref();
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  total(filter: (key: string) => boolean = () => true): number {
    return [...this.calls].filter(([k]) => filter(k)).reduce((sum, [, n]) => sum + n, 0);
  }

  totalInjected(): number {
    return [...this.injected.values()].reduce((a, b) => a + b, 0);
  }

  reset(): void {
    this.calls.clear();
    this.injected.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    // SigV4 names the service in the credential scope: .../us-east-1/ec2/aws4_request.
    const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(req.headers.authorization ?? "")?.[1] ?? "unknown";
    const action =
      new URLSearchParams(body.toString("utf8")).get("Action") ??
      String(req.headers["x-amz-target"] ?? "").split(".")[1] ??
      `${req.method} ${(req.url ?? "").split("?")[0]?.replace(/\/[A-Z0-9]{8,}/g, "/ID")}`;
    const key = `${service}:${action}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    const fault = this.policy({ service, action, body: body.toString("utf8") });
    if (fault) {
      this.injected.set(fault, (this.injected.get(fault) ?? 0) + 1);
      const { status, body: xml } = faultAnswer(service, fault);
      res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
      res.end(xml);
      return;
    }
    const call: ProxiedCall = { service, action, params: queryParams(req, body), body, headers: req.headers };
    try {
      const own = await this.intercept(call);
      const answer = own ?? (await this.rewrite(call, await this.forward(req, body)));
      res.writeHead(answer.status, {
        "content-type": answer.contentType ?? "text/xml",
        "x-amzn-requestid": randomUUID(),
      });
      res.end(answer.body);
    } catch {
      res.writeHead(502);
      res.end();
    }
  }

  /** A query-protocol call of the proxy's own to the endpoint, signed as the caller's (for its account and region). */
  protected async ask(call: ProxiedCall, params: Record<string, string>): Promise<string> {
    const res = await fetch(`${this.target}/`, {
      method: "POST",
      headers: {
        authorization: String(call.headers.authorization ?? ""),
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      },
      body: new URLSearchParams({ Version: call.params.get("Version") ?? "", ...params }),
    });
    return res.text();
  }

  /** Sends a request on to the endpoint as it came, and reads the whole answer. */
  private forward(req: IncomingMessage, body: Buffer): Promise<ProxyAnswer> {
    const target = new URL(this.target);
    return new Promise((resolve, reject) => {
      const forward = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on("data", (c: Buffer) => chunks.push(c));
          answer.on("end", () =>
            resolve({
              status: answer.statusCode ?? 502,
              body: Buffer.concat(chunks).toString("utf8"),
              contentType: String(answer.headers["content-type"] ?? "text/xml"),
            }),
          );
          answer.on("error", reject);
        },
      );
      forward.on("error", reject);
      forward.end(body);
    });
  }
}

function queryParams(req: IncomingMessage, body: Buffer): URLSearchParams {
  const type = String(req.headers["content-type"] ?? "");
  return type.includes("x-www-form-urlencoded") ? new URLSearchParams(body.toString("utf8")) : new URLSearchParams();
}

/** The error documents of each service, as the SDK parses them. */
function faultAnswer(service: string, fault: Fault): ProxyAnswer {
  const [status, code, message] = {
    throttle: [
      service === "ec2" ? 503 : 400,
      service === "ec2" ? "RequestLimitExceeded" : "Throttling",
      "Rate exceeded",
    ],
    unavailable: [503, "ServiceUnavailable", "Service is unavailable"],
    internal: [500, service === "ec2" ? "InternalError" : "InternalFailure", "An internal error occurred"],
    denied: [
      403,
      service === "ec2" ? "UnauthorizedOperation" : "AccessDenied",
      "You are not authorized to perform this operation.",
    ],
    expired: [400, "ExpiredToken", "The security token included in the request is expired"],
    "invalid-change": [400, "InvalidChangeBatch", "RRSet of type A with DNS name is not permitted"],
  }[fault] as [number, string, string];
  return errorAnswer(service, status, code, message);
}

/** An error document as the service's protocol has it (EC2's, or the query protocol's of the others). */
export function errorAnswer(service: string, status: number, code: string, message: string): ProxyAnswer {
  const id = randomUUID();
  if (service === "ec2")
    return {
      status,
      body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${id}</RequestID></Response>`,
    };
  return {
    status,
    body: `<?xml version="1.0"?><ErrorResponse><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${id}</RequestId></ErrorResponse>`,
  };
}
