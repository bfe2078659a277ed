/**
 * One HTTP(S) request with hard limits, for scanning hostile or broken servers.
 *
 * - connect timeout (TCP connect + TLS handshake) and a total deadline (slow-drip safe);
 * - response body capped (default 256 KiB: reading stops, the socket is destroyed, `truncated: true`);
 * - response headers capped (16 KiB, at most 200 header lines);
 * - no redirects, no keep-alive (one socket per request, always destroyed at the end: bounded sockets);
 * - TLS: any certificate accepted (`rejectUnauthorized: false`), legacy protocol versions allowed, and the peer
 *   certificate recorded; SNI = `sni` or the host name (never an IP literal);
 * - names ending in `.invalid` (RFC 6761) fail locally with ENOTFOUND; DNS goes through an injectable `lookup`.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export type LookupFn = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

export interface Endpoint {
  scheme: 'https' | 'http';
  host: string;
  port: number;
  sni?: string;
}

export interface RequestOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  lookup?: LookupFn;
  now?: Date;
}

export interface CertName {
  CN: string | null;
  O: string | null;
}

export interface TlsInfo {
  protocol: string | null;
  subject: CertName;
  issuer: CertName;
  validFrom: string | null;
  validTo: string | null;
  fingerprint256: string | null;
  selfSigned: boolean;
  expired: boolean;
  notYetValid: boolean;
  /** OpenSSL's verdict against the default CA store (e.g. DEPTH_ZERO_SELF_SIGNED_CERT), null when trusted. */
  authorizationError: string | null;
  /** Why the certificate does not match the server name, null when it matches. */
  nameMismatch: string | null;
}

export type ErrorCode =
  | 'ENOTFOUND'
  | 'ECONNREFUSED'
  | 'ETIMEDOUT'
  | 'EUNREACH'
  | 'TLS'
  | 'PROTOCOL'
  | 'ECONNRESET'
  | 'OTHER';

export type Phase = 'dns' | 'connect' | 'tls' | 'response';

export type HttpOutcome =
  | {
      kind: 'response';
      status: number;
      headers: Record<string, string>;
      body: string;
      /** Body cut at the limit, or the connection ended before the body was complete. */
      truncated: boolean;
      tls: TlsInfo | null;
      ms: number;
    }
  /** The request was sent, then the connection was closed or reset before any response byte. */
  | { kind: 'aborted'; tls: TlsInfo | null; ms: number }
  | { kind: 'error'; code: ErrorCode; phase: Phase; message: string; tls: TlsInfo | null; ms: number };

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_BODY = 256 * 1024;
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const MAX_HEADER_LINES = 200;
export const USER_AGENT = 'Mozilla/5.0 (compatible; Bulwark-scan/0.1; +https://github.com/bulwark)';

