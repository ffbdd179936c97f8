import winston from "winston";

const SECRET_KEY = /(password|passwd|secret|token|apikey|api_key|credential|private_?key)/i;

/** Replaces values of secret-looking keys anywhere in a log entry's metadata. */
const redact = winston.format((info) => {
  const scrub = (value: unknown, depth: number): unknown => {
    if (depth > 6 || !value || typeof value !== "object") return value;
    if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? "[redacted]" : scrub(v, depth + 1)]),
    );
  };
  for (const key of Object.keys(info)) {
    if (key === "message" || key === "level") continue;
    const record = info as Record<string, unknown>;
    record[key] = SECRET_KEY.test(key) ? "[redacted]" : scrub(record[key], 0);
  }
  return info;
});

export type Logger = winston.Logger;

/** Logs go to stderr so that stdout stays the command's output (tables, JSON, YAML). */
export function createLogger(options: { level?: string; json?: boolean } = {}): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.AIRLOFT_LOG_LEVEL ?? "warn",
    format: winston.format.combine(
      winston.format.errors({ stack: false }),
      redact(),
      winston.format.timestamp(),
      options.json
        ? winston.format.json()
        : winston.format.printf(({ level, message, timestamp, ...meta }) => {
            const rest = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : "";
            return `${String(timestamp)} ${level} ${String(message)}${rest}`;
          }),
    ),
    transports: [
      new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "http", "verbose", "debug", "silly"] }),
    ],
  });
}
