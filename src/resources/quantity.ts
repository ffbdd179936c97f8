const MEMORY_UNITS: Readonly<Record<string, number>> = {
  "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
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
