import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { AirloftError } from "../errors.js";
import type { AccountKind } from "../store/store.js";

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
  /** The account's tokenVersion when the token was issued. */
  readonly version: number;
}

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
  constructor(
    private readonly key: Uint8Array,
    readonly audience: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    if (key.length < MIN_KEY_BYTES) throw new AirloftError("InvalidConfig", `the signing key must be at least ${MIN_KEY_BYTES} bytes`);
  }

  async issue(principal: Principal): Promise<{ token: string; expiresAt: string }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.ttlSeconds;
    const token = await new SignJWT({ ver: principal.version })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: "JWT" })
      .setSubject(`${principal.kind}:${principal.name}`)
      .setIssuer(TOKEN_ISSUER)
      .setAudience(this.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  async verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience: this.audience,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp", "iat", "sub"],
        currentDate: new Date(this.now()),
      });
      const match = /^(admin|group):(.+)$/.exec(payload.sub ?? "");
      if (!match || typeof payload.ver !== "number") throw new InvalidTokenError("the token names no account");
      return { kind: match[1] as AccountKind, name: match[2] ?? "", version: payload.ver };
    } catch (err) {
      if (err instanceof InvalidTokenError) throw err;
      throw new InvalidTokenError(describeJoseError(err));
    }
  }
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
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(48).toString("base64url"), { mode: 0o600, flag: "wx" });
  }
  chmodSync(path, 0o600);
  return new TextEncoder().encode(readFileSync(path, "utf8").trim());
}
