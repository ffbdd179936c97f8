import type { ServiceSpec } from "./types.js";

export interface ServiceCredentials {
  readonly password: string;
}

/** Everything a provider needs to run one kind of backing service, and what apps get from it. */
export interface ServiceTemplate {
  readonly name: ServiceSpec["template"];
  readonly image: (version: string | undefined) => string;
  readonly port: number;
  /** Started through sh so that secrets stay in the environment, not in the command line. */
  readonly command: readonly string[] | undefined;
  readonly env: (creds: ServiceCredentials, host: string) => Record<string, string>;
  readonly dataPath: string;
  readonly healthCheck: readonly string[];
  /** The default prefix of the variables apps get: REDIS -> REDIS_URL. */
  readonly prefix: string;
  /** Connection settings for a bound app, by variable suffix. */
  readonly exports: (host: string, port: number, creds: ServiceCredentials) => Record<string, string>;
}

const enc = encodeURIComponent;

export const SERVICE_TEMPLATES: Readonly<Record<ServiceSpec["template"], ServiceTemplate>> = {
  redis: {
    name: "redis",
    image: (v) => `redis:${v ?? "7"}`,
    port: 6379,
    command: ["sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly yes --dir /data --port 6379'],
    env: (c) => ({ REDIS_PASSWORD: c.password }),
    dataPath: "/data",
    healthCheck: ["sh", "-c", 'redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG'],
    prefix: "REDIS",
    // "default" is the user Redis 6+ gives requirepass to; an empty user fails with some clients.
    exports: (host, port, c) => ({ URL: `redis://default:${enc(c.password)}@${host}:${port}/0` }),
  },
  postgres: {
    name: "postgres",
    image: (v) => `postgres:${v ?? "16"}`,
    port: 5432,
    command: undefined,
    env: (c) => ({
      POSTGRES_USER: "app",
      POSTGRES_PASSWORD: c.password,
      POSTGRES_DB: "app",
      PGDATA: "/var/lib/postgresql/data/pgdata",
    }),
    dataPath: "/var/lib/postgresql/data",
    healthCheck: ["pg_isready", "-U", "app", "-d", "app"],
    prefix: "DATABASE",
    exports: (host, port, c) => ({ URL: `postgres://app:${enc(c.password)}@${host}:${port}/app` }),
  },
  mongo: {
    name: "mongo",
    image: (v) => `mongo:${v ?? "7"}`,
    port: 27017,
    command: undefined,
    env: (c) => ({ MONGO_INITDB_ROOT_USERNAME: "app", MONGO_INITDB_ROOT_PASSWORD: c.password }),
    dataPath: "/data/db",
    healthCheck: ["mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"],
    prefix: "MONGO",
    exports: (host, port, c) => ({ URL: `mongodb://app:${enc(c.password)}@${host}:${port}/?authSource=admin` }),
  },
  kafka: {
    name: "kafka",
    image: (v) => `apache/kafka:${v ?? "3.7.0"}`,
    port: 9092,
    command: undefined,
    // A single KRaft node; Kafka has no password here: only the group's network reaches it.
    env: (_c, host) => ({
      KAFKA_NODE_ID: "1",
      KAFKA_PROCESS_ROLES: "broker,controller",
      KAFKA_LISTENERS: "PLAINTEXT://:9092,CONTROLLER://:9093",
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:9092`,
      KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      KAFKA_CONTROLLER_QUORUM_VOTERS: "1@localhost:9093",
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
      KAFKA_LOG_DIRS: "/var/lib/kafka/data",
    }),
    dataPath: "/var/lib/kafka/data",
    healthCheck: [
      "sh",
      "-c",
      "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 >/dev/null",
    ],
    prefix: "KAFKA",
    exports: (host, port) => ({ BROKERS: `${host}:${port}` }),
  },
};

/** The variables a bound app gets from one service: PREFIX_URL (PREFIX_BROKERS for kafka). */
export function bindingEnv(
  template: ServiceTemplate,
  host: string,
  creds: ServiceCredentials,
  prefix: string | undefined,
): Record<string, string> {
  const vars = template.exports(host, template.port, creds);
  return Object.fromEntries(
    Object.entries(vars).map(([suffix, value]) => [`${prefix ?? template.prefix}_${suffix}`, value]),
  );
}

/** The names (never the values) of a binding's variables, for status and output. */
export function bindingNames(template: ServiceTemplate, prefix: string | undefined): string[] {
  return Object.keys(template.exports("host", template.port, { password: "" })).map(
    (suffix) => `${prefix ?? template.prefix}_${suffix}`,
  );
}
