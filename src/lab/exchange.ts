/**
 * Exchange emulator — a TEST AND DEMO FIXTURE, not a real Exchange server.
 *
 * A local HTTP(S) server that answers like the OWA/ECP front end of a given Exchange build (headers, logon page,
 * resource paths, eDiscovery export-tool manifest, build probes) and like that build answers the CVE-2021-26855
 * check request (vulnerable, patched, or aborted by the EOMT URL Rewrite rule when `shielded`). It follows the
 * emulator HTTP contract shared with `src/scan/` exactly. It binds to loopback only unless told otherwise, prints
 * nothing, and marks every response with `X-Bulwark-Lab: emulator`.
 *
 * With `logDir` it writes what it receives as an Exchange front end would: HttpProxy rows (Exchange 2013+ only;
 * 2010 has no HttpProxy layer) and IIS W3C lines. Requests aborted by the shield are not logged: the URL Rewrite
 * module aborts them before the HttpProxy module runs, and what IIS writes to W3C for an AbortRequest is not
 * documented in any source we hold, so the emulator writes nothing rather than invent it.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { getScheme, isLoopback } from '../core/index.js';
import { labCertificate } from './cert.js';
import {
  formatHttpProxyRow,
  formatW3cRow,
  type HttpProxyRow,
  httpProxyHeader,
  httpProxyLogPath,
  LabLogWriter,
  w3cHeader,
  w3cLogPath,
} from './logs.js';

export const LAB_HEADER = 'X-Bulwark-Lab';
export const LAB_LABEL = 'Bulwark lab emulator — not a real Exchange server';
export const DEFAULT_SERVER_NAME = 'EXCH-LAB';
export const EXPORT_TOOL_FILE = 'microsoft.exchange.ediscovery.exporttool.application';

export interface ExchangeEmulatorOptions {
  /** Four-part Exchange build, e.g. `15.1.2176.2` (zero padding accepted). Exchange 2010 (14.x) and 2013+ (15.x). */
  build: string;
  /** Answer as a server with the EOMT URL Rewrite rule: abort every request carrying the check cookies. */
  shielded?: boolean;
  /** Plain HTTP instead of HTTPS. */
  http?: boolean;
  /** Default `127.0.0.1`. Only 127.0.0.0/8 and ::1 unless `allowNonLoopback`. */
  host?: string;
  allowNonLoopback?: boolean;
  /** Default 0 (ephemeral). */
  port?: number;
  /** `X-FEServer` and HttpProxy ServerHostName. Default `EXCH-LAB`. */
  name?: string;
  hideVersionHeader?: boolean;
  hideManifest?: boolean;
  /** Root of the emulated install: logs go to `<logDir>/Logging/HttpProxy/…` and `<logDir>/inetpub/logs/…`. */
  logDir?: string;
  /** Whether the build is affected by CVE-2021-26855 (injected from the exposure engine). Called once. */
  isVulnerable: (build: string) => boolean;
  /** Certificate to serve; default: one generated per process and shared. */
  tls?: { key: string; cert: string };
  /** A writer shared by many emulators (the farm); otherwise each emulator with `logDir` owns one. */
  logWriter?: LabLogWriter;
}

export interface ExchangeEmulator {
  url: string;
  host: string;
  port: number;
  /** The normalised build (no zero padding). */
  build: string;
  name: string;
  shielded: boolean;
  /** What the x.js check answers when not shielded. */
  vulnerable: boolean;
  close(): Promise<void>;
}

export class LabConfigError extends Error {
  override readonly name = 'LabConfigError';
}

/** Body bytes above which the emulator closes the connection after answering instead of draining the body. */
const MAX_DRAINED_BODY = 64 * 1024;

interface ParsedBuild {
  parts: number[];
  text: string;
  cu: string;
}

