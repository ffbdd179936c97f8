import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/**
 * Passwords are kept as scrypt hashes (memory-hard, salted, built into Node: no native
 * dependency to build). Stored as "scrypt$N$r$p$salt$hash", so a hash made at an earlier cost
 * still verifies (and is made again at this one on its next login: `outdated`).
 *
 * The cost is the OWASP password storage cheat sheet's minimum with the least memory: N=2^13
 * (8 MiB), r=8, p=10. It was N=2^15, r=8, p=1: 32 MiB per hash, and two hashes at once under a
 * flood of wrong logins held 64 MiB of the server's memory (issue 13's abuse run), while its time
 * (p=1) was under that minimum. This takes 2.5 times the work of that per hash, a quarter of its memory.
 */
const COST = { N: 2 ** 13, r: 8, p: 10 } as const;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: 128 * cost.N * cost.r * 2 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return ["scrypt", COST.N, COST.r, COST.p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** A stored hash's parts: "scrypt$N$r$p$salt$hash". */
function parse(stored: string) {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  return { scheme, cost: { N: Number(n), r: Number(r), p: Number(p) }, salt, hash };
}

/** Whether a stored hash was made at another cost than new ones are (then hash the password again). */
export function outdated(stored: string): boolean {
  const { cost } = parse(stored);
  return cost.N !== COST.N || cost.r !== COST.r || cost.p !== COST.p;
}

/**
 * Constant-time comparison; a malformed stored hash never matches. A hash made at a cheaper cost
 * is topped up with work at the current one, so that a login takes as long for every account
 * (and for an unknown name, checked against a decoy): the time must not tell which accounts exist.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { scheme, cost, salt, hash } = parse(stored);
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const saltBytes = Buffer.from(salt, "base64url");
  const key = await derive(password, saltBytes, cost);
  const missing = COST.N * COST.r * COST.p - cost.N * cost.r * cost.p;
  if (missing > 0) await derive(password, saltBytes, { ...COST, p: Math.ceil(missing / (COST.N * COST.r)) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to check against when the account does not exist, so that both answers take as long. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString("hex"));
  return decoy;
}

/** A new random password, for the first admin. */
export function generatePassword(): string {
  return randomBytes(18).toString("base64url");
}
