import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { AirloftError } from "../errors.js";
import type { AccountKind } from "./account-records.js";
import { VerifiedTokens } from "./verified-tokens.js";

/** The one algorithm tokens are signed and accepted with: `alg: none` or RS/ES confusions fail. */
export const TOKEN_ALGORITHM = "HS256";
export const TOKEN_ISSUER = "airloft";
const CLOCK_TOLERANCE_S = 30;
const MIN_KEY_BYTES = 32;

/** The audience of this installation's tokens: its state file's instance id. */
export function audienceOf(instanceId: string): string {
  return `airloft:${instanceId}`;
}

export interface Principal {
  readonly kind: AccountKind;
  readonly name: string;
  /**
   * The account's identity, never reused: a group deleted and made again under the same name is
   * another account, and the old one's tokens are refused.
   */
  readonly uid: string;
  /** The account's tokenVersion when the token was issued. */
  readonly version: number;
}

/** "kind:name": the key an account's limits and budgets are kept under, and its tokens' subject. */
export function accountKey(principal: Pick<Principal, "kind" | "name">): string {
  return `${principal.kind}:${principal.name}`;
}

/** A client that logged in to this account before: its device token is checked, not its address. */
export interface TrustedDevice {
  readonly kind: AccountKind;
  readonly name: string;
  readonly uid: string;
  /** The device token's own id, which its login limit is kept by. */
  readonly id: string;
  /** The account's tokenVersion when it was given: a new password revokes it. */
  readonly version: number;
}

const DEVICE_TTL_S = 90 * 24 * 3600;
const DEVICE_TYPE = "airloft-device+jwt";

export class InvalidTokenError extends AirloftError {
  constructor(message: string) {
    super("Unauthorized", message);
  }
}

/**
 * Issues and verifies the API's JWTs. The audience names this installation (its state file's
 * instance id), so a token from another AirLoft with the same key is refused.
 */
export class TokenService {
  /**
   * Tokens already verified, so that a client's next requests skip the signature check: jose
   * checks it through WebCrypto on libuv's thread pool, where a state file write or a password
   * hash made every request wait (6.7 s behind four hashes). The account's identity and version
   * are still checked on every request by the caller, so revocation is not delayed.
   */
  private readonly verified = new VerifiedTokens<Principal>();

  constructor(
    private readonly key: Uint8Array,
    readonly audience: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    if (key.length < MIN_KEY_BYTES)
      throw new AirloftError("InvalidConfig", `the signing key must be at least ${MIN_KEY_BYTES} bytes`);
  }

  async issue(principal: Principal): Promise<{ token: string; expiresAt: string }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.ttlSeconds;
    const token = await new SignJWT({ ver: principal.version, uid: principal.uid })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: "JWT" })
      .setSubject(accountKey(principal))
      .setIssuer(TOKEN_ISSUER)
      .setAudience(this.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token, this.now());
    if (known) return known;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience: this.audience,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp", "iat", "sub"],
        currentDate: new Date(this.now()),
      });
      const account = accountOf(payload.sub, payload.uid);
      if (!account || typeof payload.ver !== "number")
        throw new InvalidTokenError("the token names no account; log in again");
      const principal = { ...account, version: payload.ver };
      this.verified.add(token, principal, (payload.exp ?? 0) * 1000);
      return principal;
    } catch (err) {
      if (err instanceof InvalidTokenError) throw err;
      throw new InvalidTokenError(describeJoseError(err));
    }
  }

  /**
   * A device token, given at each login: a later login that shows it is from a client that knew
   * the password before, and is limited apart from guesses by others (OWASP's device cookies).
   * It has its own type and audience, so it never passes as an API token, nor the reverse.
   */
  async issueDevice(principal: Principal): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ uid: principal.uid, ver: principal.version })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: DEVICE_TYPE })
      .setSubject(accountKey(principal))
      .setIssuer(TOKEN_ISSUER)
      .setAudience(`${this.audience}:device`)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + DEVICE_TTL_S)
      .sign(this.key);
  }

  /** The device a device token names, or undefined for anything that does not verify. */
  async verifyDevice(token: string): Promise<TrustedDevice | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [TOKEN_ALGORITHM],
        typ: DEVICE_TYPE,
        issuer: TOKEN_ISSUER,
        audience: `${this.audience}:device`,
        requiredClaims: ["exp", "iat", "sub", "jti"],
        currentDate: new Date(this.now()),
      });
      const account = accountOf(payload.sub, payload.uid);
      return account && payload.jti && typeof payload.ver === "number"
        ? { ...account, id: payload.jti, version: payload.ver }
        : undefined;
    } catch {
      return undefined;
    }
  }
}

function accountOf(sub: unknown, uid: unknown): { kind: AccountKind; name: string; uid: string } | undefined {
  const match = /^(admin|group):(.+)$/.exec(typeof sub === "string" ? sub : "");
  if (!match || typeof uid !== "string" || uid === "") return undefined;
  return { kind: match[1] as AccountKind, name: match[2] ?? "", uid };
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "the token has expired; log in again";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the token's ${err.claim} claim is not accepted here`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `tokens must be signed with ${TOKEN_ALGORITHM}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  return "the token is malformed";
}

/**
 * The signing key: AIRLOFT_JWT_SECRET if set (at least 32 bytes), else a random key kept in a
 * file next to the state file (mode 0600), made on first start.
 */
export function loadSigningKey(path: string, env: NodeJS.ProcessEnv = process.env): Uint8Array {
  const fromEnv = env.AIRLOFT_JWT_SECRET;
  if (fromEnv) return new TextEncoder().encode(fromEnv);
  // A link there could make the server read or widen the mode of another file.
  if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink())
    throw new AirloftError("InvalidConfig", `${path} is a symbolic link; the signing key must be a plain file`);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(48).toString("base64url"), { mode: 0o600, flag: "wx" });
  }
  chmodSync(path, 0o600);
  return new TextEncoder().encode(readFileSync(path, "utf8").trim());
}
