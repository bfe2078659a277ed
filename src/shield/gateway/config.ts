/**
 * Gateway configuration: the schema of the config file (YAML or JSON), loading with paths resolved against
 * the file, and compilation (every route's SecLang files parsed, merged, exclusions and detect mode applied,
 * TLS certificates read). Any problem is one GatewayConfigError naming the file (and line, field or rule file:line).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { parseDocument } from 'yaml';
import {
  type DataIssue,
  Defaulted,
  dataValidator,
  LiteralUnion,
  moreProblems,
  type StaticOutput,
  StrictObject,
  withMessage,
} from '../../core/index.js';
import type { SecLangAst } from '../seclang/index.js';
import { compileRuleset, parseSecLangAst, type Ruleset, SecLangError } from '../seclang/index.js';

export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
}

const nonEmpty = Type.String({ minLength: 1 });
const absolutePath = withMessage(Type.String({ pattern: '^/' }), 'must start with /');
const int = (minimum: number, fallback: number) => Defaulted(Type.Integer({ minimum }), fallback);

const KeyPair = { cert: nonEmpty, key: nonEmpty };

const TlsSchema = StrictObject({
  certificates: Defaulted(
    Type.Array(StrictObject({ ...KeyPair, names: Type.Array(nonEmpty, { minItems: 1 }) })),
    [],
  ),
  default: Type.Optional(StrictObject(KeyPair)),
});

const ListenSchema = StrictObject({
  host: Defaulted(nonEmpty, '127.0.0.1'),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  tls: Type.Optional(TlsSchema),
});

const UpstreamSchema = StrictObject({
  url: withMessage(
    Type.String({ pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\\s]+/?$' }),
    'upstream url must be http(s)://host:port with no path',
  ),
  /** PEM file of the CA (or self-signed certificate) that signs the upstream's certificate. */
  ca: Type.Optional(nonEmpty),
  /**
   * Pin of the upstream's leaf certificate: SHA-256 of the certificate DER as 64 hex digits (colons allowed,
   * as `openssl x509 -fingerprint -sha256` prints), or `sha256//<base64>` of the SubjectPublicKeyInfo (curl's
   * --pinnedpubkey form). With a pin and no `ca`, the chain is not checked, only the pin.
   */
  pin_sha256: Type.Optional(
    withMessage(
      Type.String({ pattern: '^(([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}|sha256//[A-Za-z0-9+/]{43}=)$' }),
      'pin_sha256 must be 64 hex digits (colons allowed) or sha256//<base64 of 32 bytes>',
    ),
  ),
  servername: Type.Optional(nonEmpty),
  /** Accept any certificate: nothing verified, anyone on the path can read and change the traffic. */
  insecure: Defaulted(Type.Boolean(), false),
  /**
   * Upstream connections per route. Every long-poll (ActiveSync Ping up to ~30 min, OWA notifications, EWS
   * streaming) holds one for its whole duration, so an Exchange front end needs one per waiting device.
   */
  max_sockets: Defaulted(Type.Integer({ minimum: 1, maximum: 10_000 }), 1024),
  /** Idle pooled connections are closed after this long. */
  idle_timeout_ms: int(100, 30_000),
  connect_timeout_ms: int(100, 10_000),
});

const RouteSchema = StrictObject({
  name: withMessage(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), 'route name: letters, digits, _ . - only'),
  match: Defaulted(
    StrictObject({
      hosts: Type.Optional(Type.Array(nonEmpty)),
      path_prefix: Type.Optional(absolutePath),
    }),
    {},
  ),
  upstream: UpstreamSchema,
  /**
   * Built-in (or imported) advisories whose SecLang virtual patches this route enforces, by id — resolved from
   * the installed packs, so no path into the package is needed. Their rule files come before `rules`. One id or
   * a list; validated configs always hold a list.
   */
  advisory: Type.Optional(Type.Union([nonEmpty, Type.Array(nonEmpty, { minItems: 1 })])),
  /** With `advisory`: also the advisory's broader `-strict` patches. */
  strict: Defaulted(Type.Boolean(), false),
  rules: Defaulted(Type.Array(nonEmpty), []),
  mode: Defaulted(LiteralUnion(['enforce', 'detect']), 'enforce'),
  exclude_rule_ids: Defaulted(Type.Array(Type.Integer({ minimum: 1 })), []),
});

