/**
 * The shield gateway: a reverse proxy over Bulwark's strict HTTP/1 parser that evaluates each request against its
 * route's virtual patch before forwarding it.
 *
 * Forwarding decisions (see also docs in the module report):
 * - One request at a time per client connection: pipelined requests are parsed ahead but wait (the socket is
 *   paused) until the previous response is complete, so responses are always in order.
 * - Request bodies are re-framed towards the upstream: Content-Length bodies keep their length; chunked bodies
 *   are re-chunked from the parser's decoded data (chunk extensions and trailers dropped). The upstream
 *   therefore never sees the client's framing bytes.
 * - Responses are re-framed towards the client: Content-Length kept, chunked and read-until-close bodies
 *   re-chunked for HTTP/1.1 clients (close-delimited for HTTP/1.0 clients); HEAD/1xx/204/304 without body.
 * - Hop-by-hop headers (Connection and every header it names, Keep-Alive, Proxy-Connection, TE, Trailer,
 *   Upgrade, Transfer-Encoding, Content-Length) are removed and the framing headers set by the gateway; Upgrade
 *   and `Connection: Upgrade` are kept for upgrade requests and 101 responses. X-Forwarded-For is appended,
 *   X-Forwarded-Proto and X-Forwarded-Host replaced. Other headers keep their order and case.
 * - RPC_IN_DATA / RPC_OUT_DATA stream without a body timeout (only limits.stream_idle_timeout_ms); their bodies are
 *   still held for phase 2 whenever a body rule could match them, like every other request.
 * - One inspected request = one forwarded request (docs/shield.md, "Threat model"). An upgrade request is an
 *   ordinary request (its body, if any, inspected in phase 2); the bytes the client sends after it are held — not
 *   forwarded — until the upstream answers 101. Any other answer closes the connection and the held bytes are
 *   discarded: an upstream that refuses the upgrade parses what follows as HTTP (IIS does), and the rules never saw
 *   it. A body over limits.max_inspect_body_bytes that a body rule could read is refused with 413 unless
 *   limits.over_limit_body is `inspect_partial`.
 */
import net from 'node:net';
import tls from 'node:tls';
import { isLoopback } from '../../core/index.js';
import { toShieldRequest } from '../http1/index.js';
import {
  createRequestParser,
  type ParserEvent,
  type RequestHead,
  type RequestParser,
} from '../http1/parser.js';
import type { RuleTransaction } from '../seclang/index.js';
import { TooManyArgumentsError } from '../seclang/request.js';
import type { Decision, RuleMatch } from '../types.js';
import {
  type CompiledConfig,
  type CompiledRoute,
  compileGatewayConfig,
  type GatewayConfig,
  GatewayConfigError,
} from './config.js';
import {
  BodyBudget,
  BodyRateGuard,
  ConnectionCaps,
  type ConnectionRefusal,
  connectionsForDescriptors,
  descriptorCapWarning,
  softNofileLimit,
} from './limits.js';
import { auditMatches, GatewayMetrics, JsonLog } from './observe.js';
import { type Lease, PoolBusyError, UpstreamPool } from './pool.js';
import { createResponseParser, type ResponseHead, type ResponseParser } from './response.js';

export interface GatewayAddress {
  host: string;
  port: number;
  tls: boolean;
}

export interface Gateway {
  addresses: GatewayAddress[];
  /** Compile the new config fully; on success swap routes, rules, TLS certificates and logs. Throws otherwise. */
  reload(newConfig: GatewayConfig): Promise<void>;
  /** Stop accepting, close idle connections, let in-flight requests finish (bounded by shutdown_grace_ms). */
  close(): Promise<void>;
  metrics: GatewayMetrics;
  /**
   * Called for every request answered 502 (or cut off) because of its upstream: the route, and the error (an
   * UpstreamCertificateError when the certificate was refused). The CLI reports these on standard error.
   */
  onUpstreamError(listener: (route: string, error: Error) => void): void;
  /** Said once at start-up, for standard error: e.g. connection limits capped by the open-file limit. */
  warnings: string[];
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

const RPC_METHODS = new Set(['RPC_IN_DATA', 'RPC_OUT_DATA']);
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
  'content-length',
]);
const MAX_PENDING = 256 * 1024;

function simpleResponse(status: number, body = '', close = true, type = 'text/plain; charset=utf-8'): string {
  const text = STATUS_TEXT[status] ?? (status < 300 ? 'OK' : 'Error');
  return (
    `HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `${body ? `Content-Type: ${type}\r\n` : ''}` +
    `${close ? 'Connection: close\r\n' : ''}\r\n${body}`
  );
}

/**
 * Over a connection cap: a 503 the client can read (never silence), then close. The request is not read; what the
 * client sends is discarded for at most a second so the answer is not lost to a reset.
 */
function refuseConnection(sock: net.Socket, reason: ConnectionRefusal) {
  const why = reason === 'per_address' ? 'too many connections from your address' : 'too many connections';
  const body = `${why}, retry later\n`;
  sock.on('error', () => {});
  sock.on('data', () => {});
  sock.end(
    `HTTP/1.1 503 Service Unavailable\r\nContent-Length: ${body.length}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Retry-After: 5\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => sock.destroy(), 1000).unref();
}

