/**
 * Test helpers for the scanner (excluded from the build): local servers on 127.0.0.1 only, a minimal fake
 * Exchange (the endpoints and answers the fingerprinter reads), and self-signed certificates.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll } from 'vitest';
import type { LookupFn } from './http.js';

export interface Cert {
  key: string;
  cert: string;
}

export async function makeCert(opts: { cn?: string; notBefore?: Date; notAfter?: Date } = {}): Promise<Cert> {
  const r = await generate([{ name: 'commonName', value: opts.cn ?? 'exch-lab.test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ...(opts.notBefore ? { notBeforeDate: opts.notBefore } : {}),
    ...(opts.notAfter ? { notAfterDate: opts.notAfter } : {}),
  });
  return { key: r.private, cert: r.cert };
}

export interface Running {
  port: number;
  host: string;
  close: () => Promise<void>;
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

async function listen(
  server: net.Server,
  host = '127.0.0.1',
  onConnection?: (s: net.Socket) => void,
): Promise<Running> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    onConnection?.(s);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  server.on('secureConnection', (s: net.Socket) => {
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, host, close: closer(server, sockets) };
}

export function startHttp(
  handler: http.RequestListener,
  host?: string,
  onConnection?: (s: net.Socket) => void,
): Promise<Running> {
  return listen(http.createServer(handler), host, onConnection);
}

export function startHttps(cert: Cert, handler: http.RequestListener, host?: string): Promise<Running> {
  return listen(https.createServer({ key: cert.key, cert: cert.cert }, handler), host);
}

/** A raw TCP server: the callback gets each socket. */
export function startTcp(onSocket: (s: net.Socket) => void, host?: string): Promise<Running> {
  return listen(net.createServer(onSocket), host);
}

/** A TLS server whose raw TLS sockets are handed to the callback after the handshake. */
export function startTls(cert: Cert, onSocket: (s: tls.TLSSocket) => void): Promise<Running> {
  return listen(tls.createServer({ key: cert.key, cert: cert.cert }, onSocket));
}