const LimitsSchema = StrictObject({
  max_header_bytes: int(1024, 32 * 1024),
  /** Request bodies a body rule could read are held and inspected (phase 2) up to this many bytes. */
  max_inspect_body_bytes: int(0, 1024 * 1024),
  /**
   * Such a body larger than max_inspect_body_bytes: `reject` answers 413 (ModSecurity's SecRequestBodyLimitAction
   * Reject); `inspect_partial` inspects the first max_inspect_body_bytes and forwards the rest uninspected.
   */
  over_limit_body: Defaulted(LiteralUnion(['reject', 'inspect_partial']), 'reject'),
  /** Hard bound on a request body (Content-Length or chunk sum): above → 413. RPC_IN_DATA needs ~1 GiB. */
  max_body_bytes: int(0, 4 * 1024 * 1024 * 1024),
  /** Whole request head (from the first byte, or from the connection's opening) must arrive within this. */
  header_timeout_ms: int(10, 10_000),
  /** Keep-alive connection with no request in progress is closed after this. */
  idle_timeout_ms: int(10, 60_000),
  /** Whole request body of an ordinary request must arrive within this (not RPC_IN/OUT_DATA or upgrades). */
  body_timeout_ms: int(10, 300_000),
  /** RPC_IN_DATA/RPC_OUT_DATA streams and upgraded (WebSocket) tunnels: closed after this long without bytes. */
  stream_idle_timeout_ms: int(10, 15 * 60_000),
  /** close(): in-flight requests get this long to finish before their connections are destroyed. */
  shutdown_grace_ms: int(0, 10_000),
  // Resource bounds (docs/shield.md, "Limits"): each default leaves room for Exchange's long-lived traffic.
  /** Open client connections, all listeners together; over it a new connection is answered 503 and closed. */
  max_connections: int(1, 10_000),
  /** Open client connections per source address (0: no cap). NAT and load balancers share one address. */
  max_connections_per_address: int(0, 1024),
  /** A response write the client does not drain within this (no progress) closes its connection. */
  client_write_timeout_ms: int(10, 60_000),
  /** Ordinary request bodies: fewer than `min_body_rate_bytes` in a window of this long → 408. */
  min_body_rate_window_ms: int(10, 30_000),
  /** Bytes a body must bring per window (0: no rate check; body_timeout_ms still bounds the whole body). */
  min_body_rate_bytes: int(0, 4096),
  /** Request bodies held in memory (inspected or waiting for an upstream), all connections: over it → 503. */
  max_buffered_body_bytes: int(0, 256 * 1024 * 1024),
  /** A request waiting for a free upstream connection (route pool at max_sockets) gets 503 after this. */
  pool_wait_timeout_ms: int(10, 10_000),
  /**
   * Most ARGS (query string + urlencoded body together) a rule may read from one request; over it → 400 and close
   * (ModSecurity's SecArgumentsLimit with its recommended rule 200007). Bounds the CPU one inspected body costs.
   */
  max_args: int(1, 1000),
  /** Requests that may wait per route pool; one more is answered 503 at once. */
  pool_queue_max: int(0, 1024),
});

export const GatewayConfigSchema = StrictObject({
  listen: Type.Array(ListenSchema, { minItems: 1 }),
  routes: Type.Array(RouteSchema, { minItems: 1 }),
  limits: Defaulted(LimitsSchema, {}),
  access_log: Type.Optional(nonEmpty),
  audit_log: Type.Optional(nonEmpty),
  metrics: Defaulted(StrictObject({ path: Defaulted(absolutePath, '/.bulwark/metrics') }), {}),
  health_path: Defaulted(absolutePath, '/.bulwark/health'),
});

type Checked = StaticOutput<typeof GatewayConfigSchema>;