function normalizeAddr(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** Percent-decode unreserved characters only (routing must not be evaded by `%6fwa` for `owa`). */
function routingPath(target: string): string {
  if (target === '*') return '/'; // OPTIONS * is routed by host alone
  let p = target;
  const abs = /^https?:\/\/[^/?#]*/i.exec(p);
  if (abs) p = p.slice(abs[0].length) || '/';
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  return p
    .replace(/%([0-9a-fA-F]{2})/g, (m, h: string) => {
      const c = String.fromCharCode(Number.parseInt(h, 16));
      return /[A-Za-z0-9\-._~]/.test(c) ? c : m;
    })
    .toLowerCase();
}

function hostOf(head: RequestHead): string | undefined {
  const abs = /^https?:\/\/([^/?#]+)/i.exec(head.target);
  if (abs) return abs[1];
  for (const [n, v] of head.headers) if (n.toLowerCase() === 'host') return v;
  return undefined;
}

function hostName(host: string | undefined): string {
  if (!host) return '';
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const c = h.lastIndexOf(':');
  return c >= 0 ? h.slice(0, c) : h;
}

function nameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (pattern.startsWith('*.'))
    return name.endsWith(pattern.slice(1)) && name.indexOf('.') === name.length - pattern.length + 1;
  return false;
}

/** One compiled configuration with its upstream pools and TLS contexts; replaced as a whole on reload. */
class Generation {
  readonly pools = new Map<string, UpstreamPool>();
  readonly tlsContexts: Array<
    { byName: Array<{ names: string[]; ctx: tls.SecureContext }>; fallback: tls.SecureContext } | undefined
  >;

  constructor(readonly compiled: CompiledConfig) {
    const l = compiled.config.limits;
    const bounds = { waitTimeoutMs: l.pool_wait_timeout_ms, queueMax: l.pool_queue_max };
    for (const r of compiled.routes) this.pools.set(r.name, new UpstreamPool(r.upstream, bounds));
    this.tlsContexts = compiled.tls.map((t) => {
      if (!t) return undefined;
      try {
        return {
          byName: t.contexts.map((c) => ({
            names: c.names,
            ctx: tls.createSecureContext({ cert: c.cert, key: c.key }),
          })),
          fallback: tls.createSecureContext({ cert: t.fallback.cert, key: t.fallback.key }),
        };
      } catch (e) {
        throw new GatewayConfigError(`TLS certificate or key is invalid: ${(e as Error).message}`);
      }
    });
  }

  contextFor(listenIndex: number, servername: string): tls.SecureContext | undefined {
    const t = this.tlsContexts[listenIndex];
    if (!t) return undefined;
    const name = servername.toLowerCase();
    for (const c of t.byName) if (c.names.some((p) => p === name)) return c.ctx;
    for (const c of t.byName) if (c.names.some((p) => nameMatches(p, name))) return c.ctx;
    return t.fallback;
  }

  route(head: RequestHead): CompiledRoute | undefined {
    const host = hostName(hostOf(head));
    const p = routingPath(head.target);
    for (const r of this.compiled.routes) {
      if (r.hosts && !r.hosts.some((h) => nameMatches(h, host))) continue;
      if (!p.startsWith(r.pathPrefix.toLowerCase())) continue;
      return r;
    }
    return undefined;
  }

  retire() {
    for (const p of this.pools.values()) p.close();
  }
}

interface Listener {
  server: net.Server;
  index: number;
  tls: boolean;
}

/**
 * Test-only observation of the rule engine's verdicts (the framing property test compares them with what the
 * upstream parses). Not reachable from configuration or the CLI.
 */
export interface GatewayProbe {
  /**
   * A request the rules evaluated and allowed, called once just before it is forwarded, in order: its head and the
   * body phase 2 inspected (undefined when phase 2 ran without it, because no body rule could match).
   */
  allowed?(head: RequestHead, inspectedBody: Buffer | undefined): void;
}

export async function startGateway(config: GatewayConfig, probe?: GatewayProbe): Promise<Gateway> {
  const gw = new GatewayImpl(new Generation(compileGatewayConfig(config)), probe);
  // Descriptors run out before the connection caps otherwise (a systemd service gets 1024 by default): read once.
  const warnings: string[] = [];
  const nofile = softNofileLimit();
  if (nofile !== undefined) {
    gw.caps.descriptorCap = connectionsForDescriptors(nofile);
    const w = descriptorCapWarning(nofile, gw.config.limits);
    if (w) warnings.push(w);
  }
  await gw.listen();
  return {
    addresses: gw.addresses,
    reload: (c) => gw.reload(c),
    close: () => gw.close(),
    metrics: gw.metrics,
    onUpstreamError: (l) => gw.upstreamErrorListeners.push(l),
    warnings,
  };
}

class GatewayImpl {
  readonly metrics = new GatewayMetrics();
  readonly connections = new Set<ClientConn>();
  readonly upstreamErrorListeners: Array<(route: string, error: Error) => void> = [];
  accessLog: JsonLog;
  auditLog: JsonLog;
  listeners: Listener[] = [];
  addresses: GatewayAddress[] = [];
  closing = false;

  readonly caps = new ConnectionCaps();
  readonly budget = new BodyBudget();

  constructor(
    public gen: Generation,
    readonly probe?: GatewayProbe,
  ) {
    this.accessLog = new JsonLog(gen.compiled.config.access_log);
    this.auditLog = new JsonLog(gen.compiled.config.audit_log);
    this.metrics.source = {
      pools: () => [...this.gen.pools].map(([route, p]) => [route, p.stats] as const),
      bufferedBodyBytes: () => this.budget.used,
      bufferedBodyBytesPeak: () => this.budget.peak,
    };
  }

  get config(): GatewayConfig {
    return this.gen.compiled.config;
  }

  async listen(): Promise<void> {
    const cfg = this.config;
    try {
      for (let i = 0; i < cfg.listen.length; i++) {
        const l = cfg.listen[i]!;
        let server: net.Server;
        if (l.tls) {
          const fallback = this.gen.compiled.tls[i]!.fallback;
          const s = tls.createServer({
            cert: fallback.cert,
            key: fallback.key,
            allowHalfOpen: true,
            ALPNProtocols: ['http/1.1'],
            handshakeTimeout: cfg.limits.header_timeout_ms,
            SNICallback: (name, cb) => cb(null, this.gen.contextFor(i, name)),
          });
          s.on('secureConnection', (sock) => this.accept(sock, true));
          s.on('tlsClientError', () => {});
          server = s;
        } else {
          server = net.createServer({ allowHalfOpen: true }, (sock) => this.accept(sock, false));
        }
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(l.port, l.host, () => {
            server.removeListener('error', reject);
            resolve();
          });
        });
        const a = server.address() as net.AddressInfo;
        this.listeners.push({ server, index: i, tls: !!l.tls });
        this.addresses.push({ host: a.address, port: a.port, tls: !!l.tls });
      }
    } catch (e) {
      for (const l of this.listeners) l.server.close();
      this.gen.retire();
      await Promise.all([this.accessLog.close(), this.auditLog.close()]);
      throw e;
    }
  }

  accept(sock: net.Socket, isTls: boolean) {
    if (this.closing) {
      sock.destroy();
      return;
    }
    const addr = normalizeAddr(sock.remoteAddress);
    const refused = this.caps.admit(addr, this.config.limits);
    if (refused) {
      this.metrics.rejectedConnections.inc({ reason: refused });
      refuseConnection(sock, refused);
      return;
    }
    const c = new ClientConn(this, sock, isTls);
    this.connections.add(c);
    this.metrics.connections.inc();
    sock.once('close', () => {
      this.caps.release(addr);
      this.connections.delete(c);
      this.metrics.connections.dec();
    });
  }

  async reload(newConfig: GatewayConfig): Promise<void> {
    let next: Generation;
    try {
      const old = this.config;
      const same =
        newConfig.listen.length === old.listen.length &&
        newConfig.listen.every((l, i) => {
          const o = old.listen[i]!;
          return l.host === o.host && (l.port === o.port || o.port === 0) && !!l.tls === !!o.tls;
        });
      if (!same) throw new GatewayConfigError('listen addresses changed: restart the gateway to apply them');
      next = new Generation(compileGatewayConfig(newConfig));
    } catch (e) {
      this.metrics.reloads.inc({ result: 'error' });
      throw e;
    }
    const prev = this.gen;
    this.gen = next;
    for (const l of this.listeners) {
      const t = next.compiled.tls[l.index];
      if (t && l.server instanceof tls.Server)
        l.server.setSecureContext({ cert: t.fallback.cert, key: t.fallback.key });
    }
    // Logs are always reopened (same path too): `mv access.log access.log.1 && kill -HUP` rotates them.
    const oldAccess = this.accessLog;
    const oldAudit = this.auditLog;
    this.accessLog = new JsonLog(newConfig.access_log);
    this.auditLog = new JsonLog(newConfig.audit_log);
    void oldAccess.close();
    void oldAudit.close();
    prev.retire();
    this.metrics.reloads.inc({ result: 'ok' });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = Promise.all(
      this.listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))),
    );
    for (const c of this.connections) c.shutdown();
    const grace = this.config.limits.shutdown_grace_ms;
    const drained = new Promise<void>((resolve) => {
      const check = () => {
        if (this.connections.size === 0) resolve();
        else setTimeout(check, 20).unref();
      };
      check();
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const c of this.connections) c.destroy();
          resolve();
        }, grace);
      }),
    ]);
    clearTimeout(timer);
    await closed;
    this.gen.retire();
    await Promise.all([this.accessLog.close(), this.auditLog.close()]);
  }
}