/** A port that refuses connections (bound then closed). */
/** Test DNS: only names under .test, always 127.0.0.1; anything else fails without touching the network. */
export const testLookup: LookupFn = async (name) => {
  if (name.endsWith('.test')) return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

/** A function that registers a test server to be closed after the file's tests (call at module level). */
export function closeAfterAll(): <R extends Running>(r: R) => R {
  const running: Running[] = [];
  afterAll(async () => {
    await Promise.all(running.map((r) => r.close()));
  });
  return (r) => {
    running.push(r);
    return r;
  };
}

export async function refusedPort(): Promise<number> {
  const r = await startTcp(() => {});
  await r.close();
  return r.port;
}

export interface FakeExchange {
  build: string;
  hideVersionHeader?: boolean;
  hideManifest?: boolean;
  shielded?: boolean;
  vulnerable?: boolean;
  serverName?: string;
  /** Count of requests by path (without query). */
  hits?: Map<string, number>;
}

const MANIFEST = 'microsoft.exchange.ediscovery.exporttool.application';

function norm(b: string): string {
  return b
    .split('.')
    .map((p) => String(Number(p)))
    .join('.');
}

/** Request handler following the emulator contract (enough of it for the scanner's tests). */
export function fakeExchange(f: FakeExchange): http.RequestListener {
  const b = norm(f.build);
  const b3 = b.split('.').slice(0, 3).join('.');
  const is2010 = b.startsWith('14.');
  const res = is2010 ? `/owa/${b}/themes/resources` : `/owa/auth/${b3}/themes/resources`;
  return (req, rsp) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    f.hits?.set(path, (f.hits.get(path) ?? 0) + 1);
    const cookie = String(req.headers.cookie ?? '');
    if (/(X-AnonResource-Backend|X-BEResource)=[^;]*~/i.test(cookie)) {
      if (f.shielded) {
        req.socket.destroy();
        return;
      }
    }
    rsp.setHeader('Server', 'Microsoft-IIS/10.0');
    rsp.setHeader('X-Powered-By', 'ASP.NET');
    rsp.setHeader('X-FEServer', f.serverName ?? 'EXCH-LAB');
    if (path.toLowerCase().startsWith('/owa') && !f.hideVersionHeader) rsp.setHeader('X-OWA-Version', b);
    if (/(X-AnonResource-Backend|X-BEResource)=[^;]*~/i.test(cookie)) {
      if (f.vulnerable) {
        rsp.statusCode = 500;
        rsp.setHeader('X-CalculatedBETarget', 'localhost');
      } else rsp.statusCode = 404;
      rsp.end();
      return;
    }
    if (path === '/owa' || path === '/owa/') {
      rsp.statusCode = 302;
      rsp.setHeader(
        'Location',
        `/owa/auth/logon.aspx?url=${encodeURIComponent('https://host/owa/')}&reason=0`,
      );
      rsp.end();
      return;
    }
    if (path === '/owa/auth/logon.aspx') {
      rsp.setHeader('Content-Type', 'text/html; charset=utf-8');
      rsp.end(
        `<!DOCTYPE html><html><head><title>Outlook</title><!-- OwaPage = ASP.auth_logon_aspx -->
<link rel="shortcut icon" href="${res}/favicon.ico" type="image/x-icon">
<link type="text/css" rel="stylesheet" href="${res}/logon.css">
<script>function IsOwaPremiumBrowser(){return true;}</script></head>
<body><noscript>To use Outlook, browser settings must allow scripts to run.</noscript></body></html>`,
      );
      return;
    }
    const manifest = () => {
      rsp.setHeader('Content-Type', 'application/x-ms-application');
      rsp.end(
        `<?xml version="1.0" encoding="utf-8"?><asmv1:assembly xmlns:asmv1="urn:schemas-microsoft-com:asm.v1"><assemblyIdentity name="${MANIFEST}" version="${b}" publicKeyToken="b03f5f7f11d50a3a" language="neutral" processorArchitecture="msil" /></asmv1:assembly>`,
      );
    };
    if (!is2010 && path === `/ecp/Current/exporttool/${MANIFEST}` && !f.hideManifest) return manifest();
    const m = /^\/ecp\/([0-9.]+)\/exporttool\/(.+)$/.exec(path);
    if (!is2010 && m && m[2] === MANIFEST && norm(m[1] ?? '') === b) return manifest();
    rsp.statusCode = 404;
    rsp.end('not found');
  };
}

/** Catalog stand-in: the builds of a few CUs, highest first. */
export const CATALOG: Record<string, string[]> = {
  '15.1.2176': ['15.1.2176.14', '15.1.2176.12', '15.1.2176.9', '15.1.2176.4', '15.1.2176.2'],
  '15.2.792': ['15.2.792.15', '15.2.792.13', '15.2.792.10', '15.2.792.5', '15.2.792.3'],
  '15.1.2242': ['15.1.2242.12', '15.1.2242.8', '15.1.2242.4'],
};

export const candidates = (cu: string): string[] => CATALOG[cu] ?? [];

/** Judge stand-in for ProxyLogon: affected below the fixed builds of the table in proxylogon.md §3.1. */
export function judge(build: string): { vulnerable: string[]; verdicts: unknown[] } {
  const parts = build.split('.').map(Number);
  const fixed: Record<string, number> = { '15.1.2176': 9, '15.2.792': 10, '15.1.2242': 0, '14.3': 513 };
  const all = ['CVE-2021-26855', 'CVE-2021-26857', 'CVE-2021-26858', 'CVE-2021-27065'];
  if (parts[0] === 14) {
    const aff = (parts[2] ?? 0) < 513;
    return { vulnerable: aff ? ['CVE-2021-26857'] : [], verdicts: [{ build, affected: aff }] };
  }
  const cu = parts.slice(0, 3).join('.');
  const fix = fixed[cu];
  if (fix === undefined) throw new Error(`unknown build ${build}`);
  const aff = (parts[3] ?? 0) < fix;
  return { vulnerable: aff ? all : [], verdicts: [{ build, affected: aff }] };
}