/** What the schema cannot say: TLS has a certificate, one inspected body fits the buffers, route names differ. */
function checkGatewayConfig(c: Checked): DataIssue | undefined {
  for (const [i, l] of c.listen.entries()) {
    if (l.tls && l.tls.certificates.length === 0 && l.tls.default === undefined) {
      return { path: ['listen', i, 'tls'], message: 'tls needs at least one certificate or a default' };
    }
  }
  if (c.limits.max_buffered_body_bytes < c.limits.max_inspect_body_bytes) {
    return {
      path: ['limits', 'max_buffered_body_bytes'],
      message:
        'max_buffered_body_bytes must be at least max_inspect_body_bytes (one inspected body must fit)',
    };
  }
  const names = new Set<string>();
  for (const [i, r] of c.routes.entries()) {
    if (names.has(r.name)) return { path: ['routes', i, 'name'], message: `duplicate route ${r.name}` };
    names.add(r.name);
  }
  return undefined;
}

/** Each route's `advisory` as a list. */
function normalizeGatewayConfig(c: Checked): GatewayConfig {
  return {
    ...c,
    routes: c.routes.map(({ advisory, ...route }) =>
      advisory === undefined
        ? route
        : { ...route, advisory: Array.isArray(advisory) ? advisory : [advisory] },
    ),
  };
}

const gatewayConfig = dataValidator(GatewayConfigSchema, {
  check: checkGatewayConfig,
  normalize: normalizeGatewayConfig,
});

export type RouteConfig = Omit<Checked['routes'][number], 'advisory'> & { advisory?: string[] };
/** A validated config (defaults filled in). Paths are absolute once it comes from loadGatewayConfig/quickConfig. */
export type GatewayConfig = Omit<Checked, 'routes'> & { routes: RouteConfig[] };
export type GatewayConfigInput = Static<typeof GatewayConfigSchema>;
export type ListenConfig = GatewayConfig['listen'][number];
export type Limits = GatewayConfig['limits'];

/**
 * Rule files of an advisory's virtual patches (`-strict` ones only with `strict`); throws with a message naming
 * the problem (unknown id, no SecLang patch). The CLI passes one backed by the advisory knowledge base.
 */
export type AdvisoryResolver = (id: string, strict: boolean) => string[];

/**
 * Validate a parsed object; `base` resolves relative paths; `file` names the source in errors; `advisories`
 * resolves routes' `advisory` keys (without it such a key is an error).
 */
export function validateGatewayConfig(
  raw: unknown,
  file = '<config>',
  base = process.cwd(),
  advisories?: AdvisoryResolver,
): GatewayConfig {
  const r = gatewayConfig.safeParse(raw);
  if (!r.success) {
    const first = r.issues[0]!;
    const where = first.path.length > 0 ? first.path.map(String).join('.') : '(top level)';
    throw new GatewayConfigError(`${file}: ${where}: ${first.message}${moreProblems(r.issues.length)}`);
  }
  const c = r.data;
  const abs = (p: string) => (p === '-' ? p : path.resolve(base, p));
  for (const l of c.listen) {
    if (!l.tls) continue;
    for (const cert of l.tls.certificates) {
      cert.cert = abs(cert.cert);
      cert.key = abs(cert.key);
    }
    if (l.tls.default) {
      l.tls.default.cert = abs(l.tls.default.cert);
      l.tls.default.key = abs(l.tls.default.key);
    }
  }
  c.routes.forEach((route, i) => {
    route.rules = [...advisoryFiles(route, i, file, advisories), ...route.rules.map(abs)];
    if (route.upstream.ca) route.upstream.ca = abs(route.upstream.ca);
  });
  if (c.access_log) c.access_log = abs(c.access_log);
  if (c.audit_log) c.audit_log = abs(c.audit_log);
  return c;
}

