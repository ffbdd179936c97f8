import type { Command } from "commander";

/** Each flag and the variable it sets: the edge reads its settings from the environment. */
const FLAGS = [
  ["--edge-image <ref>", "AIRLOFT_EDGE_IMAGE", "the edge proxy's image (caddy:2)"],
  ["--edge-address <ip>", "AIRLOFT_EDGE_ADDRESS", "host address the edge publishes its ports on (127.0.0.1)"],
  ["--edge-http-port <port>", "AIRLOFT_EDGE_HTTP_PORT", "the edge's HTTP port on the host (80)"],
  ["--edge-https-port <port>", "AIRLOFT_EDGE_HTTPS_PORT", "the edge's HTTPS port on the host (443)"],
  ["--edge-drain-seconds <s>", "AIRLOFT_EDGE_DRAIN_SECONDS", "how long a replica leaving the edge keeps serving (5)"],
  [
    "--acme-directory <url>",
    "AIRLOFT_ACME_DIRECTORY",
    "the ACME directory TLS hosts get certificates from (Let's Encrypt)",
  ],
  ["--acme-email <address>", "AIRLOFT_ACME_EMAIL", "the ACME account's contact"],
  ["--acme-ca-root <file>", "AIRLOFT_ACME_CA_ROOT", "a PEM CA root to trust for the ACME directory's HTTPS"],
] as const;

/** The edge's settings as flags of a command that runs the controllers; a flag wins over its variable. */
export function edgeFlags(command: Command): Command {
  for (const [flag, variable, help] of FLAGS) command.option(flag, `${help}; or $${variable}`);
  return command.hook("preAction", (cmd) => {
    const opts = cmd.opts<Record<string, string | undefined>>();
    for (const [flag, variable] of FLAGS) {
      const key = flag.slice(2, flag.indexOf(" ")).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      const value = opts[key];
      if (value !== undefined) process.env[variable] = value;
    }
  });
}
