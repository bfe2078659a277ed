/**
 * Server configuration: defaults, then a YAML/JSON file (`--config`), then BULWARK_* environment variables,
 * then command-line flags. docs/configuration.md is the one reference for every key.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { DataFileError, parseDataText } from '../core/index.js';
import { LOG_FORMATS } from './logging.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const serverConfigSchema = z.strictObject({
  /** Address and port to listen on. */
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8440),
  /** Where the embedded database and the server lock live. */
  data_dir: z.string().min(1).default('bulwark-data'),
  /** postgres://user:password@host:5432/db — when absent the embedded SQLite database is used. */
  database_url: z
    .string()
    .regex(
      /^postgres(ql)?:\/\//i,
      'must start with postgres:// or postgresql://; leave it out to use the embedded SQLite database',
    )
    .optional(),
  /** The URL people reach the server at (printed on start, used for links). */
  public_url: z.url().optional(),
  log_level: z.enum(LOG_LEVELS).default('info'),
  /** Log lines: `auto` (readable on a terminal, JSON otherwise), `json` or `pretty`. */
  log_format: z.enum(LOG_FORMATS).default('auto'),
  /** Trust X-Forwarded-* from a reverse proxy: false, true, or a comma-separated list of proxy addresses/CIDRs. */
  trust_proxy: z.union([z.boolean(), z.string().min(1)]).default(false),
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  login_rate_limit: z
    .strictObject({
      /** Failed-or-not login attempts per client address and per email within the window. */
      max: z.number().int().min(1).default(10),
      window_seconds: z.number().int().min(1).default(60),
    })
    .default({ max: 10, window_seconds: 60 }),
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metrics_token: z.string().min(16).optional(),
  /**
   * Without metrics_token, /metrics answers only when the server listens on loopback; on any other address it is
   * closed (403) unless this opens it explicitly, e.g. on a private network a Prometheus scrapes without a token.
   */
  metrics_public: z.boolean().default(false),
  /** Load the advisory packs shipped with Bulwark (ProxyLogon, …) on start. Off only to import them by hand. */
  builtin_advisories: z.boolean().default(true),
  /** PostgreSQL connection pool size. */
  database_pool_size: z.number().int().min(1).max(200).default(10),
});

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

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
};

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (key === 'port' || key === 'database_pool_size') {
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
      fromFile = parseDataText(text, options.file, z.record(z.string(), z.unknown())) as Record<
        string,
        unknown
      >;
    } catch (err) {
      throw new ConfigError(err instanceof DataFileError ? err.message : String(err));
    }
  }
  const merged = { ...fromFile, ...fromEnv(options.env ?? {}), ...stripUndefined(options.overrides ?? {}) };
  const parsed = serverConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
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
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h) || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
}