function advisoryFiles(
  route: RouteConfig,
  i: number,
  file: string,
  resolve: AdvisoryResolver | undefined,
): string[] {
  if (!route.advisory) {
    if (route.strict)
      throw new GatewayConfigError(`${file}: routes.${i}.strict: only applies with an advisory key`);
    return [];
  }
  if (!resolve)
    throw new GatewayConfigError(
      `${file}: routes.${i}.advisory: no advisory knowledge base to resolve it here`,
    );
  try {
    return route.advisory.flatMap((id) => resolve(id, route.strict));
  } catch (e) {
    throw new GatewayConfigError(`${file}: routes.${i}.advisory: ${(e as Error).message}`);
  }
}

/** Read a YAML/JSON config file, validate it, resolve relative paths against its folder. Compiles nothing yet. */
export function loadGatewayConfig(file: string, advisories?: AdvisoryResolver): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new GatewayConfigError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new GatewayConfigError(`${file}${line ? `:${line}` : ''}: ${msg}`);
  }
  return validateGatewayConfig(doc.toJS(), file, path.dirname(path.resolve(file)), advisories);
}

/** The quick form `--listen HOST:PORT --upstream URL` (+ advisories, trust for an HTTPS upstream). */
export function quickConfig(opts: {
  listen: string;
  upstream: string;
  /** Rule files (besides the advisory's). */
  ruleFiles?: string[];
  advisory?: string;
  strict?: boolean;
  resolveAdvisory?: AdvisoryResolver;
  /** PEM file of the upstream's CA (or its self-signed certificate). */
  upstreamCa?: string;
  /** `pin_sha256` value: `sha256//<base64>` of the public key, or the certificate's SHA-256 in hex. */
  upstreamPin?: string;
  upstreamInsecure?: boolean;
  mode?: 'enforce' | 'detect';
  accessLog?: string;
  auditLog?: string;
}): GatewayConfig {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(opts.listen);
  if (!m)
    throw new GatewayConfigError(`--listen: want HOST:PORT (e.g. 127.0.0.1:8080), got "${opts.listen}"`);
  const raw: GatewayConfigInput = {
    listen: [{ host: m[1] ?? m[2]!, port: Number(m[3]) }],
    routes: [
      {
        name: 'default',
        upstream: {
          url: opts.upstream,
          ...(opts.upstreamCa ? { ca: opts.upstreamCa } : {}),
          ...(opts.upstreamPin ? { pin_sha256: opts.upstreamPin } : {}),
          ...(opts.upstreamInsecure ? { insecure: true } : {}),
        },
        ...(opts.advisory ? { advisory: opts.advisory, strict: Boolean(opts.strict) } : {}),
        rules: opts.ruleFiles ?? [],
        mode: opts.mode ?? 'enforce',
      },
    ],
  };
  if (opts.accessLog) raw.access_log = opts.accessLog;
  if (opts.auditLog) raw.audit_log = opts.auditLog;
  return validateGatewayConfig(raw, 'command line', process.cwd(), opts.resolveAdvisory);
}

// ---------------------------------------------------------------------------------------------------------------
// Compilation

export interface CompiledUpstream {
  tls: boolean;
  host: string;
  port: number;
  /** Value for the TLS servername (SNI); undefined for IP literals without `servername`. */
  servername: string | undefined;
  ca: string | undefined;
  pin: { kind: 'cert' | 'spki'; value: Buffer } | undefined;
  insecure: boolean;
  maxSockets: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** `host:port` as written (logs). */
  label: string;
}

export interface CompiledRoute {
  name: string;
  hosts: string[] | undefined;
  pathPrefix: string;
  mode: 'enforce' | 'detect';
  ruleset: Ruleset;
  upstream: CompiledUpstream;
}

export interface CompiledTls {
  contexts: Array<{ names: string[]; cert: string; key: string }>;
  fallback: { cert: string; key: string };
}

export interface CompiledConfig {
  config: GatewayConfig;
  routes: CompiledRoute[];
  /** Per listen entry (same index), when it has `tls`. */
  tls: Array<CompiledTls | undefined>;
}

function readOrThrow(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new GatewayConfigError(`${file}: cannot read ${what}: ${(e as Error).message}`);
  }
}

