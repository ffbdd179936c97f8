/** "90s", "5m", "1h30m", "250ms" or plain seconds -> milliseconds. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) throw new Error(`not a duration: ${text} (examples: 30s, 5m, 1h)`);
    total += Number(match[1]) * (units[match[2] ?? "s"] ?? 1000);
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** Milliseconds since a timestamp, the way kubectl prints AGE: 45s, 3m, 2h, 5d. */
export function formatAge(since: string | undefined, now = Date.now()): string {
  if (!since) return "-";
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