export const defaultLookup: LookupFn = async (hostname) => {
  const all = await dns.promises.lookup(hostname, { all: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export function isInvalidName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'invalid' || h.endsWith('.invalid');
}

function enotfound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
}

function adaptLookup(fn: LookupFn): net.LookupFunction {
  const adapted = (
    hostname: string,
    options: dns.LookupOptions,
    cb: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
  ): void => {
    if (isInvalidName(hostname)) {
      process.nextTick(() => cb(enotfound(hostname), ''));
      return;
    }
    fn(hostname).then(
      (addrs) => {
        const fam = options.family === 4 || options.family === 6 ? options.family : 0;
        const list = fam ? addrs.filter((a) => a.family === fam) : addrs;
        const first = list[0];
        if (!first) return cb(enotfound(hostname), '');
        if (options.all) return cb(null, list);
        cb(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => cb(err, ''),
    );
  };
  return adapted as unknown as net.LookupFunction;
}

/** `[v6]` for IPv6 literals, otherwise unchanged. */
export function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

export function originOf(ep: Endpoint): string {
  return `${ep.scheme}://${hostForUrl(ep.host)}:${ep.port}`;
}

function nameText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.join(', ');
  return null;
}

function certTime(s: string | undefined): string | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
}

export function describeCertificate(sock: tls.TLSSocket, name: string, now: Date): TlsInfo | null {
  const c = sock.getPeerCertificate(false);
  if (!c || Object.keys(c).length === 0) return null;
  const subject: CertName = { CN: nameText(c.subject?.CN), O: nameText(c.subject?.O) };
  const issuer: CertName = { CN: nameText(c.issuer?.CN), O: nameText(c.issuer?.O) };
  const validFrom = certTime(c.valid_from);
  const validTo = certTime(c.valid_to);
  const authErr = sock.authorizationError ? String(sock.authorizationError) : null;
  const sameName = JSON.stringify(c.subject ?? {}) === JSON.stringify(c.issuer ?? {});
  let nameMismatch: string | null = null;
  try {
    const e = tls.checkServerIdentity(name, c);
    nameMismatch = e ? e.message : null;
  } catch (e) {
    nameMismatch = (e as Error).message;
  }
  const to = validTo ? Date.parse(validTo) : Number.NaN;
  const from = validFrom ? Date.parse(validFrom) : Number.NaN;
  return {
    protocol: sock.getProtocol() ?? null,
    subject,
    issuer,
    validFrom,
    validTo,
    fingerprint256: c.fingerprint256 ?? null,
    selfSigned: authErr === 'DEPTH_ZERO_SELF_SIGNED_CERT' || sameName,
    expired: !Number.isNaN(to) && to < now.getTime(),
    notYetValid: !Number.isNaN(from) && from > now.getTime(),
    authorizationError: authErr,
    nameMismatch,
  };
}

function flattenHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

const RESETS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const UNREACH = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

/** Error text on one line, at most 300 characters (OpenSSL messages carry newlines and file paths). */
function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 299)}…` : t;
}

function errCode(err: NodeJS.ErrnoException): string {
  if (err.code) return err.code;
  const inner = (err as { errors?: NodeJS.ErrnoException[] }).errors;
  return inner?.[0]?.code ?? '';
}

let sharedContext: tls.SecureContext | undefined;

/**
 * One TLS client context for every request: building one per request (CA store included) was a seventh of a
 * scan's CPU time. Old protocol versions and ciphers are allowed so that old Exchange servers still answer.
 */
function clientContext(): tls.SecureContext {
  sharedContext ??= tls.createSecureContext({ minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  return sharedContext;
}

export function httpRequest(ep: Endpoint, opts: RequestOptions): Promise<HttpOutcome> {
  const started = Date.now();
  const ms = () => Date.now() - started;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const connectTimeoutMs = Math.min(opts.connectTimeoutMs ?? timeoutMs, timeoutMs);
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const now = opts.now ?? new Date();
  const isIp = net.isIP(ep.host) !== 0;
  const name = ep.sni ?? ep.host;

  return new Promise<HttpOutcome>((resolve) => {
    let done = false;
    let phase: Phase = isIp ? 'connect' : 'dns';
    let gotBytes = false;
    let tlsInfo: TlsInfo | null = null;
    let req: http.ClientRequest | undefined;
    const timers: NodeJS.Timeout[] = [];

    const finish = (o: HttpOutcome) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      req?.destroy();
      resolve(o);
    };
    const fail = (code: ErrorCode, message: string) =>
      finish({ kind: 'error', code, phase, message: oneLine(message), tls: tlsInfo, ms: ms() });

    if (!isIp && isInvalidName(ep.host)) {
      fail('ENOTFOUND', `getaddrinfo ENOTFOUND ${ep.host} (.invalid names never resolve)`);
      return;
    }

    const defaultPort = ep.scheme === 'https' ? 443 : 80;
    const hostHeader = `${hostForUrl(name)}${ep.port === defaultPort ? '' : `:${ep.port}`}`;
    const headers: Record<string, string> = {
      Host: hostHeader,
      'User-Agent': USER_AGENT,
      Accept: '*/*',
      Connection: 'close',
      ...opts.headers,
    };
    const base: http.RequestOptions = {
      host: ep.host,
      port: ep.port,
      method: opts.method ?? 'GET',
      path: opts.path,
      headers,
      agent: false,
      maxHeaderSize: opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      lookup: adaptLookup(opts.lookup ?? defaultLookup),
    };

    try {
      if (ep.scheme === 'https') {
        // https.request passes secureContext through to tls.connect (its option type does not list it).
        const o = {
          ...base,
          rejectUnauthorized: false,
          secureContext: clientContext(),
        } as https.RequestOptions;
        if (net.isIP(name) === 0) o.servername = name;
        req = https.request(o);
      } else {
        req = http.request(base);
      }
    } catch (err) {
      fail('OTHER', (err as Error).message);
      return;
    }

    timers.push(
      setTimeout(() => {
        if (phase === 'tls') fail('TLS', `TLS handshake did not finish within ${connectTimeoutMs} ms`);
        else if (phase !== 'response') fail('ETIMEDOUT', `connect timed out after ${connectTimeoutMs} ms`);
      }, connectTimeoutMs),
    );
    timers.push(
      setTimeout(() => {
        fail(
          'ETIMEDOUT',
          gotBytes
            ? `response not complete within ${timeoutMs} ms (slow response)`
            : `no response within ${timeoutMs} ms`,
        );
      }, timeoutMs),
    );

    req.on('socket', (sock: net.Socket) => {
      sock.once('lookup', () => {
        if (phase === 'dns') phase = 'connect';
      });
      sock.once('connect', () => {
        phase = ep.scheme === 'https' ? 'tls' : 'response';
      });
      if (ep.scheme === 'https') {
        sock.once('secureConnect', () => {
          tlsInfo = describeCertificate(sock as tls.TLSSocket, name, now);
          phase = 'response';
        });
      }
      sock.on('data', () => {
        gotBytes = true;
      });
    });

    req.on('error', (err: NodeJS.ErrnoException) => {
      if (done) return;
      const code = errCode(err);
      if (code === 'ENOTFOUND' || code.startsWith('EAI_')) return fail('ENOTFOUND', err.message);
      if (code === 'ECONNREFUSED') return fail('ECONNREFUSED', err.message);
      if (code === 'ETIMEDOUT') return fail('ETIMEDOUT', err.message);
      if (UNREACH.has(code)) return fail('EUNREACH', err.message);
      if (code.startsWith('HPE_')) return fail('PROTOCOL', `invalid HTTP response (${code}: ${err.message})`);
      if (phase === 'tls' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
        return fail('TLS', err.message || code);
      }
      if (phase === 'response' && (RESETS.has(code) || /socket hang up/i.test(err.message))) {
        if (!gotBytes) return finish({ kind: 'aborted', tls: tlsInfo, ms: ms() });
        return fail('PROTOCOL', `connection closed inside the response headers (${err.message})`);
      }
      if (RESETS.has(code)) return fail('ECONNRESET', err.message);
      fail('OTHER', err.message || code || 'unknown error');
    });

    req.on('response', (res: http.IncomingMessage) => {
      phase = 'response';
      gotBytes = true;
      if (res.rawHeaders.length / 2 > MAX_HEADER_LINES) {
        fail('PROTOCOL', `more than ${MAX_HEADER_LINES} response headers`);
        return;
      }
      const status = res.statusCode ?? 0;
      const headers = flattenHeaders(res.headers);
      const chunks: Buffer[] = [];
      let size = 0;
      const complete = (truncated: boolean) =>
        finish({
          kind: 'response',
          status,
          headers,
          body: Buffer.concat(chunks).toString('utf8'),
          truncated,
          tls: tlsInfo,
          ms: ms(),
        });
      res.on('data', (c: Buffer) => {
        if (done) return;
        const room = maxBody - size;
        if (c.length >= room && c.length > 0) {
          chunks.push(c.subarray(0, room));
          size += room;
          // Exactly at the limit and the body may have ended: still treat as truncated (cannot tell).
          complete(true);
          return;
        }
        chunks.push(c);
        size += c.length;
      });
      res.on('end', () => complete(false));
      res.on('error', () => complete(true));
      res.on('close', () => complete(!res.complete));
    });

    req.end();
  });
}