/** Compile one route's rule files into its ruleset (exclusions removed; DetectionOnly in detect mode). */
export function compileRouteRules(route: RouteConfig): Ruleset {
  const asts: SecLangAst[] = [];
  try {
    for (const f of route.rules) asts.push(parseSecLangAst(readOrThrow(f, 'rule file'), f));
    const ids = new Set<number>();
    for (const a of asts) for (const r of a.rules) ids.add(r.id);
    for (const id of route.exclude_rule_ids) {
      if (!ids.has(id)) {
        throw new GatewayConfigError(
          `route ${route.name}: exclude_rule_ids: rule ${id} is not defined in the route's rule files`,
        );
      }
    }
    const extra: SecLangAst = {
      file: `route ${route.name}`,
      rules: [],
      removedIds: route.exclude_rule_ids.map((id) => [id, id] as [number, number]),
      defaultActions: [],
    };
    if (route.mode === 'detect') extra.engine = 'DetectionOnly';
    return compileRuleset([...asts, extra]);
  } catch (e) {
    if (e instanceof SecLangError) throw new GatewayConfigError(`route ${route.name}: ${e.message}`);
    throw e;
  }
}

function parsePin(pin: string | undefined): CompiledUpstream['pin'] {
  if (!pin) return undefined;
  if (pin.startsWith('sha256//')) return { kind: 'spki', value: Buffer.from(pin.slice(8), 'base64') };
  return { kind: 'cert', value: Buffer.from(pin.replace(/:/g, ''), 'hex') };
}

function compileUpstream(route: RouteConfig): CompiledUpstream {
  const u = new URL(route.upstream.url);
  const tls = u.protocol === 'https:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : tls ? 443 : 80;
  if (
    !tls &&
    (route.upstream.ca || route.upstream.pin_sha256 || route.upstream.servername || route.upstream.insecure)
  ) {
    throw new GatewayConfigError(
      `route ${route.name}: upstream ca/pin_sha256/servername/insecure need an https:// url`,
    );
  }
  if (route.upstream.insecure && (route.upstream.ca || route.upstream.pin_sha256)) {
    throw new GatewayConfigError(
      `route ${route.name}: upstream insecure contradicts ca/pin_sha256 (which verify the certificate)`,
    );
  }
  return {
    tls,
    host,
    port,
    servername: route.upstream.servername ?? (isIP(host) ? undefined : host),
    ca: route.upstream.ca ? readOrThrow(route.upstream.ca, 'upstream CA') : undefined,
    pin: parsePin(route.upstream.pin_sha256),
    insecure: route.upstream.insecure,
    maxSockets: route.upstream.max_sockets,
    idleTimeoutMs: route.upstream.idle_timeout_ms,
    connectTimeoutMs: route.upstream.connect_timeout_ms,
    label: `${u.protocol}//${u.host}`,
  };
}

/** Compile everything a running gateway needs. Throws GatewayConfigError; nothing is started. */
export function compileGatewayConfig(config: GatewayConfig): CompiledConfig {
  const routes: CompiledRoute[] = config.routes.map((r) => ({
    name: r.name,
    hosts: r.match.hosts?.map((h) => h.toLowerCase()),
    pathPrefix: r.match.path_prefix ?? '/',
    mode: r.mode,
    ruleset: compileRouteRules(r),
    upstream: compileUpstream(r),
  }));
  const tls = config.listen.map((l): CompiledTls | undefined => {
    if (!l.tls) return undefined;
    const contexts = l.tls.certificates.map((c) => ({
      names: c.names.map((n) => n.toLowerCase()),
      cert: readOrThrow(c.cert, 'certificate'),
      key: readOrThrow(c.key, 'private key'),
    }));
    const d = l.tls.default;
    const fallback = d
      ? { cert: readOrThrow(d.cert, 'certificate'), key: readOrThrow(d.key, 'private key') }
      : { cert: contexts[0]!.cert, key: contexts[0]!.key };
    return { contexts, fallback };
  });
  return { config, routes, tls };
}