/** One request/response exchange on a client connection. */
interface Exchange {
  head: RequestHead;
  gen: Generation;
  route: CompiledRoute | undefined;
  start: bigint;
  hasBody: boolean;
  stream: boolean;
  /** Body bytes received so far. */
  bodyIn: number;
  bytesOut: number;
  matches: RuleMatch[];
  detectionOnly: boolean;
  decision: 'allow' | 'deny' | 'drop' | 'flag' | 'local' | 'error';
  status: number;
  error?: string;
  reqDone: boolean;
  resDone: boolean;
  /** 'inspect' buffers the body for phase 2; 'connect' waits for an upstream; 'forward' streams. */
  phase: 'inspect' | 'connect' | 'forward' | 'local';
  /** The rule evaluation of this request while its body is buffered for phase 2. */
  txn?: RuleTransaction;
  pending: Buffer[];
  pendingBytes: number;
  trailers?: Array<[string, string]>;
  sentContinue: boolean;
  lease?: Lease;
  pool?: UpstreamPool;
  resParser?: ResponseParser;
  resHead?: ResponseHead;
  resChunked: boolean;
  resStarted: boolean;
  closeAfter: boolean;
  tunnel: boolean;
  /** Client bytes after an upgrade request, held until the upstream answers 101 (never forwarded otherwise). */
  tunnelPending: Buffer[];
  tunnelPendingBytes: number;
  upstreamReqDone: boolean;
  retried: boolean;
  logged: boolean;
  /** Bytes of `pending` reserved from the gateway's body budget (limits.max_buffered_body_bytes). */
  budgeted: number;
}

class ClientConn {
  readonly parser: RequestParser;
  readonly remote: string;
  private backlog: ParserEvent[] = [];
  private cur: Exchange | undefined;
  private headerTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private bodyTimer: NodeJS.Timeout | undefined;
  private rateGuard: BodyRateGuard | undefined;
  /** Armed only while a response write waits for the client to drain (limits.client_write_timeout_ms). */
  private writeTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private dead = false;
  private clientEnded = false;
  private waitingDrain = false;

  constructor(
    readonly gw: GatewayImpl,
    readonly sock: net.Socket,
    readonly isTls: boolean,
  ) {
    const limits = gw.config.limits;
    this.parser = createRequestParser({
      maxHeaderBytes: limits.max_header_bytes,
      maxBodyBytes: limits.max_body_bytes,
    });
    this.remote = normalizeAddr(sock.remoteAddress);
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('end', () => this.onEnd());
    sock.on('error', () => this.destroy());
    sock.on('close', () => this.onClose());
    this.armHeaderTimer();
  }

  private get limits() {
    return this.gw.config.limits;
  }

  // ---- timers ----------------------------------------------------------------------------------------------

  private armHeaderTimer() {
    clearTimeout(this.headerTimer);
    this.headerTimer = setTimeout(() => {
      this.headerTimer = undefined;
      if (this.cur) return;
      this.gw.metrics.timeouts.inc({ kind: 'header' });
      if (this.parser.idle) this.destroy();
      else this.failLocal(408, 'request head not received in time');
    }, this.limits.header_timeout_ms);
  }

