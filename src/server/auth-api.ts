import type { IncomingMessage, ServerResponse } from "node:http";
import type { AccountKind } from "../store/store.js";
import { assertAdmin } from "./access.js";
import { ForbiddenError, type Accounts } from "./accounts.js";
import { ApiError, methodNotAllowed, parseJson, readBody, sendJson } from "./http.js";
import type { LoginLimiter } from "./login-limiter.js";
import type { Principal, TokenService } from "./tokens.js";

const MIN_PASSWORD_LENGTH = 10;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Login and account bodies are small. */
const SMALL_BODY_BYTES = 4096;
const ACCOUNT_KINDS: Readonly<Record<string, AccountKind>> = { admins: "admin", groups: "group" };

export interface AuthApiOptions {
  readonly accounts: Accounts;
  readonly tokens: TokenService;
  readonly limiter: LoginLimiter;
}

/** Logins (`POST /api/tokens`), who am I, and account management. */
export class AuthApi {
  constructor(private readonly options: AuthApiOptions) {}

  /** `POST /api/tokens` with {"group": NAME} or {"admin": NAME}, and "password". */
  async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") throw methodNotAllowed(req.method);
    const body = parseJson<{ group?: unknown; admin?: unknown; password?: unknown }>(await readBody(req, SMALL_BODY_BYTES), "login");
    const kind: AccountKind | undefined = typeof body.group === "string" ? "group" : typeof body.admin === "string" ? "admin" : undefined;
    const name = kind === "group" ? body.group : body.admin;
    if (!kind || typeof name !== "string" || typeof body.password !== "string") {
      throw new ApiError(400, "BadRequest", 'send {"group": NAME, "password": ...} or {"admin": NAME, "password": ...}');
    }
    const { accounts, limiter, tokens } = this.options;
    const limitKey = `${req.socket.remoteAddress ?? "?"}|${kind}:${name}`;
    const waitMs = limiter.retryAfterMs(limitKey);
    if (waitMs > 0) throw new ApiError(429, "TooManyRequests", "too many failed logins; try again later", { "retry-after": String(Math.ceil(waitMs / 1000)) });
    const principal = await accounts.authenticate(kind, name, body.password);
    if (!principal) {
      limiter.fail(limitKey);
      throw new ApiError(401, "Unauthorized", "wrong name or password");
    }
    limiter.succeed(limitKey);
    const refusal = accounts.refusal(principal);
    if (refusal) throw new ForbiddenError(refusal);
    const issued = await tokens.issue(principal);
    sendJson(res, 200, { ...issued, subject: `${kind}:${name}`, audience: tokens.audience });
  }

  whoami(res: ServerResponse, principal: Principal): void {
    sendJson(res, 200, { kind: principal.kind, name: principal.name });
  }

  /**
   * `GET /api/accounts` (admin) lists accounts. `PUT /api/accounts/{admins|groups}/NAME` with
   * {"password"?, "locked"?} creates or changes one: an admin may change any; a group only its own
   * password.
   */
  async accounts(req: IncomingMessage, res: ServerResponse, principal: Principal, segments: readonly string[]): Promise<void> {
    const { accounts } = this.options;
    if (segments.length === 0) {
      if (req.method !== "GET") throw methodNotAllowed(req.method);
      assertAdmin(principal, "list accounts");
      sendJson(res, 200, { admins: accounts.list("admin"), groups: accounts.list("group") });
      return;
    }
    const [plural, name] = segments;
    const kind = plural ? ACCOUNT_KINDS[plural] : undefined;
    if (!kind || !name || segments.length !== 2) throw new ApiError(404, "NotFound", "no such account path");
    if (req.method !== "PUT") throw methodNotAllowed(req.method);
    if (!NAME.test(name) || name.length > 63) throw new ApiError(422, "Invalid", `account name ${JSON.stringify(name)} is not a DNS label`);
    const body = parseJson<{ password?: unknown; locked?: unknown }>(await readBody(req, SMALL_BODY_BYTES), "account");
    if (body.password !== undefined && (typeof body.password !== "string" || body.password.length < MIN_PASSWORD_LENGTH)) {
      throw new ApiError(422, "Invalid", `password: at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    if (body.locked !== undefined && typeof body.locked !== "boolean") throw new ApiError(422, "Invalid", "locked: true or false");
    const own = principal.kind === kind && principal.name === name;
    if (principal.kind !== "admin" && !(own && body.locked === undefined)) throw new ForbiddenError("only an admin can manage accounts; a group can change its own password");
    if (own && kind === "admin" && body.locked === true) throw new ApiError(422, "Invalid", "an admin cannot lock itself");
    await accounts.update(kind, name, {
      ...(typeof body.password === "string" ? { password: body.password } : {}),
      ...(typeof body.locked === "boolean" ? { locked: body.locked } : {}),
    });
    sendJson(res, 200, accounts.list(kind).find((a) => a.name === name));
  }
}
