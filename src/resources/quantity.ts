const MEMORY_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** "256Mi" -> bytes; a number is bytes already. */
export function parseMemory(value: number | string): number {
  if (typeof value === "number") return value;
  const match = /^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$/.exec(value);
  const unit = match ? MEMORY_UNITS[match[2] ?? ""] : undefined;
  if (!match || unit === undefined) throw new Error(`not a memory quantity: ${value}`);
  return Math.round(Number(match[1]) * unit);
}

/** "500m" -> 0.5; a number is CPUs already. */
export function parseCpu(value: number | string): number {
  if (typeof value === "number") return value;
  return value.endsWith("m") ? Number(value.slice(0, -1)) / 1000 : Number(value);
}

/**
 * The smallest limits a container runtime really enforces. Docker reads a zero limit as "no
 * limit", and refuses less than 0.01 CPU or 6 MiB: a smaller value would pass a quota as almost
 * nothing while the container runs unlimited (issue 13).
 */
export const MIN_CPU = 0.01;
export const MIN_MEMORY_BYTES = 6 * 1024 ** 2;
export const MAX_CPU = 1024;
export const MAX_MEMORY_BYTES = 1024 ** 4;

/** Why a resource limit cannot be enforced as written, or undefined when it can. */
export function limitProblem(resource: "cpu" | "memory", value: number | string): string | undefined {
  let amount: number;
  try {
    amount = resource === "cpu" ? parseCpu(value) : parseMemory(value);
  } catch {
    return undefined; // the schema names a malformed quantity
  }
  if (!Number.isFinite(amount)) return undefined;
  if (resource === "cpu") {
    if (amount < MIN_CPU) return `must be at least 10m (${MIN_CPU} CPU): a smaller or zero limit is no limit at all`;
    if (amount > MAX_CPU) return `must be at most ${MAX_CPU} CPUs`;
  } else {
    if (amount < MIN_MEMORY_BYTES) return "must be at least 6Mi: a smaller or zero limit is no limit at all";
    if (amount > MAX_MEMORY_BYTES) return "must be at most 1Ti";
  }
  return undefined;
}