export function parseExchangeBuild(build: string): ParsedBuild {
  const parsed = getScheme('exchange').parse(build);
  if (!parsed.ok) throw new LabConfigError(`emulator build: ${parsed.error}`);
  const parts = [...(parsed.value as readonly number[])];
  const major = parts[0];
  if (major !== 14 && major !== 15) {
    throw new LabConfigError(
      `emulator build ${JSON.stringify(build)}: only Exchange 2010 (14.x) and 2013/2016/2019/SE (15.x) are emulated`,
    );
  }
  return { parts, text: parts.join('.'), cu: parts.slice(0, 3).join('.') };
}

function resolveHost(opts: ExchangeEmulatorOptions): string {
  const host = opts.host === undefined || opts.host === 'localhost' ? '127.0.0.1' : opts.host;
  if (opts.allowNonLoopback) return host;
  if (!isLoopback(host)) {
    throw new LabConfigError(
      `emulator host ${JSON.stringify(host)} is not a loopback address (127.0.0.0/8 or ::1); the lab emulator binds to loopback only unless allowNonLoopback is set`,
    );
  }
  return host;
}

/** The check cookies of the contract: `X-AnonResource-Backend=` or `X-BEResource=` with a `~` in the value. */
interface CheckCookie {
  name: 'X-AnonResource-Backend' | 'X-BEResource';
  value: string;
}

function findCheckCookie(cookieHeader: string | undefined): CheckCookie | undefined {
  if (!cookieHeader) return undefined;
  let found: CheckCookie | undefined;
  for (const piece of cookieHeader.split(';')) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    const name = piece.slice(0, eq).trim().toLowerCase();
    const value = piece.slice(eq + 1).trim();
    if (!value.includes('~')) continue;
    // Exchange routes anonymous-resource requests by X-AnonResource-Backend first (cf. the scanner-probe log row).
    if (name === 'x-anonresource-backend') return { name: 'X-AnonResource-Backend', value };
    if (name === 'x-beresource' && !found) found = { name: 'X-BEResource', value };
  }
  return found;
}

/**
 * The two EOMT inbound rules (EOMT.ps1, Microsoft CSS-Exchange) plus the contract's check-cookie definition: rule 1 aborts any
 * cookie mentioning X-AnonResource-Backend, rule 2 `X-BEResource=(.+)/(.+)~(.+)`; the contract also aborts an
 * X-BEResource value with `~` but no `/`, which the real rule 2 lets through.
 */
function shieldAborts(cookieHeader: string | undefined): boolean {
  if (!cookieHeader) return false;
  if (/x-anonresource-backend/i.test(cookieHeader)) return true;
  return findCheckCookie(cookieHeader) !== undefined;
}

