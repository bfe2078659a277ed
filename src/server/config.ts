/**
 * Server configuration: defaults, then a YAML/JSON file (`--config`), then BULWARK_* environment variables,
 * then command-line flags. docs/configuration.md is the one reference for every key.
 */
import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import {
  DataFileError,
  Defaulted,
  dataValidator,
  isLoopback,
  LiteralUnion,
  parseDataText,
  type StaticOutput,
  StrictObject,
  withMessage,
} from '../core/index.js';
import { LOG_FORMATS } from './logging.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const nonEmpty = Type.String({ minLength: 1 });

export const serverConfigSchema = StrictObject({
  /** Address and port to listen on. */
  host: Defaulted(nonEmpty, '127.0.0.1'),
  port: Defaulted(Type.Integer({ minimum: 0, maximum: 65535 }), 8440),
  /** Where the embedded database and the server lock live. */
  data_dir: Defaulted(nonEmpty, 'bulwark-data'),
  /** postgres://user:password@host:5432/db — when absent the embedded SQLite database is used. */
  database_url: Type.Optional(
    withMessage(
      Type.String({ pattern: '^[Pp][Oo][Ss][Tt][Gg][Rr][Ee][Ss]([Qq][Ll])?://' }),
      'must start with postgres:// or postgresql://; leave it out to use the embedded SQLite database',
    ),
  ),
  /** The URL people reach the server at (printed on start, used for links). */
  public_url: Type.Optional(Type.String({ format: 'uri' })),
  log_level: Defaulted(LiteralUnion(LOG_LEVELS), 'info'),
  /** Log lines: `auto` (readable on a terminal, JSON otherwise), `json` or `pretty`. */
  log_format: Defaulted(LiteralUnion(LOG_FORMATS), 'auto'),
  /** Trust X-Forwarded-* from a reverse proxy: false, true, or a comma-separated list of proxy addresses/CIDRs. */
  trust_proxy: Defaulted(Type.Union([Type.Boolean(), nonEmpty]), false),
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls: Type.Optional(StrictObject({ cert: nonEmpty, key: nonEmpty })),
  login_rate_limit: Defaulted(
    StrictObject({
      /** Failed-or-not login attempts per client address and per email within the window. */
      max: Defaulted(Type.Integer({ minimum: 1 }), 10),
      window_seconds: Defaulted(Type.Integer({ minimum: 1 }), 60),
    }),
    { max: 10, window_seconds: 60 },
  ),
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metrics_token: Type.Optional(Type.String({ minLength: 16 })),
  /**
   * Without metrics_token, /metrics answers only when the server listens on loopback; on any other address it is
   * closed (403) unless this opens it explicitly, e.g. on a private network a Prometheus scrapes without a token.
   */
  metrics_public: Defaulted(Type.Boolean(), false),
  /** Load the advisory packs shipped with Bulwark (ProxyLogon, …) on start. Off only to import them by hand. */
  builtin_advisories: Defaulted(Type.Boolean(), true),
  /** PostgreSQL connection pool size. */
  database_pool_size: Defaulted(Type.Integer({ minimum: 1, maximum: 200 }), 10),
  /** Events older than this many days go once every durable consumer handled them (the newest always stays). */
  event_retention_days: Defaulted(Type.Integer({ minimum: 1, maximum: 3650 }), 30),
  /** Succeeded, cancelled and expired jobs go this many days after they finished; failed ones three times as late. */
  job_retention_days: Defaulted(Type.Integer({ minimum: 1, maximum: 3650 }), 30),
  /** How long a worker holds a running job without a heartbeat before another worker may take it over. */
  jobs_lease_seconds: Defaulted(Type.Integer({ minimum: 5, maximum: 3600 }), 30),
  /** Open event streams (GET /api/v1/events) of one user, all sessions and tokens together, per server process. */
  event_streams_per_user: Defaulted(Type.Integer({ minimum: 1, maximum: 1000 }), 8),
  /** Open event streams per server process, every user together. */
  event_streams_max: Defaulted(Type.Integer({ minimum: 1, maximum: 100000 }), 500),
  /**
   * The installation's master key (32 random bytes): it seals the agent CA key and the job-signing keys stored in
   * the database. Default `<data_dir>/master.key`, created (mode 0600) on the first start. Every replica shares it.
   */
  master_key_file: Type.Optional(nonEmpty),
  /** Days an agent's device certificate is valid. */
  agent_cert_days: Defaulted(Type.Integer({ minimum: 1, maximum: 3650 }), 30),
  /** Seconds between an agent's heartbeats; a channel silent for two intervals is offline. */
  agent_heartbeat_s: Defaulted(Type.Integer({ minimum: 1, maximum: 3600 }), 60),
  /** New agent channel connections accepted per second per server process (burst twice that); beyond it 503. */
  agent_connect_rate: Defaulted(Type.Integer({ minimum: 1, maximum: 1000000 }), 1000),
  /** Enrolments (POST /api/v1/agents/enroll) accepted per client address per second; beyond it 429. */
  agent_enroll_rate: Defaulted(Type.Integer({ minimum: 1, maximum: 100000 }), 100),
  /** Seconds between an agent's inventory collections. */
  agent_inventory_interval_s: Defaulted(Type.Integer({ minimum: 1, maximum: 604800 }), 3600),
});