  private armIdleTimer() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.gw.metrics.timeouts.inc({ kind: 'idle' });
      this.destroy();
    }, this.limits.idle_timeout_ms);
  }

  private clearTimers() {
    clearTimeout(this.headerTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.bodyTimer);
    clearTimeout(this.writeTimer);
    this.rateGuard?.stop();
    this.headerTimer = this.idleTimer = this.bodyTimer = this.writeTimer = this.rateGuard = undefined;
  }

  // ---- client input ----------------------------------------------------------------------------------------

  private onData(d: Buffer) {
    if (this.dead) return;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    const events = this.parser.push(d);
    for (const e of events) this.backlog.push(e);
    if (!this.cur && !this.headerTimer && this.parser.state === 'head' && !this.parser.idle)
      this.armHeaderTimer();
    this.pump();
  }

  private onEnd() {
    this.clientEnded = true;
    if (this.dead) return;
    if (this.cur?.tunnel) {
      this.cur.lease?.socket.end();
      return;
    }
    for (const e of this.parser.finish()) this.backlog.push(e);
    this.pump();
    // As nginx (proxy_ignore_client_abort off): a client that closes while its response is pending aborts it.
    if (this.cur && !this.cur.resDone && this.cur.reqDone) {
      this.cur.error ??= 'client closed the connection';
      this.destroy();
    } else if (!this.cur && this.backlog.length === 0) this.destroy();
  }

  private onClose() {
    this.dead = true;
    this.clearTimers();
    const x = this.cur;
    if (x) {
      if (!x.resDone) x.error ??= 'client closed the connection';
      x.pool?.cancel(x);
      this.releaseBudget(x);
      this.abortUpstream(x);
      this.log(x);
      this.cur = undefined;
    }
  }

  private pump() {
    while (this.backlog.length > 0 && !this.dead) {
      const ev = this.backlog[0]!;
      if (this.cur?.reqDone && (ev.type === 'head' || ev.type === 'error')) {
        this.sock.pause(); // pipelined: wait for the current response
        return;
      }
      this.backlog.shift();
      this.handle(ev);
    }
  }

  private handle(ev: ParserEvent) {
    switch (ev.type) {
      case 'head':
        this.onHead(ev.request);
        return;
      case 'body':
        if (this.cur) this.onBody(this.cur, ev.data);
        return;
      case 'end':
        if (this.cur) this.onReqEnd(this.cur, ev.trailers);
        return;
      case 'tunnel':
        if (this.cur) this.onTunnelData(this.cur, ev.data);
        return;
      case 'error': {
        this.gw.metrics.protocolErrors.inc({ status: String(ev.status) });
        const x = this.cur;
        if (x) {
          x.error = `client: ${ev.reason}`;
          x.decision = 'error';
          this.abortUpstream(x);
          x.closeAfter = true;
          if (!x.resStarted) {
            x.status = ev.status;
            this.writeAndClose(simpleResponse(ev.status, `${ev.reason}\n`));
          } else this.destroy();
          this.finishExchange(x);
        } else {
          this.gw.accessLog.write({
            time: new Date().toISOString(),
            client: this.remote,
            status: ev.status,
            decision: 'error',
            error: `client: ${ev.reason}`,
          });
          this.failLocal(ev.status, ev.reason);
        }
        return;
      }
    }
  }

  private failLocal(status: number, reason: string) {
    this.writeAndClose(simpleResponse(status, `${reason}\n`));
  }

  /** Write then close gracefully (read and discard what the client still sends, for a short while). */
  private writeAndClose(data: string | Buffer) {
    if (this.dead) return;
    this.dead = true;
    this.clearTimers();
    this.backlog = [];
    this.sock.removeAllListeners('data');
    this.sock.on('data', () => {});
    this.sock.resume();
    this.sock.end(data);
    setTimeout(() => this.sock.destroy(), 2000).unref();
  }

  destroy() {
    this.dead = true;
    this.clearTimers();
    this.sock.destroy();
  }

  /** Gateway shutdown: close now when idle, else after the current exchange. */
  shutdown() {
    this.closing = true;
    if (!this.cur && this.parser.idle) this.destroy();
  }

  // ---- request processing ----------------------------------------------------------------------------------

  private onHead(head: RequestHead) {
    clearTimeout(this.headerTimer);
    this.headerTimer = undefined;
    const gen = this.gw.gen;
    const cfg = gen.compiled.config;
    const x: Exchange = {
      head,
      gen,
      route: undefined,
      start: process.hrtime.bigint(),
      hasBody: head.chunked || (head.contentLength ?? 0) > 0,
      stream: RPC_METHODS.has(head.method),
      bodyIn: 0,
      bytesOut: 0,
      matches: [],
      detectionOnly: false,
      decision: 'allow',
      status: 0,
      reqDone: false,
      resDone: false,
      phase: 'connect',
      pending: [],
      pendingBytes: 0,
      sentContinue: false,
      resChunked: false,
      resStarted: false,
      closeAfter: !head.keepAlive || this.closing,
      tunnel: false,
      tunnelPending: [],
      tunnelPendingBytes: 0,
      upstreamReqDone: false,
      retried: false,
      logged: false,
      budgeted: 0,
    };
    this.cur = x;
    if (x.hasBody && !x.stream) this.armBodyTimers(x);

    // Local endpoints.
    const p = routingPath(head.target);
    if (p === cfg.health_path.toLowerCase() || p === cfg.metrics.path.toLowerCase()) {
      x.phase = 'local';
      x.decision = 'local';
      if (p === cfg.health_path.toLowerCase()) {
        this.respondLocal(x, 200, '{"status":"ok"}\n', 'application/json');
      } else if (!isLoopback(this.remote)) {
        this.respondLocal(x, 404, 'not found\n');
      } else {
        void this.gw.metrics.registry.metrics().then(
          (text) => this.respondLocal(x, 200, text, this.gw.metrics.registry.contentType),
          () => this.respondLocal(x, 500, 'metrics failed\n'),
        );
      }
      return;
    }

    const route = gen.route(head);
    x.route = route;
    if (!route) {
      x.phase = 'local';
      x.decision = 'local';
      this.respondLocal(x, 404, 'no route for this host and path\n');
      return;
    }
    const txn = route.ruleset.begin(toShieldRequest(head, this.remote), { maxArgs: this.limits.max_args });
    if (!this.evaluate(x, txn, 1)) return;
    const limit = this.limits.max_inspect_body_bytes;
    // Buffer the body only when a phase-2 rule that reads it can still match this request (its conditions on the
    // request line and headers hold); otherwise phase 2 decides now and the body streams through uninspected.
    // Upgrade requests and RPC_IN_DATA/RPC_OUT_DATA are no exception: a streamed method is no reason to skip a rule.
    if (route.ruleset.needsBody && x.hasBody && this.bodyNeeded(txn)) {
      const partial = this.limits.over_limit_body === 'inspect_partial';
      if (!partial && (head.contentLength ?? 0) > limit) {
        this.refuseOverLimit(x); // before any 100 Continue: the client need not send the body at all
        return;
      }
      // inspect_partial with a zero bound is the old "no body inspection": phase 2 runs below without the body.
      if (limit > 0 || !partial) x.phase = 'inspect';
    }
    if (x.phase === 'inspect') {
      x.txn = txn;
      // A held RPC body is an ordinary bounded one (at most max_inspect_body_bytes): it gets the same time bounds.
      if (x.stream) this.armBodyTimers(x);
      if (this.hasExpectContinue(head)) {
        x.sentContinue = true;
        this.sock.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
      return;
    }
    if (!this.evaluate(x, txn, 2)) return;
    this.auditFlag(x);
    this.gw.probe?.allowed?.(head, undefined);
    this.connectUpstream(x);
  }

  /**
   * A body a rule could read is larger than the inspection bound: 413 and close (ModSecurity's
   * `SecRequestBodyLimitAction Reject`), so no byte past the inspected prefix can reach the upstream.
   */
  private refuseOverLimit(x: Exchange) {
    x.txn = undefined;
    x.phase = 'local';
    x.decision = 'deny';
    x.error = `request body over limits.max_inspect_body_bytes (${this.limits.max_inspect_body_bytes})`;
    this.audit(x, 'deny', 413);
    this.respondLocal(x, 413, 'request body too large to inspect\n', undefined, true);
  }

  /** Does phase 2 need this request's body? When the rules cannot tell (an error), inspect it. */
  private bodyNeeded(txn: RuleTransaction): boolean {
    try {
      return txn.needsBody();
    } catch {
      return true; // too many query ARGS included: phase 2 meets the same error and refuses the request
    }
  }

  private hasExpectContinue(head: RequestHead): boolean {
    return head.headers.some(([n, v]) => n.toLowerCase() === 'expect' && v.toLowerCase() === '100-continue');
  }

  /** Phase evaluation; false when the request was blocked (and handled). */
  private evaluate(x: Exchange, txn: RuleTransaction, phase: 1 | 2, body?: Buffer): boolean {
    const route = x.route!;
    let d: Decision;
    try {
      d = phase === 1 ? txn.phase1() : txn.phase2(body);
    } catch (e) {
      if (e instanceof TooManyArgumentsError) {
        // Over limits.max_args: refused, never forwarded uninspected. 400 as ModSecurity's recommended rule 200007.
        x.error = `request has ${e.message}`;
        x.decision = 'deny';
        x.phase = 'local';
        this.gw.metrics.argsLimitRejections.inc();
        this.audit(x, 'deny', 400);
        this.respondLocal(x, 400, 'too many arguments to inspect\n', undefined, true);
        return false;
      }
      x.error = `rule evaluation failed: ${(e as Error).message}`;
      x.decision = 'error';
      x.phase = 'local';
      this.respondLocal(x, 500, 'internal error\n', undefined, true);
      return false;
    }
    x.matches.push(...d.matches);
    if (d.detectionOnly) x.detectionOnly = true;
    for (const m of d.matches) {
      this.gw.metrics.ruleHits.inc({
        rule_id: String(m.id),
        route: route.name,
        mode: d.detectionOnly ? 'detect' : 'enforce',
      });
    }
    if (d.action === 'allow') return true;
    x.decision = d.action;
    x.phase = 'local';
    this.audit(x, d.action, d.status);
    if (d.action === 'drop') {
      x.status = 0;
      x.closeAfter = true;
      this.destroy();
      this.finishExchange(x);
    } else {
      this.respondLocal(x, d.status ?? 403, '', undefined, true);
    }
    return false;
  }

  private audit(x: Exchange, action: string, status?: number) {
    this.gw.auditLog.write({
      time: new Date().toISOString(),
      client: this.remote,
      route: x.route?.name,
      method: x.head.method,
      target: x.head.target.slice(0, 2048),
      action,
      ...(status !== undefined ? { status } : {}),
      mode: x.detectionOnly ? 'detect' : 'enforce',
      rule_ids: x.matches.map((m) => m.id),
      matches: auditMatches(x.matches),
    });
  }

  /** Allowed with matches (detect mode or `pass` rules): audit once, as `flag`. */
  private auditFlag(x: Exchange) {
    if (x.matches.length === 0) return;
    x.decision = 'flag';
    this.audit(x, 'flag');
  }

  private respondLocal(x: Exchange, status: number, body: string, type?: string, close = false) {
    if (x.resDone || this.dead) return;
    x.status = status;
    x.resStarted = true;
    const closeNow = close || x.closeAfter || this.closing;
    const data = simpleResponse(status, body, closeNow, type);
    x.bytesOut += Buffer.byteLength(data);
    x.resDone = true;
    if (closeNow) {
      x.closeAfter = true;
      this.writeAndClose(data);
      this.finishExchange(x);
      return;
    }
    this.sock.write(data);
    if (x.reqDone) this.finishExchange(x);
  }

  /** body_timeout_ms for the whole body, and the minimum data rate (one timer each, only for requests with a body). */
  private armBodyTimers(x: Exchange) {
    this.bodyTimer = setTimeout(
      () => this.bodyTimedOut(x, 'body', 'request body not received in time'),
      this.limits.body_timeout_ms,
    );
    const l = this.limits;
    if (l.min_body_rate_bytes > 0) {
      this.rateGuard = new BodyRateGuard(
        l.min_body_rate_window_ms,
        l.min_body_rate_bytes,
        () => this.sock.isPaused(),
        () =>
          this.bodyTimedOut(
            x,
            'body_rate',
            `request body slower than ${l.min_body_rate_bytes} bytes per ${l.min_body_rate_window_ms} ms`,
          ),
      );
    }
  }

  /** The body did not arrive in time (`body`) or too slowly (`body_rate`): 408, and the upstream freed. */
  private bodyTimedOut(x: Exchange, kind: 'body' | 'body_rate', reason: string) {
    if (this.cur !== x || this.dead) return;
    this.gw.metrics.timeouts.inc({ kind });
    x.error = reason;
    x.closeAfter = true;
    x.pool?.cancel(x);
    this.abortUpstream(x);
    if (!x.resStarted) {
      x.status = 408;
      x.decision = 'error';
      x.resDone = true;
      this.writeAndClose(simpleResponse(408, `${reason}\n`));
    } else this.destroy();
    this.finishExchange(x);
  }

  private stopRateGuard() {
    this.rateGuard?.stop();
    this.rateGuard = undefined;
  }

  /** The gateway-wide body budget is spent: 503 (and close) rather than memory growing with every client. */
  private refuseOverBudget(x: Exchange) {
    this.gw.metrics.bodyBudgetRejections.inc();
    x.error = `buffered request bodies over limits.max_buffered_body_bytes (${this.limits.max_buffered_body_bytes})`;
    x.decision = 'error';
    x.txn = undefined;
    x.phase = 'local';
    x.pool?.cancel(x);
    this.abortUpstream(x); // an upgrade request waiting for its 101 holds a connection
    this.releaseBudget(x);
    x.pending = [];
    x.pendingBytes = 0;
    if (x.resStarted) {
      this.destroy();
      this.finishExchange(x);
    } else {
      const why = 'gateway busy: too many request bodies in memory, retry later\n';
      this.respondLocal(x, 503, why, undefined, true);
    }
  }

  /** The held body went to the upstream (bytes held after an upgrade request stay reserved until the 101). */
  private releaseBodyBudget(x: Exchange) {
    if (x.budgeted === 0) return;
    this.gw.budget.give(x.budgeted);
    x.budgeted = 0;
  }

  /** The exchange is over (or refused): everything it still holds is given back. */
  private releaseBudget(x: Exchange) {
    this.releaseBodyBudget(x);
    if (x.tunnelPendingBytes === 0) return;
    this.gw.budget.give(x.tunnelPendingBytes);
    x.tunnelPending = [];
    x.tunnelPendingBytes = 0;
  }

  private onBody(x: Exchange, data: Buffer) {
    x.bodyIn += data.length;
    this.rateGuard?.count(data.length);
    if (x.phase === 'local') return; // answered locally: discard
    if (x.phase === 'forward') {
      this.writeBody(x, data);
      return;
    }
    if (!this.gw.budget.take(data.length, this.limits.max_buffered_body_bytes)) {
      this.refuseOverBudget(x);
      return;
    }
    x.budgeted += data.length;
    x.pending.push(data);
    x.pendingBytes += data.length;
    if (x.phase === 'inspect') {
      const limit = this.limits.max_inspect_body_bytes;
      if (this.limits.over_limit_body === 'inspect_partial') {
        if (x.pendingBytes >= limit) this.inspectBody(x);
      } else if (x.pendingBytes > limit) this.refuseOverLimit(x); // chunked: the size is known only now
      return;
    }
    if (x.phase === 'connect' && x.pendingBytes > MAX_PENDING) this.sock.pause();
  }

  private onReqEnd(x: Exchange, trailers?: Array<[string, string]>) {
    x.reqDone = true;
    clearTimeout(this.bodyTimer);
    this.bodyTimer = undefined;
    this.stopRateGuard();
    if (trailers) x.trailers = trailers;
    if (x.phase === 'inspect') this.inspectBody(x);
    else if (x.phase === 'forward') this.endUpstreamRequest(x);
    else if (x.phase === 'local' && x.resDone) this.finishExchange(x);
  }

  /** Phase 2 on the body buffered so far (all of it, or the first max_inspect_body_bytes). */
  private inspectBody(x: Exchange) {
    const limit = this.limits.max_inspect_body_bytes;
    const all = Buffer.concat(x.pending);
    const txn = x.txn!;
    x.txn = undefined;
    x.phase = 'connect';
    const inspected = all.subarray(0, limit);
    if (!this.evaluate(x, txn, 2, inspected)) return;
    this.auditFlag(x);
    this.gw.probe?.allowed?.(x.head, inspected);
    this.connectUpstream(x);
  }

  // ---- upstream --------------------------------------------------------------------------------------------

  private connectUpstream(x: Exchange) {
    const route = x.route!;
    const pool = x.gen.pools.get(route.name)!;
    x.pool = pool;
    x.phase = 'connect';
    pool.acquire(x).then(
      (lease) => {
        if (this.cur !== x || this.dead) {
          pool.release(lease.socket, false);
          return;
        }
        x.lease = lease;
        this.startForward(x, lease);
      },
      (e: Error) => {
        if (e instanceof PoolBusyError) this.poolBusy(x, e);
        else this.upstreamFailed(x, e.message, e);
      },
    );
  }

  /** No upstream connection free (queue full or waited pool_wait_timeout_ms): a clean 503, never silence. */
  private poolBusy(x: Exchange, e: PoolBusyError) {
    if (this.cur !== x || x.resDone) return;
    this.gw.metrics.poolRejections.inc({ route: x.route?.name ?? '', reason: e.reason });
    x.error = e.message;
    x.decision = 'error';
    x.phase = 'local';
    this.releaseBudget(x);
    this.respondLocal(x, 503, 'upstream busy: no connection free, retry later\n', undefined, true);
  }

  private upstreamFailed(x: Exchange, reason: string, cause?: Error) {
    if (this.cur !== x || x.resDone) return;
    this.gw.metrics.upstreamErrors.inc({ route: x.route?.name ?? '' });
    for (const l of this.gw.upstreamErrorListeners) l(x.route?.name ?? '', cause ?? new Error(reason));
    x.error = reason;
    x.decision = 'error';
    this.abortUpstream(x);
    x.closeAfter = true;
    if (!x.resStarted) {
      x.status = 502;
      x.resDone = true;
      this.writeAndClose(simpleResponse(502, 'upstream unavailable\n'));
    } else this.destroy();
    this.finishExchange(x);
  }

  private abortUpstream(x: Exchange) {
    if (x.lease && x.pool) {
      const s = x.lease.socket;
      x.lease = undefined;
      x.pool.release(s, false);
    }
  }

  private buildUpstreamHead(x: Exchange): string {
    const head = x.head;
    const connTokens = new Set<string>();
    for (const [n, v] of head.headers)
      if (n.toLowerCase() === 'connection')
        for (const t of v.split(',')) connTokens.add(t.trim().toLowerCase());
    let target = head.target;
    const abs = /^https?:\/\/[^/?#]*/i.exec(target);
    if (abs) target = target.slice(abs[0].length) || '/';
    if (!target.startsWith('/') && target !== '*') target = `/${target}`;
    const lines: string[] = [`${head.method} ${target} HTTP/1.1`];
    let host: string | undefined;
    let xff: string | undefined;
    for (const [n, v] of head.headers) {
      const l = n.toLowerCase();
      if (HOP_BY_HOP.has(l) || connTokens.has(l)) continue;
      if (l === 'x-forwarded-proto' || l === 'x-forwarded-host') continue;
      if (l === 'expect' && x.sentContinue) continue;
      if (l === 'host') host = v;
      if (l === 'x-forwarded-for') {
        xff = xff ? `${xff}, ${v}` : v;
        continue;
      }
      lines.push(`${n}: ${v}`);
    }
    const origHost = hostOf(head);
    if (host === undefined) {
      const h = origHost ?? `${x.route!.upstream.host}:${x.route!.upstream.port}`;
      lines.splice(1, 0, `Host: ${h}`);
    }
    lines.push(`X-Forwarded-For: ${xff ? `${xff}, ${this.remote}` : this.remote}`);
    lines.push(`X-Forwarded-Proto: ${this.isTls ? 'https' : 'http'}`);
    if (origHost) lines.push(`X-Forwarded-Host: ${origHost}`);
    if (head.upgrade) {
      const up = head.headers.find(([n]) => n.toLowerCase() === 'upgrade');
      lines.push('Connection: Upgrade', `Upgrade: ${up?.[1] ?? ''}`);
    }
    if (head.chunked) lines.push('Transfer-Encoding: chunked');
    else if (head.contentLength !== null) lines.push(`Content-Length: ${head.contentLength}`);
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  private startForward(x: Exchange, lease: Lease) {
    const up = lease.socket;
    x.phase = 'forward';
    x.resParser = createResponseParser(x.head.method);
    up.on('data', (d: Buffer) => this.onUpstreamData(x, d));
    up.on('end', () => this.onUpstreamEnd(x));
    up.on('close', () => this.onUpstreamEnd(x));
    up.on('error', (e) => this.onUpstreamError(x, e.message));
    up.on('drain', () => {
      if (this.cur === x && !this.dead) this.sock.resume();
    });
    if (x.stream) this.armStreamTimeouts(x, up);
    up.cork();
    up.write(this.buildUpstreamHead(x), 'latin1');
    const pending = x.pending;
    x.pending = [];
    x.pendingBytes = 0;
    for (const b of pending) this.writeBody(x, b);
    up.uncork();
    this.releaseBodyBudget(x); // handed to the socket: the upstream's backpressure bounds it from here
    if (x.reqDone) this.endUpstreamRequest(x);
    // Bytes after an upgrade request stay in tunnelPending until the upstream answers 101 (onResponseHead).
    if (x.tunnelPendingBytes <= MAX_PENDING) this.sock.resume();
  }

  /** RPC streams and upgraded tunnels: only an inactivity bound applies. */
  private armStreamTimeouts(x: Exchange, up: net.Socket) {
    const onIdle = () => {
      if (this.dead) return; // both sides idle: counted once
      x.error = 'stream idle timeout';
      this.gw.metrics.timeouts.inc({ kind: x.tunnel ? 'tunnel_idle' : 'rpc_idle' });
      this.destroy();
    };
    up.setTimeout(this.limits.stream_idle_timeout_ms, onIdle);
    this.sock.setTimeout(this.limits.stream_idle_timeout_ms, onIdle);
  }

  private writeBody(x: Exchange, data: Buffer) {
    const up = x.lease?.socket;
    if (!up || data.length === 0) return;
    let ok: boolean;
    if (x.head.chunked) {
      up.write(`${data.length.toString(16)}\r\n`);
      up.write(data);
      ok = up.write('\r\n');
    } else ok = up.write(data);
    if (!ok) this.sock.pause();
  }

  private endUpstreamRequest(x: Exchange) {
    const up = x.lease?.socket;
    if (!up || x.upstreamReqDone) return;
    x.upstreamReqDone = true;
    // Request trailers are dropped: the rules never saw them, so forwarding them would be a bypass.
    if (x.head.chunked) up.write('0\r\n\r\n', 'latin1');
  }

  private onTunnelData(x: Exchange, data: Buffer) {
    const up = x.lease?.socket;
    if (x.tunnel && up) {
      if (!up.write(data)) this.sock.pause();
    } else {
      // Held bytes count against the body budget (limits.max_buffered_body_bytes) like held bodies.
      if (!this.gw.budget.take(data.length, this.limits.max_buffered_body_bytes)) {
        this.refuseOverBudget(x);
        return;
      }
      x.tunnelPending.push(Buffer.from(data));
      x.tunnelPendingBytes += data.length;
      if (x.tunnelPendingBytes > MAX_PENDING) this.sock.pause();
    }
  }

  private onUpstreamData(x: Exchange, d: Buffer) {
    if (this.cur !== x || this.dead) return;
    for (const ev of x.resParser!.push(d)) {
      if (this.cur !== x || this.dead) return;
      switch (ev.type) {
        case 'info':
          if (x.head.httpVersion === '1.1' && !x.sentContinue)
            this.writeClient(x, this.responseHead(x, ev.head, true));
          break;
        case 'head':
          this.onResponseHead(x, ev.head);
          break;
        case 'body':
          this.writeResBody(x, ev.data);
          break;
        case 'end':
          this.onResponseEnd(x);
          break;
        case 'tunnel':
          this.writeClient(x, ev.data);
          break;
        case 'error':
          this.upstreamFailed(x, `upstream protocol error: ${ev.reason}`);
          return;
      }
    }
  }

  private onUpstreamEnd(x: Exchange) {
    if (this.cur !== x || this.dead || !x.lease) return;
    if (x.tunnel) {
      this.sock.end();
      return;
    }
    // A reused keep-alive connection closed by the upstream before answering: retry once when nothing was sent.
    if (x.lease.reused && !x.resStarted && !x.hasBody && !x.retried && !x.resHead) {
      x.retried = true;
      this.abortUpstream(x);
      x.upstreamReqDone = false;
      this.connectUpstream(x);
      return;
    }
    for (const ev of x.resParser!.finish()) {
      if (ev.type === 'end') this.onResponseEnd(x);
      else if (ev.type === 'error') this.upstreamFailed(x, ev.reason);
    }
  }

  private onUpstreamError(x: Exchange, msg: string) {
    if (this.cur !== x || this.dead || !x.lease) return;
    if (x.lease.reused && !x.resStarted && !x.hasBody && !x.retried && !x.resHead) {
      this.onUpstreamEnd(x);
      return;
    }
    this.upstreamFailed(x, `upstream ${x.route?.upstream.label}: ${msg}`);
  }

  private responseHead(x: Exchange, h: ResponseHead, interim: boolean): string {
    const conn = new Set<string>();
    for (const [n, v] of h.headers)
      if (n.toLowerCase() === 'connection') for (const t of v.split(',')) conn.add(t.trim().toLowerCase());
    const lines = [`HTTP/1.1 ${h.status} ${h.reason || STATUS_TEXT[h.status] || ''}`.trimEnd()];
    const upgrade = h.status === 101;
    for (const [n, v] of h.headers) {
      const l = n.toLowerCase();
      if (upgrade && (l === 'upgrade' || l === 'connection')) {
        lines.push(`${n}: ${v}`);
        continue;
      }
      if (h.framing === 'none' && (l === 'content-length' || l === 'transfer-encoding')) {
        lines.push(`${n}: ${v}`);
        continue;
      }
      if (HOP_BY_HOP.has(l) || conn.has(l)) continue;
      lines.push(`${n}: ${v}`);
    }
    if (!interim && !upgrade) {
      if (h.framing === 'length') lines.push(`Content-Length: ${h.contentLength}`);
      else if (h.framing === 'chunked' || h.framing === 'close') {
        if (x.head.httpVersion === '1.1') {
          x.resChunked = true;
          lines.push('Transfer-Encoding: chunked');
        } else x.closeAfter = true;
      }
      // Upgrade refused: close, discarding the held bytes. The upstream now parses what follows as HTTP, which the
      // rules never saw (the client parser is in tunnel mode); re-parsing them here is possible but not needed.
      if (x.head.upgrade) x.closeAfter = true;
      if (!x.reqDone) x.closeAfter = true;
      if (this.closing) x.closeAfter = true;
      if (x.closeAfter) lines.push('Connection: close');
      else if (x.head.httpVersion === '1.0') lines.push('Connection: keep-alive');
    }
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  private onResponseHead(x: Exchange, h: ResponseHead) {
    x.resHead = h;
    x.status = h.status;
    if (h.status === 101) {
      if (!x.head.upgrade) {
        this.upstreamFailed(x, 'upstream answered 101 to a request without Upgrade');
        return;
      }
      x.resStarted = true;
      x.tunnel = true;
      this.writeClient(x, this.responseHead(x, h, false));
      const up = x.lease!.socket;
      this.armStreamTimeouts(x, up);
      for (const b of x.tunnelPending) up.write(b);
      this.gw.budget.give(x.tunnelPendingBytes);
      x.tunnelPending = [];
      x.tunnelPendingBytes = 0;
      this.sock.resume();
      return;
    }
    x.resStarted = true;
    this.writeClient(x, this.responseHead(x, h, false));
  }

  private writeClient(x: Exchange, data: string | Buffer) {
    const n = typeof data === 'string' ? Buffer.byteLength(data, 'latin1') : data.length;
    x.bytesOut += n;
    const ok = typeof data === 'string' ? this.sock.write(data, 'latin1') : this.sock.write(data);
    if (!ok && x.lease && !this.waitingDrain) {
      const up = x.lease.socket;
      up.pause();
      this.waitingDrain = true;
      // A client that does not read must not hold the upstream connection: no drain within the bound → cut.
      this.writeTimer = setTimeout(() => {
        this.writeTimer = undefined;
        this.gw.metrics.timeouts.inc({ kind: 'client_write' });
        if (this.cur) this.cur.error = 'client write timeout (response not read)';
        this.destroy();
      }, this.limits.client_write_timeout_ms);
      this.sock.once('drain', () => {
        clearTimeout(this.writeTimer);
        this.writeTimer = undefined;
        this.waitingDrain = false;
        up.resume();
      });
    }
  }

  private writeResBody(x: Exchange, data: Buffer) {
    if (data.length === 0) return;
    if (x.resChunked) {
      this.writeClient(x, `${data.length.toString(16)}\r\n`);
      this.writeClient(x, data);
      this.writeClient(x, '\r\n');
    } else this.writeClient(x, data);
  }

  private onResponseEnd(x: Exchange) {
    if (x.resDone) return;
    x.resDone = true;
    if (x.resChunked) this.writeClient(x, '0\r\n\r\n');
    const h = x.resHead;
    const reusable =
      !!h &&
      h.keepAlive &&
      h.framing !== 'close' &&
      x.reqDone &&
      x.upstreamReqDone &&
      !x.stream &&
      !x.head.upgrade;
    if (x.lease && x.pool) {
      const s = x.lease.socket;
      x.lease = undefined;
      x.pool.release(s, reusable);
    }
    if (!x.reqDone) x.closeAfter = true;
    this.finishExchange(x);
  }

  private finishExchange(x: Exchange) {
    if (this.cur !== x) {
      this.log(x);
      return;
    }
    this.cur = undefined;
    clearTimeout(this.bodyTimer);
    this.bodyTimer = undefined;
    this.stopRateGuard();
    x.pool?.cancel(x);
    this.releaseBudget(x);
    this.sock.setTimeout(0);
    this.log(x);
    if (this.dead) return;
    if (this.closing || x.closeAfter) {
      this.writeAndClose('');
      return;
    }
    this.pump();
    if (!this.cur && !this.dead) {
      if (this.clientEnded) {
        this.writeAndClose('');
        return;
      }
      this.sock.resume();
      if (this.parser.idle) this.armIdleTimer();
      else if (!this.headerTimer) this.armHeaderTimer();
    }
  }

  private log(x: Exchange) {
    if (x.logged) return;
    x.logged = true;
    const ms = Number(process.hrtime.bigint() - x.start) / 1e6;
    const route = x.route?.name ?? '';
    let decision: string = x.decision;
    if (decision === 'allow' && x.error) decision = 'error';
    this.gw.metrics.requests.inc({ route, decision });
    if (x.route) this.gw.metrics.duration.observe({ route }, ms / 1000);
    this.gw.accessLog.write({
      time: new Date().toISOString(),
      client: this.remote,
      route,
      method: x.head.method,
      target: x.head.target.slice(0, 2048),
      status: x.status,
      bytes_in: x.head.headBytes + x.bodyIn,
      bytes_out: x.bytesOut,
      duration_ms: Math.round(ms * 1000) / 1000,
      decision,
      rule_ids: x.matches.map((m) => m.id),
      ...(x.error ? { error: x.error } : {}),
    });
  }
}
