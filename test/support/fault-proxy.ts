import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault = "throttle" | "unavailable" | "internal" | "denied";

/** Which fault (if any) answers a call: decided per call from its service and action. */
export type FaultPolicy = (call: { service: string; action: string }) => Fault | undefined;

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

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
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
      `${req.method} ${(req.url ?? "").split("?")[0]?.replace(/\/[A-Z0-9]{8,}/g, "/ID")}`;
    const key = `${service}:${action}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    const fault = this.policy({ service, action });
    if (fault) {
      this.injected.set(fault, (this.injected.get(fault) ?? 0) + 1);
      const { status, xml } = faultAnswer(service, fault);
      res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
      res.end(xml);
      return;
    }
    const target = new URL(this.target);
    const forward = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    forward.end(body);
  }
}

/** The error documents of each service, as the SDK parses them. */
function faultAnswer(service: string, fault: Fault): { status: number; xml: string } {
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
  }[fault] as [number, string, string];
  const id = randomUUID();
  if (service === "ec2")
    return {
      status,
      xml: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${id}</RequestID></Response>`,
    };
  return {
    status,
    xml: `<?xml version="1.0"?><ErrorResponse><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${id}</RequestId></ErrorResponse>`,
  };
}