const serverConfig = dataValidator(serverConfigSchema);
/** A configuration file is a map; its keys are checked once merged with the environment and the flags. */
const configFile = dataValidator(Type.Record(Type.String(), Type.Unknown()));

export type ServerConfig = StaticOutput<typeof serverConfigSchema>;
export type ServerConfigInput = Static<typeof serverConfigSchema>;

/** Environment variables and the key each sets. */
export const ENV_KEYS: Record<string, keyof ServerConfig> = {
  BULWARK_HOST: 'host',
  BULWARK_PORT: 'port',
  BULWARK_DATA_DIR: 'data_dir',
  BULWARK_DATABASE_URL: 'database_url',
  BULWARK_PUBLIC_URL: 'public_url',
  BULWARK_LOG_LEVEL: 'log_level',
  BULWARK_LOG_FORMAT: 'log_format',
  BULWARK_TRUST_PROXY: 'trust_proxy',
  BULWARK_METRICS_TOKEN: 'metrics_token',
  BULWARK_METRICS_PUBLIC: 'metrics_public',
  BULWARK_DATABASE_POOL_SIZE: 'database_pool_size',
  BULWARK_BUILTIN_ADVISORIES: 'builtin_advisories',
  BULWARK_EVENT_RETENTION_DAYS: 'event_retention_days',
  BULWARK_JOB_RETENTION_DAYS: 'job_retention_days',
  BULWARK_JOBS_LEASE_SECONDS: 'jobs_lease_seconds',
  BULWARK_EVENT_STREAMS_PER_USER: 'event_streams_per_user',
  BULWARK_EVENT_STREAMS_MAX: 'event_streams_max',
  BULWARK_MASTER_KEY_FILE: 'master_key_file',
  BULWARK_AGENT_CERT_DAYS: 'agent_cert_days',
  BULWARK_AGENT_HEARTBEAT_S: 'agent_heartbeat_s',
  BULWARK_AGENT_CONNECT_RATE: 'agent_connect_rate',
  BULWARK_AGENT_ENROLL_RATE: 'agent_enroll_rate',
  BULWARK_AGENT_INVENTORY_INTERVAL_S: 'agent_inventory_interval_s',
};

/** Keys whose environment variable holds a whole number. */
const NUMBER_KEYS = new Set<keyof ServerConfig>([
  'port',
  'database_pool_size',
  'event_retention_days',
  'job_retention_days',
  'jobs_lease_seconds',
  'event_streams_per_user',
  'event_streams_max',
  'agent_cert_days',
  'agent_heartbeat_s',
  'agent_connect_rate',
  'agent_enroll_rate',
  'agent_inventory_interval_s',
]);

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (NUMBER_KEYS.has(key)) {
      if (!/^\d+$/.test(raw)) throw new ConfigError(`${name}: "${raw}" is not a number`);
      out[key] = Number(raw);
    } else if (key === 'builtin_advisories' || key === 'metrics_public') {
      if (raw !== 'true' && raw !== 'false')
        throw new ConfigError(`${name}: use true or false, not "${raw}"`);
      out[key] = raw === 'true';
    } else if (key === 'trust_proxy') {
      out[key] = raw === 'true' ? true : raw === 'false' ? false : raw;
    } else {
      out[key] = raw;
    }
  }
  return out;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Builds the configuration; every problem is one ConfigError naming the file, variable or key. */
export function loadServerConfig(options: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<ServerConfigInput>;
}): ServerConfig {
  let fromFile: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${options.file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
    }
    try {
      fromFile = parseDataText(text, options.file, configFile);
    } catch (err) {
      throw new ConfigError(err instanceof DataFileError ? err.message : String(err));
    }
  }
  const merged = { ...fromFile, ...fromEnv(options.env ?? {}), ...stripUndefined(options.overrides ?? {}) };
  const parsed = serverConfig.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.issues[0]!;
    const key = issue.path.join('.') || '(top level)';
    const top = String(issue.path[0] ?? '');
    // Name the layer the bad value came from: a flag, an environment variable, or the file.
    const envName = Object.entries(ENV_KEYS).find(([, k]) => k === top)?.[0];
    const where =
      top in (options.overrides ?? {}) && (options.overrides as Record<string, unknown>)[top] !== undefined
        ? `--${top.replace(/_url$/, '').replace(/_/g, '-')}`
        : envName && options.env?.[envName]
          ? envName
          : (options.file ?? 'configuration');
    throw new ConfigError(`${where}: ${key}: ${issue.message}`);
  }
  return parsed.data;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Whether `host` (the listen address) is reachable from this machine only: `localhost`, 127.0.0.0/8 or ::1.
 * Anything else — `0.0.0.0`, `::`, an interface address or a name — may be reachable from the network.
 */
export function listensOnLoopbackOnly(host: string): boolean {
  return isLoopback(host.replace(/^\[|\]$/g, ''));
}
