import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

/**
 * Where a tenant's webhook must never reach (SSRF): this machine, the cloud metadata address,
 * private and shared networks, multicast and reserved ranges. An installation may allow some
 * back (`--notify-allow-cidr`); the check is made on the address actually connected to.
 */
const FORBIDDEN: ReadonlyArray<readonly [string, number, "ipv4" | "ipv6"]> = [
  ["0.0.0.0", 8, "ipv4"],
  ["10.0.0.0", 8, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"],
  ["172.16.0.0", 12, "ipv4"],
  ["192.0.0.0", 24, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["198.18.0.0", 15, "ipv4"],
  ["224.0.0.0", 4, "ipv4"],
  ["240.0.0.0", 4, "ipv4"],
  // IPv4-compatible and NAT64 forms would reach the IPv4 ranges above (mapped ones are checked as IPv4).
  ["::", 96, "ipv6"],
  ["64:ff9b::", 96, "ipv6"],
  ["fc00::", 7, "ipv6"],
  ["fe80::", 10, "ipv6"],
  ["ff00::", 8, "ipv6"],
];

export class AddressPolicy {
  private readonly forbidden = new BlockList();
  private readonly allowed = new BlockList();

  /** `allow`: CIDRs (`127.0.0.1/32`, `fd00::/8`) let through although forbidden by default. */
  constructor(allow: readonly string[] = []) {
    for (const [net, prefix, type] of FORBIDDEN) this.forbidden.addSubnet(net, prefix, type);
    for (const cidr of allow) {
      const { net, prefix, type } = parseCidr(cidr);
      this.allowed.addSubnet(net, prefix, type);
    }
  }

  /** Why an address may not be called, or undefined when it may. */
  refuses(address: string): string | undefined {
    const type = isIP(address) === 6 ? "ipv6" : isIP(address) === 4 ? "ipv4" : undefined;
    if (!type) return `${address} is not an IP address`;
    if (this.allowed.check(address, type)) return undefined;
    return this.forbidden.check(address, type)
      ? `${address} is a loopback, link-local, private or reserved address (an installation allows it with --notify-allow-cidr)`
      : undefined;
  }

  /** Checks a URL's scheme, and its host when it is an address; a name is checked when resolved (lookup). */
  checkUrl(url: URL): string | undefined {
    if (url.protocol !== "http:" && url.protocol !== "https:") return `the scheme ${url.protocol} is not http or https`;
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    return isIP(host) ? this.refuses(host) : undefined;
  }

  /** A `lookup` for http.request that refuses a name resolving to a forbidden address (no rebinding: it is the address connected to). */
  readonly lookup = (
    hostname: string,
    options: object,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = addresses.map((a) => this.refuses(a.address)).find((r) => r !== undefined);
      if (refused)
        return callback(Object.assign(new Error(`${hostname} resolves to ${refused}`), { code: "EFORBIDDEN" }), []);
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), []);
      callback(null, first.address, first.family);
    });
  };
}

/** "10.0.0.0/8" -> its parts; throws a readable error on anything else. */
export function parseCidr(cidr: string): { net: string; prefix: number; type: "ipv4" | "ipv6" } {
  const [net = "", prefixText, ...rest] = cidr.trim().split("/");
  const family = isIP(net);
  const max = family === 6 ? 128 : 32;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (family === 0 || rest.length > 0 || !/^\d+$/.test(prefixText ?? String(max)) || prefix > max)
    throw new Error(`not a CIDR: ${cidr} (say 127.0.0.1/32 or fd00::/8)`);
  return { net, prefix, type: family === 6 ? "ipv6" : "ipv4" };
}

/** The allowed CIDRs of a flag or of AIRLOFT_NOTIFY_ALLOW_CIDR: comma-separated. */
export function parseAllowList(value: string | undefined): string[] {
  const cidrs = (value ?? "")
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  for (const c of cidrs) parseCidr(c);
  return cidrs;
}
