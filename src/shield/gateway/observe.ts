/**
 * The gateway's observability: Prometheus metrics (own registry, prom-client), JSON-lines access and audit logs,
 * and the redaction that keeps cookie and Authorization values out of every log line.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RuleMatch } from '../types.js';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'bulwark_gateway_requests_total',
    help: 'Requests by route and decision (allow, deny, drop, detect, error, local)',
    labelNames: ['route', 'decision'] as const,
    registers: [this.registry],
  });
  readonly ruleHits = new Counter({
    name: 'bulwark_gateway_rule_hits_total',
    help: 'Rule matches by rule id, route and mode',
    labelNames: ['rule_id', 'route', 'mode'] as const,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'bulwark_gateway_upstream_errors_total',
    help: 'Upstream connection or protocol errors by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly protocolErrors = new Counter({
    name: 'bulwark_gateway_client_protocol_errors_total',
    help: 'Client requests refused by the HTTP/1 parser (smuggling shapes, limits) by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'bulwark_gateway_request_duration_seconds',
    help: 'Time from request head to the end of the response',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'bulwark_gateway_open_connections',
    help: 'Open client connections',
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: 'bulwark_gateway_reloads_total',
    help: 'Configuration reloads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // ---- resource bounds (limits.*): counters where a bound acted, gauges read only when scraped ----
  readonly rejectedConnections = new Counter({
    name: 'bulwark_gateway_rejected_connections_total',
    help: 'Client connections answered 503 and closed on accept, by reason (max_connections, per_address, descriptors)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly timeouts = new Counter({
    name: 'bulwark_gateway_timeouts_total',
    help: 'Client connections cut by a time bound, by kind (header, idle, body, body_rate, client_write, rpc_idle, tunnel_idle)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly poolRejections = new Counter({
    name: 'bulwark_gateway_pool_rejections_total',
    help: 'Requests answered 503 for want of an upstream connection, by route and reason (queue_full, wait_timeout)',
    labelNames: ['route', 'reason'] as const,
    registers: [this.registry],
  });
  readonly bodyBudgetRejections = new Counter({
    name: 'bulwark_gateway_body_budget_rejections_total',
    help: 'Requests answered 503 because the global buffered-body budget (max_buffered_body_bytes) was spent',
    registers: [this.registry],
  });

  readonly argsLimitRejections = new Counter({
    name: 'bulwark_gateway_args_limit_rejections_total',
    help: 'Requests answered 400 because a rule would read more ARGS than limits.max_args',
    registers: [this.registry],
  });

  /** Set by the gateway: what the scrape-time gauges below read. */
  source: MetricsSource | undefined;

  constructor() {
    const src = () => this.source;
    new Gauge({
      name: 'bulwark_gateway_pool_connections',
      help: 'Upstream connections per route pool by state (active: leased to a request, idle: kept alive)',
      labelNames: ['route', 'state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [route, s] of src()?.pools() ?? []) {
          this.set({ route, state: 'active' }, s.active);
          this.set({ route, state: 'idle' }, s.idle);
        }
      },
    });
    new Gauge({
      name: 'bulwark_gateway_pool_waiting',
      help: 'Requests waiting for an upstream connection, per route',
      labelNames: ['route'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [route, s] of src()?.pools() ?? []) this.set({ route }, s.waiting);
      },
    });
    new Gauge({
      name: 'bulwark_gateway_buffered_body_bytes',
      help: 'Request body bytes held in memory now (inspection and upstream wait), all connections',
      registers: [this.registry],
      collect() {
        this.set(src()?.bufferedBodyBytes() ?? 0);
      },
    });
    new Gauge({
      name: 'bulwark_gateway_buffered_body_bytes_peak',
      help: 'Highest bulwark_gateway_buffered_body_bytes since start',
      registers: [this.registry],
      collect() {
        this.set(src()?.bufferedBodyBytesPeak() ?? 0);
      },
    });
  }

  /** One sample of a metric (for tests and programmatic checks): the value for `labels`, or 0. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = this.registry.getSingleMetric(name);
    if (!m) throw new Error(`no metric ${name}`);
    const data = await m.get();
    const hit = data.values.find((v) =>
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
    );
    return hit?.value ?? 0;
  }
}

/** What the scrape-time gauges read from a running gateway. */
export interface MetricsSource {
  pools(): Iterable<[string, { active: number; idle: number; waiting: number }]>;
  bufferedBodyBytes(): number;
  bufferedBodyBytesPeak(): number;
}

/** A JSON-lines sink: a file (appended), `-` for stdout, or nothing. */
export class JsonLog {
  private stream: WriteStream | NodeJS.WriteStream | undefined;
  private owned = false;

  constructor(readonly target: string | undefined) {
    if (!target) return;
    if (target === '-') this.stream = process.stdout;
    else {
      this.stream = createWriteStream(target, { flags: 'a' });
      this.owned = true;
      this.stream.on('error', (e) => process.stderr.write(`bulwark gateway: log ${target}: ${e.message}\n`));
    }
  }

  write(record: Record<string, unknown>): void {
    this.stream?.write(`${JSON.stringify(record)}\n`);
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    if (!s || !this.owned) return Promise.resolve();
    return new Promise((resolve) => (s as WriteStream).end(resolve));
  }
}

const SECRET_HEADER = /^(cookie|set-cookie|authorization|proxy-authorization)$/i;

/** A cookie string with every value replaced by `[redacted N bytes]` (names kept: they are the evidence). */
export function redactCookies(s: string): string {
  return s
    .split(';')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq < 0) return part;
      const len = part.length - eq - 1;
      return `${part.slice(0, eq)}=[redacted ${len} bytes]`;
    })
    .join(';');
}

/** An excerpt safe to log for the variable it came from. */
export function redactExcerpt(variable: string, excerpt: string): string {
  const v = variable.toLowerCase();
  if (v.startsWith('request_cookies')) return v.startsWith('request_cookies_names') ? excerpt : '[redacted]';
  const m = /^request_headers:(.+)$/.exec(v);
  if (m && SECRET_HEADER.test(m[1]!)) {
    if (/cookie/.test(m[1]!)) return redactCookies(excerpt);
    const sp = excerpt.indexOf(' ');
    return sp > 0 ? `${excerpt.slice(0, sp)} [redacted]` : '[redacted]';
  }
  return excerpt;
}

export function auditMatches(matches: RuleMatch[]) {
  return matches.map((m) => ({
    id: m.id,
    phase: m.phase,
    action: m.action,
    variable: m.variable,
    excerpt: redactExcerpt(m.variable, m.excerpt),
    ...(m.msg ? { msg: m.msg } : {}),
    ...(m.severity ? { severity: m.severity } : {}),
  }));
}