/** The back-end host Exchange would calculate from the cookie value (`localhost/ecp/default.flt?~3` → `localhost`). */
function calculatedTarget(value: string): string {
  const beforeTilde = value.slice(0, value.indexOf('~'));
  const host = beforeTilde.split(/[/?#:@\]]/)[0] ?? '';
  return /^[A-Za-z0-9.-]{1,253}$/.test(host) ? host : 'localhost';
}

function normalisePeer(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function cleanHostHeader(value: string | undefined, fallback: string): string {
  if (value && value.length <= 300 && /^[A-Za-z0-9.:[\]-]+$/.test(value)) return value;
  return fallback;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
  /** Set for the check request. */
  check?: { cookie: CheckCookie; target?: string };
}

const ICON = Buffer.from(
  '00000100010001010000010020003000000016000000280000000100000002000000010020000000000004000000000000000000000000000000000000000000ff0078d400000000',
  'hex',
);

function logonPage(resourceBase: string): string {
  return `<!DOCTYPE html>
<!-- ${LAB_LABEL} -->
<!-- Copyright (c) 2011 Microsoft Corporation.  All rights reserved. -->
<!-- OwaPage = ASP.auth_logon_aspx -->
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; CHARSET=utf-8">
<meta name="robots" content="noindex, nofollow">
<title>Outlook</title>
<link rel="shortcut icon" href="${resourceBase}/themes/resources/favicon.ico" type="image/x-icon">
<link type="text/css" rel="stylesheet" href="${resourceBase}/themes/resources/logon.css">
<script type="text/javascript">
function IsOwaPremiumBrowser() { return true; }
</script>
</head>
<body class="signInBg">
<noscript><div>To use Outlook, browser settings must allow scripts to run. For information about how to allow scripts, consult the Help for your browser. If your browser doesn't support scripts, you can download Microsoft Edge for access to Outlook.</div></noscript>
<form action="/owa/auth.owa" method="POST" name="logonForm" autocomplete="off">
<input id="username" name="username" type="email"><input id="password" name="password" type="password">
<div class="signinbutton" role="button">sign in</div>
</form>
</body>
</html>
`;
}

function manifest(build: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<asmv1:assembly xsi:schemaLocation="urn:schemas-microsoft-com:asm.v1 assembly.adaptive.xsd" manifestVersion="1.0" xmlns:asmv1="urn:schemas-microsoft-com:asm.v1" xmlns="urn:schemas-microsoft-com:asm.v2" xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:xrml="urn:mpeg:mpeg21:2003:01-REL-R-NS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:asmv3="urn:schemas-microsoft-com:asm.v3" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#" xmlns:co.v1="urn:schemas-microsoft-com:clickonce.v1" xmlns:co.v2="urn:schemas-microsoft-com:clickonce.v2">
  <!-- ${LAB_LABEL} -->
  <assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.application" version="${build}" publicKeyToken="b03f5f7f11d50a3a" language="neutral" processorArchitecture="msil" />
  <description asmv2:publisher="Microsoft Corporation" co.v1:suiteName="Microsoft Exchange" asmv2:product="Microsoft Exchange eDiscovery PST Export Tool" xmlns="urn:schemas-microsoft-com:asm.v1" />
  <deployment install="false" trustURLParameters="true" mapFileExtensions="true" />
</asmv1:assembly>
`;
}

const NOT_FOUND_BODY =
  '<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head><body><h2>404 - File or directory not found.</h2></body></html>\n';

export async function startExchangeEmulator(opts: ExchangeEmulatorOptions): Promise<ExchangeEmulator> {
  const b = parseExchangeBuild(opts.build);
  const host = resolveHost(opts);
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LabConfigError(`emulator port ${JSON.stringify(opts.port)} is not 0..65535`);
  }
  const name = opts.name ?? DEFAULT_SERVER_NAME;
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(name)) {
    throw new LabConfigError(
      `emulator name ${JSON.stringify(name)}: use 1-63 letters, digits, '.', '_' or '-'`,
    );
  }
  const isEx2010 = b.parts[0] === 14;
  const shielded = opts.shielded === true;
  const vulnerable = opts.isVulnerable(b.text);
  const useHttps = opts.http !== true;
  const scheme = useHttps ? 'https' : 'http';
  const resourceBase = isEx2010 ? `/owa/${b.text}` : `/owa/auth/${b.cu}`;
  const ownWriter = opts.logDir && !opts.logWriter ? new LabLogWriter() : undefined;
  const writer = opts.logWriter ?? ownWriter;
  const logDir = opts.logDir;
  const scheme4 = getScheme('exchange');

  const common: Record<string, string> = {
    Server: 'Microsoft-IIS/10.0',
    'X-Powered-By': 'ASP.NET',
    'X-FEServer': name,
    [LAB_HEADER]: 'emulator',
  };

  function isOwaPath(lower: string): boolean {
    return lower === '/owa' || lower.startsWith('/owa/');
  }

  function sameBuild(candidate: string): boolean {
    const parsed = scheme4.parse(candidate);
    return parsed.ok && (parsed.value as readonly number[]).join('.') === b.text;
  }

  function answer(path: string, hostHeader: string, cookie: string | undefined): Answer {
    const lower = path.toLowerCase();
    const headers: Record<string, string> = { ...common };
    if (isOwaPath(lower) && !opts.hideVersionHeader) headers['X-OWA-Version'] = b.text;
    const notFound = (): Answer => ({
      status: 404,
      headers: { ...headers, 'Content-Type': 'text/html' },
      body: NOT_FOUND_BODY,
    });

    const checkCookie = findCheckCookie(cookie);
    if (checkCookie) {
      if (vulnerable) {
        const target = calculatedTarget(checkCookie.value);
        return {
          status: 500,
          headers: { ...headers, 'X-CalculatedBETarget': target, 'Content-Type': 'text/html' },
          body: '<html><head><title>Server Error</title></head><body>500 - Internal server error.</body></html>\n',
          check: { cookie: checkCookie, target },
        };
      }
      return { ...notFound(), check: { cookie: checkCookie } };
    }

    if (lower === '/owa' || lower === '/owa/') {
      const back = encodeURIComponent(`${scheme}://${hostHeader}/owa/`);
      return {
        status: 302,
        headers: {
          ...headers,
          Location: `/owa/auth/logon.aspx?url=${back}&reason=0`,
          'Content-Type': 'text/html',
        },
        body: `<html><head><title>Object moved</title></head><body><h2>Object moved to <a href="/owa/auth/logon.aspx?url=${back}&amp;reason=0">here</a>.</h2></body></html>\n`,
      };
    }
    if (lower === '/owa/auth/logon.aspx') {
      return {
        status: 200,
        headers: {
          ...headers,
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-cache, no-store',
        },
        body: logonPage(resourceBase),
      };
    }
    const base = resourceBase.toLowerCase();
    if (lower === `${base}/themes/resources/favicon.ico`) {
      return { status: 200, headers: { ...headers, 'Content-Type': 'image/x-icon' }, body: ICON };
    }
    if (lower === `${base}/themes/resources/logon.css`) {
      return {
        status: 200,
        headers: { ...headers, 'Content-Type': 'text/css' },
        body: `/* ${LAB_LABEL} */\nbody.signInBg { background: #fff; }\n`,
      };
    }
    const m = /^\/ecp\/([^/]+)\/exporttool\/([^/]+)$/.exec(lower);
    if (m && m[2] === EXPORT_TOOL_FILE && !isEx2010) {
      const which = m[1]!;
      const ok = which === 'current' ? !opts.hideManifest : sameBuild(which);
      if (ok) {
        return {
          status: 200,
          headers: { ...headers, 'Content-Type': 'application/x-ms-application' },
          body: manifest(b.text),
        };
      }
    }
    return notFound();
  }

  function log(
    req: http.IncomingMessage,
    rawPath: string,
    rawQuery: string,
    hostHeader: string,
    a: Answer,
    started: Date,
    completed: boolean,
  ): void {
    if (!writer || !logDir) return;
    const now = new Date();
    const requestId = randomUUID();
    const lower = rawPath.toLowerCase();
    const protocol = lower === '/ecp' || lower.startsWith('/ecp/') ? 'Ecp' : 'Owa';
    const userAgent = req.headers['user-agent'] ?? '';
    const clientIp = normalisePeer(req.socket.remoteAddress);
    const elapsed = Math.max(0, now.getTime() - started.getTime());
    if (!isEx2010) {
      const row: HttpProxyRow = {
        DateTime: now.toISOString(),
        RequestId: requestId,
        MajorVersion: b.parts[0],
        MinorVersion: b.parts[1],
        BuildVersion: b.parts[2],
        RevisionVersion: b.parts[3],
        Protocol: protocol,
        UrlHost: hostHeader.replace(/:\d+$/, ''),
        UrlStem: rawPath,
        AuthenticationType: 'FBA',
        IsAuthenticated: false,
        UserAgent: userAgent,
        ClientIpAddress: clientIp,
        ServerHostName: name,
        HttpStatus: a.status,
        Method: req.method ?? '',
        TotalRequestTime: elapsed,
        UrlQuery: rawQuery,
        GenericInfo: `BeginRequest=${started.toISOString()};CorrelationID=<empty>;EndRequest=${now.toISOString()};`,
      };
      if (a.check) {
        const { cookie, target } = a.check;
        row.AnchorMailbox = `ServerInfo~${cookie.value.slice(0, cookie.value.indexOf('~'))}`;
        row.RoutingHint = `${cookie.name}-Cookie`;
        if (target !== undefined) {
          row.BackEndStatus = a.status;
          row.ProxyAction = 'Proxy';
          row.TargetServer = target;
          row.RoutingType = 'CrossRegion';
        }
      }
      writer.append(
        httpProxyLogPath(logDir, protocol, now),
        () => httpProxyHeader(b.parts, now),
        formatHttpProxyRow(row),
      );
    }
    const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
    const isFrontEndApp = protocol === 'Ecp' || lower === '/owa' || lower.startsWith('/owa/');
    writer.append(
      w3cLogPath(logDir, now),
      () => w3cHeader(now),
      formatW3cRow({
        time: now,
        serverIp: normalisePeer(req.socket.localAddress),
        method: req.method ?? '',
        uriStem: rawPath,
        uriQuery:
          isFrontEndApp && !isEx2010 ? `${query}&CorrelationID=<empty>;&cafeReqId=${requestId};` : query,
        serverPort: req.socket.localPort ?? 0,
        username: '',
        clientIp,
        userAgent,
        referer: req.headers.referer ?? '',
        status: a.status,
        substatus: 0,
        win32Status: completed ? 0 : 64,
        timeTakenMs: elapsed,
      }),
    );
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => req.socket.destroy());
    res.on('error', () => req.socket.destroy());
    const started = new Date();
    const cookie = req.headers.cookie;
    if (shielded && shieldAborts(cookie)) {
      // IIS URL Rewrite AbortRequest: drop the connection, no HTTP response, nothing reaches HttpProxy.
      abortSocket(req.socket);
      return;
    }
    const rawUrl = req.url ?? '/';
    let rawPath = rawUrl;
    let rawQuery = '';
    const q = rawUrl.indexOf('?');
    if (q >= 0) {
      rawPath = rawUrl.slice(0, q);
      rawQuery = rawUrl.slice(q);
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawPath)) {
      // absolute-form request target: keep only the path
      const slash = rawPath.indexOf('/', rawPath.indexOf('//') + 2);
      rawPath = slash >= 0 ? rawPath.slice(slash) : '/';
    }
    let path = rawPath;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      // undecodable escapes: route on the raw path (it will not match anything and gets a 404)
    }
    const hostHeader = cleanHostHeader(req.headers.host, formatHostForUrl(host, address().port));
    const a = answer(path, hostHeader, cookie);
    const length = Number(req.headers['content-length'] ?? 0);
    if (req.headers['transfer-encoding'] !== undefined || !(length <= MAX_DRAINED_BODY)) {
      a.headers.Connection = 'close';
    }
    let logged = false;
    const writeLog = (completed: boolean): void => {
      if (logged) return;
      logged = true;
      try {
        log(req, rawPath, rawQuery, hostHeader, a, started, completed);
      } catch {
        // logging must never take the emulator down
      }
    };
    res.on('finish', () => writeLog(true));
    res.on('close', () => writeLog(false));
    res.writeHead(a.status, a.headers);
    res.end(a.body);
  }

  const tlsMaterial = useHttps ? (opts.tls ?? (await labCertificate())) : undefined;
  const server: http.Server = tlsMaterial
    ? https.createServer({ key: tlsMaterial.key, cert: tlsMaterial.cert }, handle)
    : http.createServer(handle);
  server.requestTimeout = 30_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET' && !socket.destroyed) {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
  server.on('error', () => {
    // errors after listen (e.g. EMFILE on accept) must not crash the process; the server keeps running
  });

  function address(): { port: number } {
    const a = server.address();
    return typeof a === 'object' && a !== null ? a : { port };
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const actualPort = address().port;

  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${formatHostForUrl(host, actualPort)}`,
    host,
    port: actualPort,
    build: b.text,
    name,
    shielded,
    vulnerable,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(async () => {
        if (ownWriter) await ownWriter.close();
        else if (writer) await writer.flush();
      });
      return closing;
    },
  };
}

function formatHostForUrl(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function abortSocket(socket: Socket): void {
  try {
    // A TCP reset where the socket allows it (plain HTTP); a TLS socket is destroyed (the client sees a hang-up).
    if (typeof socket.resetAndDestroy === 'function' && !('encrypted' in socket)) socket.resetAndDestroy();
    else socket.destroy();
  } catch {
    socket.destroy();
  }
}
