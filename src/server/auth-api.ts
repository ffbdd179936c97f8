import type { IncomingMessage, ServerResponse } from "node:http";
import { assertAdmin } from "./access.js";
import type { AccountKind } from "./account-records.js";
import { type Accounts, ForbiddenError, MIN_PASSWORD_LENGTH } from "./accounts.js";
import { ConcurrencyGate } from "./concurrency-gate.js";
import { ApiError, methodNotAllowed, parseJson, readBody, sendJson, tooManyRequests } from "./http.js";
import type { LimitKey, LoginLimiter } from "./login-limiter.js";
import type { Principal, TokenService, TrustedDevice } from "./tokens.js";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Login and account bodies are small. */
const SMALL_BODY_BYTES = 4096;
const ACCOUNT_KINDS: ReadonlyMap<string, AccountKind> = new Map([
  ["admins", "admin"],
  ["groups", "group"],
]);

/**
 * Per minute: failures per account from unknown clients, attempts per client address, failures
 * per trusted device, and attempts with any device of one account.
 */
export interface LoginLimits {
  readonly perAccount: number;
  readonly perAddress: number;
  readonly perDevice: number;
  readonly perAccountDevices: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAccount: 5, perAddress: 20, perDevice: 5, perAccountDevices: 30 };

export interface AuthApiOptions {
  readonly accounts: Accounts;
  readonly tokens: TokenService;
  readonly limiter: LoginLimiter;
  readonly limits?: Partial<LoginLimits>;
}

const WRONG = "wrong name or password, or the account is locked";

/** Logins (`POST /api/tokens`), who am I, and account management. */
export class AuthApi {
  /**
   * Hashing is shared out: clients with a device token of the account have their own lane, so a
   * flood of guesses from elsewhere does not queue a returning user behind it. One hash per lane:
   * scrypt runs on libuv's thread pool (4 threads), which file writes and token checks need too;
   * with a hash on every thread, every request of every tenant waited for a guess to finish.
   */
  private readonly hashing = { trusted: new ConcurrencyGate(1, 32), untrusted: new ConcurrencyGate(1, 8) };
  private readonly limits: LoginLimits;

  constructor(private readonly options: AuthApiOptions) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...options.limits };
  }

  /**
   * `POST /api/tokens` with {"group": NAME} or {"admin": NAME}, "password", and the "device"
   * token an earlier login gave, if any. Each attempt is counted before the password is hashed:
   * per account and per address for unknown clients, per device for known ones. A wrong
   * password, an unknown name and a locked account get the same answer.
   */
  async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") throw methodNotAllowed(req.method);
    const body = parseJson<{ group?: unknown; admin?: unknown; password?: unknown; device?: unknown }>(
      await readBody(req, SMALL_BODY_BYTES),
      "login",
    );
    const kind: AccountKind | undefined =
      typeof body.group === "string" ? "group" : typeof body.admin === "string" ? "admin" : undefined;
    const name = kind === "group" ? body.group : body.admin;
    if (!kind || typeof name !== "string" || typeof body.password !== "string") {
      throw new ApiError(
        400,
        "BadRequest",
        'send {"group": NAME, "password": ...} or {"admin": NAME, "password": ...}',
      );
    }
    const { accounts, limiter, tokens } = this.options;
    const device = await this.trustedDevice(body.device, kind, name);
    // Successes count too, but against the account only where a real user's login must not use
    // up what guesses left: a tenant cannot log in without end to fill the hashing queues.
    const keys: LimitKey[] = device
      ? [
          { key: `device:${device.id}`, limit: this.limits.perDevice, refundOnSuccess: true },
          { key: `devices:${kind}:${name}`, limit: this.limits.perAccountDevices },
        ]
      : [
          { key: `account:${kind}:${name}`, limit: this.limits.perAccount, refundOnSuccess: true },
          { key: `address:${req.socket.remoteAddress ?? "?"}`, limit: this.limits.perAddress },
        ];
    const gate = device ? this.hashing.trusted : this.hashing.untrusted;
    if (!gate.hasRoom) throw tooManyRequests(1000, "too many logins at once; try again shortly");
    const attempt = limiter.begin(keys);
    if (!attempt.ok) throw tooManyRequests(attempt.retryAfterMs, "too many failed logins; try again later");
    const principal = await gate.run(() => accounts.authenticate(kind, name, body.password as string));
    if (!principal) throw new ApiError(401, "Unauthorized", WRONG);
    attempt.succeeded();
    const issued = await tokens.issue(principal);
    sendJson(res, 200, {
      ...issued,
      subject: `${kind}:${name}`,
      audience: tokens.audience,
      device: await tokens.issueDevice(principal),
    });
  }

  /** The device a login shows, when it was given to this very account. */
  private async trustedDevice(token: unknown, kind: AccountKind, name: string): Promise<TrustedDevice | undefined> {
    if (typeof token !== "string" || token.length > 2048) return undefined;
    const device = await this.options.tokens.verifyDevice(token);
    const account = this.options.accounts.identity(kind, name);
    // A new password revokes the account's devices as it revokes its tokens.
    return device &&
      device.kind === kind &&
      device.name === name &&
      account !== undefined &&
      device.uid === account.uid &&
      device.version === account.version
      ? device
      : undefined;
  }

  whoami(res: ServerResponse, principal: Principal): void {
    sendJson(res, 200, { kind: principal.kind, name: principal.name });
  }

  /**
   * `GET /api/accounts` (admin) lists accounts. `PUT /api/accounts/{admins|groups}/NAME` with
   * {"password"?, "locked"?} creates or changes one: an admin may change any; a group only its own
   * password.
   */
  async accounts(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    segments: readonly string[],
  ): Promise<void> {
    const { accounts } = this.options;
    if (segments.length === 0) {
      if (req.method !== "GET") throw methodNotAllowed(req.method);
      assertAdmin(principal, "list accounts");
      sendJson(res, 200, { admins: accounts.list("admin"), groups: accounts.list("group") });
      return;
    }
    const [plural, name] = segments;
    const kind = plural ? ACCOUNT_KINDS.get(plural) : undefined;
    if (!kind || !name || segments.length !== 2) throw new ApiError(404, "NotFound", "no such account path");
    if (req.method !== "PUT") throw methodNotAllowed(req.method);
    if (!NAME.test(name) || name.length > 63)
      throw new ApiError(422, "Invalid", `account name ${JSON.stringify(name)} is not a DNS label`);
    const body = parseJson<{ password?: unknown; locked?: unknown }>(await readBody(req, SMALL_BODY_BYTES), "account");
    if (
      body.password !== undefined &&
      (typeof body.password !== "string" || body.password.length < MIN_PASSWORD_LENGTH)
    ) {
      throw new ApiError(422, "Invalid", `password: at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    if (body.locked !== undefined && typeof body.locked !== "boolean")
      throw new ApiError(422, "Invalid", "locked: true or false");
    const own = principal.kind === kind && principal.name === name;
    if (principal.kind !== "admin" && !(own && body.locked === undefined))
      throw new ForbiddenError("only an admin can manage accounts; a group can change its own password");
    if (own && kind === "admin" && body.locked === true)
      throw new ApiError(422, "Invalid", "an admin cannot lock itself");
    await accounts.update(kind, name, {
      ...(typeof body.password === "string" ? { password: body.password } : {}),
      ...(typeof body.locked === "boolean" ? { locked: body.locked } : {}),
    });
    sendJson(
      res,
      200,
      accounts.list(kind).find((a) => a.name === name),
    );
  }
}
