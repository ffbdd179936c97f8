/** How many of a program's last output lines a condition shows by default. */
export const LOG_LINES = 3;
const LOG_LINE_CHARS = 120;
/** Shorter values are too common ("true", ports) to hide, and too short to be a credential. */
const MIN_SECRET_LENGTH = 4;

/**
 * The last lines of a program's output as a condition may show them: each on one line and cut,
 * and every env value (service passwords among them) replaced by ***, since an app may print its
 * environment. Used for Docker containers and AWS instances' consoles alike.
 */
export function safeLogLines(output: string, env: Readonly<Record<string, string>>, lines = LOG_LINES): string[] {
  const secrets = Object.entries(env)
    .filter(([name, value]) => name !== "PORT" && value.length >= MIN_SECRET_LENGTH)
    .map(([, value]) => value)
    .sort((a, b) => b.length - a.length);
  return output
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .slice(-lines)
    .map((line) =>
      oneLine(
        secrets.reduce((text, secret) => text.split(secret).join("***"), line),
        LOG_LINE_CHARS,
      ),
    );
}

/** A single line of at most `max` characters: control characters from outside never reach a message. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
