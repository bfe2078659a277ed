/**
 * An adversary's pass over the gateway after issue 10's fixes: `--advisory proxylogon-2021-03 --strict` (the pack's
 * three rule files) in front of upstreams on 127.0.0.1 that record what they receive.
 *
 * - "held": attempts the gateway stops (or forwards harmlessly, re-framed). Regression tests; they pass. The
 *   second pass's confirmed bypasses and stalls (comma in X-BEResource, many-argument bodies, open-file limit) were
 *   fixed and live in the "held" blocks below; each failed before its fix.
 *
 * Unknowns (not tests, because the backend behaviour could not be checked here):
 * - a SetObject with the schema only in a form body (`schema=OABVirtualDirectory&…`, no query): the 27065 chain's
 *   QUERY_STRING link fails, so the body is not even held and reaches the upstream uninspected. A bypass only if
 *   ECP reads `schema` from the form (ASP.NET `Request["schema"]` would); ECP's client always puts it in the query.
 * - whether http.sys joins repeated Cookie headers with ", " or "; " (not checked against a real IIS): strict.conf
 *   4210555 refuses several Cookie lines when one names X-BEResource, so either joining is covered.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type GatewayConfigInput, validateGatewayConfig } from './config.js';
import { C27065, EOMT, STRICT } from './gateway.testkit.js';
import { type Gateway, startGateway } from './server.js';
import { startLlhttpUpstream } from './upstream.testkit.js';

const PACK = [EOMT, STRICT, C27065];
const BIN = fileURLToPath(new URL('../../../bin/bulwark.js', import.meta.url));
const WEBSHELL =
  '{"properties":{"Parameters":{"ExternalUrl":"http://f/#<script language=\\"JScript\\" runat=\\"server\\">function Page_Load(){eval(Request[\\"k\\"],\\"unsafe\\");}</script>"}}}';
const SET_OBJECT = '/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary=x';
/** The 26855 probe, used as the smuggled request: alone it is dropped by 4210550. */
const SMUGGLED =
  'GET /owa/auth/x.js HTTP/1.1\r\nHost: mail\r\nCookie: X-AnonResource-Backend=localhost/ecp/default.flt?~3\r\n\r\n';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Recorder {
  port: number;
  /** Every byte received, on all connections, in arrival order (latin1). */
  bytes(): string;
}

/** A raw upstream that records exactly the bytes it receives and answers each request head with a 200. */
async function recorder(): Promise<Recorder> {
  const chunks: Buffer[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => {});
    let pending = '';
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      pending += d.toString('latin1');
      for (let i = pending.indexOf('\r\n\r\n'); i >= 0; i = pending.indexOf('\r\n\r\n')) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        pending = pending.slice(i + 4);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  );
  return {
    port: (srv.address() as net.AddressInfo).port,
    bytes: () => Buffer.concat(chunks).toString('latin1'),
  };
}

async function gateway(upPort: number, limits: GatewayConfigInput['limits'] = {}, maxSockets?: number) {
  const g: Gateway = await startGateway(
    validateGatewayConfig({
      listen: [{ host: '127.0.0.1', port: 0 }],
      routes: [
        {
          name: 'exchange',
          upstream: { url: `http://127.0.0.1:${upPort}`, ...(maxSockets ? { max_sockets: maxSockets } : {}) },
          rules: PACK,
        },
      ],
      limits: { shutdown_grace_ms: 300, ...limits },
    }),
  );
  cleanups.push(() => g.close());
  return g.addresses[0]!.port;
}

/** One write on a fresh connection; everything answered until close or `ms`. */
async function send(port: number, raw: string | Buffer, ms = 700): Promise<string> {
  const s = net.connect({ host: '127.0.0.1', port });
  cleanups.push(() => void s.destroy());
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write(raw);
  await new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    s.once('close', () => {
      clearTimeout(t);
      r();
    });
  });
  return Buffer.concat(got).toString('latin1');
}

const settle = () => new Promise((r) => setTimeout(r, 100));
const firstStatus = (answer: string) => /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'none (closed)';

const post = (target: string, body: string, extra = '', type = 'application/json') =>
  `POST ${target} HTTP/1.1\r\nHost: mail\r\nContent-Type: ${type}\r\n${extra}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;

const utf16 = (be: boolean) => {
  const body = Buffer.from(WEBSHELL, 'utf16le');
  if (be) body.swap16();
  return Buffer.concat([
    Buffer.from(
      `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nContent-Type: application/json; charset=utf-16${be ? 'BE' : 'LE'}\r\nContent-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
};
const getWithCookie = (cookie: string) => `GET /ecp/y.js HTTP/1.1\r\nHost: mail\r\nCookie: ${cookie}\r\n\r\n`;

/**
 * Attempts where nothing of the attack may reach the upstream. `marker` must not appear in the recorded bytes:
 * the script payload for 27065 bodies, the cookie name for 26855 probes.
 */
const BLOCKED: Array<{ name: string; raw: string | Buffer; marker: string }> = [
  // body tricks for the 27065 payload
  { name: '27065 baseline', raw: post(SET_OBJECT, WEBSHELL), marker: 'Page_Load' },
  { name: 'text/plain body', raw: post(SET_OBJECT, WEBSHELL, '', 'text/plain'), marker: 'Page_Load' },
  { name: 'UTF-16LE body (WCF reads it)', raw: utf16(false), marker: 'P\0a\0g\0e' },
  { name: 'UTF-16BE body', raw: utf16(true), marker: '\0P\0a\0g\0e' },
  {
    name: 'XML numeric entities',
    raw: post(SET_OBJECT, '<a>&#x00003c;script runat=&quot;server&quot;&#62;</a>', '', 'text/xml'),
    marker: 'runat',
  },
  {
    name: 'XML decimal entity before %',
    raw: post(SET_OBJECT, '<a>&#0000060;%eval%></a>', '', 'text/xml'),
    marker: 'eval',
  },
  {
    name: 'JSON \\u0069 inside <script',
    raw: post(SET_OBJECT, '{"p":{"ExternalUrl":"http://f/<scr\\u0069pt>"}}'),
    marker: 'scr\\u0069pt',
  },
  {
    name: 'multipart',
    raw: post(
      SET_OBJECT,
      `--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n${WEBSHELL}\r\n--b--\r\n`,
      '',
      'multipart/form-data; boundary=b',
    ),
    marker: 'Page_Load',
  },
  {
    name: 'Content-Encoding: gzip claimed',
    raw: post(SET_OBJECT, WEBSHELL, 'Content-Encoding: gzip\r\n'),
    marker: 'Page_Load',
  },
  {
    name: 'chunked, payload split across chunks, extension, trailer',
    raw: `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\n${WEBSHELL.slice(0, 5)}\r\n${(WEBSHELL.length - 5).toString(16)}\r\n${WEBSHELL.slice(5)}\r\n0\r\nX-T: 1\r\n\r\n`,
    marker: 'Page_Load',
  },
  {
    name: 'Transfer-Encoding: Chunked (case)',
    raw: `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: Chunked\r\n\r\n${WEBSHELL.length.toString(16)}\r\n${WEBSHELL}\r\n0\r\n\r\n`,
    marker: 'Page_Load',
  },
  {
    name: 'Expect: 100-continue',
    raw: post(SET_OBJECT, WEBSHELL, 'Expect: 100-continue\r\n'),
    marker: 'Page_Load',
  },
  { name: 'HTTP/1.0', raw: post(SET_OBJECT, WEBSHELL).replace('HTTP/1.1', 'HTTP/1.0'), marker: 'Page_Load' },
  {
    name: 'Content-Length with leading zeros',
    raw: post(SET_OBJECT, WEBSHELL).replace(/Content-Length: (\d+)/, 'Content-Length: 00$1'),
    marker: 'Page_Load',
  },
  { name: 'PUT', raw: post(SET_OBJECT, WEBSHELL).replace('POST', 'PUT'), marker: 'Page_Load' },
  { name: 'GET with a body', raw: post(SET_OBJECT, WEBSHELL).replace('POST', 'GET'), marker: 'Page_Load' },
  {
    name: 'pipelined: benign SetObject, then the payload, one write',
    raw: `${post(SET_OBJECT, '{"properties":{"Parameters":{"ExternalUrl":"https://mail/oab"}}}')}${post(SET_OBJECT, WEBSHELL)}`,
    marker: 'Page_Load',
  },
  {
    name: 'percent-encoded comma-free form %2f in the cookie',
    raw: getWithCookie('X-BEResource=a]@b:444%2fecp%2fx?#~1'),
    marker: 'BEResource',
  },
  // target tricks
  { name: 'absolute-form', raw: post(`http://mail${SET_OBJECT}`, WEBSHELL), marker: 'Page_Load' },
  {
    name: '; in the .svc segment',
    raw: post('/ecp/DDI/DDIService.svc;x/SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: '/ecp/<locale>/ prefix',
    raw: post('/ecp/en-us/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: '/ecp/PersonalSettings/ prefix',
    raw: post('/ecp/PersonalSettings/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: 'double slashes',
    raw: post('/ecp//DDI//DDIService.svc//SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: '%2e in .svc, lower-case operation',
    raw: post('/ecp/DDI/DDIService%2esvc/setobject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: 'overlong UTF-8 slash',
    raw: post('/ecp/DDI/DDIService.svc%c0%afSetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: '%u slash',
    raw: post('/ecp/DDI/DDIService.svc%u002fSetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: '8.3 name',
    raw: post('/ecp/DDI/DDISER~1.SVC/SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: 'trailing dot',
    raw: post('/ecp/DDI/DDIService.svc./SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: 'cookieless segment',
    raw: post('/ecp/(S(x))/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  // query tricks (ASP.NET decodes %u in the query; a second schema or a NUL)
  {
    name: 'schema spelt with %u',
    raw: post('/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirector%u0079', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: 'schema twice',
    raw: post('/ecp/DDI/DDIService.svc/SetObject?schema=x&schema=OABVirtualDirectory', WEBSHELL),
    marker: 'Page_Load',
  },
  {
    name: 'NUL in schema',
    raw: post('/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtual%00Directory', WEBSHELL),
    marker: 'Page_Load',
  },
  // cookie tricks
  {
    name: 'lower-case cookie header name',
    raw: getWithCookie('X-BEResource=localhost~1942062522').replace('Cookie:', 'cookie:'),
    marker: 'BEResource',
  },
  { name: '%58-BEResource', raw: getWithCookie('%58-BEResource=a]@b:444/ecp/x?#~1'), marker: 'BEResource' },
  {
    name: 'x-beresource lower case, spaces around =',
    raw: getWithCookie('x-beresource = a]@b:444/x?#~1'),
    marker: 'beresource',
  },
  { name: 'quoted value', raw: getWithCookie('X-BEResource="localhost~1942062522"'), marker: 'BEResource' },
  {
    name: 'NBSP before =',
    raw: Buffer.from(getWithCookie('X-BEResource\xa0=a]@b:444/ecp/x?~1'), 'latin1'),
    marker: 'BEResource',
  },
  {
    name: 'comma before the cookie, / present',
    raw: getWithCookie('a=b,X-BEResource=a]@b:444/ecp/x?~1'),
    marker: 'BEResource',
  },
  {
    name: 'cookie split over two headers',
    raw: 'GET /ecp/y.js HTTP/1.1\r\nHost: mail\r\nCookie: a=1\r\nCookie: X-BEResource=a]@b:444/x?#~1\r\n\r\n',
    marker: 'BEResource',
  },
  {
    name: 'space-separated (4210553 sees " ]")',
    raw: getWithCookie('X-BEResource=x ]@127.0.0.2:444\\ecp\\proxyLogon.ecp?#~1941962753'),
    marker: 'BEResource',
  },
  {
    name: 'long cookie header near the limit',
    raw: getWithCookie(`${'a=b; '.repeat(6000)}X-AnonResource-Backend=localhost/ecp/default.flt?~3`),
    marker: 'AnonResource',
  },
  {
    name: 'cookie in a chunked trailer',
    raw: `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\nTrailer: Cookie\r\n\r\n5\r\nhello\r\n0\r\nCookie: X-AnonResource-Backend=localhost/ecp/default.flt?~3\r\n\r\n`,
    marker: 'AnonResource',
  },
  // framing: everything after a refused or malformed message must be discarded, never parsed as a request
  ...(
    [
      [
        'HTTP/1.0 + chunked',
        `POST /owa/ HTTP/1.0\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
      ],
      [
        'Content-Length: +N',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nContent-Length: +${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      ],
      [
        'Content-Length: N, N',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nContent-Length: 5, 5\r\n\r\nhello${SMUGGLED}`,
      ],
      [
        'Transfer-Encoding<SP>:',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'Transfer-Encoding: xchunked',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'two Transfer-Encoding fields',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'Content-Length: 0 + chunked',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'chunk size with leading space',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'chunk extension with quoted CRLF',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a="b\r\nc"\r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'chunk size overflow',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        'chunk data ended by LF',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n${SMUGGLED}`,
      ],
      [
        '413 (Content-Length) then pipelined',
        `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nContent-Length: 2000000\r\n\r\n${SMUGGLED}`,
      ],
      [
        '413 (chunked) then pipelined',
        `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n${'a'.repeat(0x200000)}\r\n0\r\n\r\n${SMUGGLED}`,
      ],
      ['403 then pipelined', `${post(SET_OBJECT, WEBSHELL)}${SMUGGLED}`],
      ['400 (target) then pipelined', `GET /ecp/a\\b HTTP/1.1\r\nHost: mail\r\n\r\n${SMUGGLED}`],
      ['HTTP/0.9 line then pipelined', `GET /owa/\r\n\r\n${SMUGGLED}`],
      ['HTTP/1.2 then pipelined', `GET /owa/ HTTP/1.2\r\nHost: mail\r\n\r\n${SMUGGLED}`],
      [
        'space before colon in Cookie',
        'GET /owa/ HTTP/1.1\r\nHost: mail\r\nCookie : X-AnonResource-Backend=a~1\r\n\r\n',
      ],
      [
        'bare CR in a value',
        'GET /owa/ HTTP/1.1\r\nHost: mail\r\nX: a\rCookie: X-AnonResource-Backend=a~1\r\n\r\n',
      ],
      ['absolute-form naming another host', `GET http://evil/owa/ HTTP/1.1\r\nHost: mail\r\n\r\n${SMUGGLED}`],
      ['absolute-form with userinfo', `GET http://x@mail/owa/ HTTP/1.1\r\nHost: mail\r\n\r\n${SMUGGLED}`],
      [
        'OPTIONS * with the probe cookie',
        'OPTIONS * HTTP/1.1\r\nHost: mail\r\nCookie: X-AnonResource-Backend=a~1\r\n\r\n',
      ],
      [
        'h2c upgrade with a body, then the HTTP/2 preface',
        `POST /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 3\r\n\r\nabcPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${SMUGGLED}`,
      ],
      [
        'websocket upgrade over HTTP/1.0 + keep-alive',
        `GET /owa/ HTTP/1.0\r\nHost: mail\r\nConnection: Upgrade, keep-alive\r\nUpgrade: websocket\r\n\r\n${SMUGGLED}`,
      ],
    ] as Array<[string, string]>
  ).map(([name, raw]) => ({ name, raw, marker: 'AnonResource' })),
];

describe('adversary pass: held (regression)', () => {
  it('none of the attempts reaches the upstream', async () => {
    const up = await recorder();
    const port = await gateway(up.port);
    const leaked: string[] = [];
    for (const { name, raw, marker } of BLOCKED) {
      const before = up.bytes().length;
      const answer = await send(port, raw);
      await settle();
      const reached = up.bytes().slice(before);
      if (reached.includes(marker))
        leaked.push(
          `${name}: answered ${firstStatus(answer)}; upstream got ${JSON.stringify(reached.slice(0, 300))}`,
        );
    }
    expect(leaked).toEqual([]);
  }, 120_000);

  // A smuggled request inside a body the gateway framed as a body must be a body for the upstream too.
  const AS_BODY: Array<[string, string]> = [
    [
      'Content-Length twice, same value',
      `POST /owa/ HTTP/1.1\r\nHost: mail\r\nContent-Length: ${SMUGGLED.length}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    ],
    [
      'GET with a Content-Length body',
      `GET /owa/ HTTP/1.1\r\nHost: mail\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    ],
    [
      'websocket upgrade request with a body (refused upgrade)',
      `GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    ],
    [
      'Transfer-Encoding:<TAB>chunked',
      `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding:\tchunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    ],
  ];
  for (const [name, raw] of AS_BODY) {
    it(`${name}: llhttp upstream parses one request, the smuggled bytes as its body`, async () => {
      const up = await startLlhttpUpstream();
      cleanups.push(() => up.close());
      const port = await gateway(up.port);
      await send(port, raw);
      await settle();
      expect(up.requests.map((r) => `${r.method} ${r.target}`)).toEqual([`${raw.split(' ')[0]} /owa/`]);
      expect(up.requests[0]!.body.toString('latin1')).toBe(SMUGGLED);
      expect(up.errors).toEqual([]);
    });
  }

  it('slow read of a large response at a steady rate: the upstream socket is freed within client_write_timeout; a victim is served', async () => {
    let open = 0;
    const big = Buffer.alloc(32 * 1024 * 1024, 0x61);
    const srv = http.createServer((req, res) => {
      if (req.url === '/owa/big') res.writeHead(200, { 'Content-Length': String(big.length) }).end(big);
      else res.end('ok');
    });
    srv.on('connection', (c) => {
      open++;
      c.on('close', () => open--);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          srv.closeAllConnections();
          srv.close(() => r());
        }),
    );
    const port = await gateway(
      (srv.address() as net.AddressInfo).port,
      { client_write_timeout_ms: 1000, pool_wait_timeout_ms: 1000 },
      4,
    );
    const until = Date.now() + 8000;
    for (let i = 0; i < 4; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.on('data', () => {
        s.pause(); // one read every 300 ms: always some progress, never caught up
        if (Date.now() < until) setTimeout(() => s.resume(), 300);
      });
      s.on('connect', () => s.write('GET /owa/big HTTP/1.1\r\nHost: mail\r\n\r\n'));
      cleanups.push(() => void s.destroy());
    }
    await new Promise((r) => setTimeout(r, 4000));
    expect(open).toBe(0); // all four upstream sockets of the pool were freed
    const t0 = Date.now();
    const answer = await send(port, 'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: close\r\n\r\n', 2500);
    expect(firstStatus(answer)).toBe('200');
    expect(Date.now() - t0).toBeLessThan(2000);
  }, 30_000);
});

/**
 * Class: cookie values read the way ASP.NET reads them. HttpRequest.FillInCookiesCollection splits the Cookie header
 * on ";" only (reference source: "don't look to ',' as per 91884"), so `X-BEResource=x,]@127.0.0.2:444\ecp\…~1` is
 * ONE value for Exchange, and .NET's Uri reads "\" as "/" in an http(s) URL. strict.conf 4210552–4210555/4210558
 * (docs/shield.md, "ProxyLogon pack") end the value at ";" only, refuse encoded values as sent, catch the IPv4
 * forms .NET's Uri accepts, and refuse several Cookie lines when one names X-BEResource (IIS may join them with ", ").
 */
describe('adversary pass: X-BEResource values read as ASP.NET reads them (held)', () => {
  const COMMA: Array<[string, string]> = [
    ['SSRF with a path, "\\" for "/"', 'X-BEResource=x,]@127.0.0.2:444\\ecp\\proxyLogon.ecp?#~1941962753'],
    ["SSRF to another host's root", 'X-BEResource=x,]@10.0.0.9:444?#~1941962753'],
    ['FQDN discovery', 'X-BEResource=,localhost~1942062522'],
    ['FQDN discovery after a dot', 'X-BEResource=x.localhost~1942062522'],
    ['decimal IPv4', 'X-BEResource=167772161~1942062522'],
    ['hex IPv4', 'X-BEResource=0xa000001~1942062522'],
    ['two-part IPv4', 'X-BEResource=10.1~1942062522'],
    ['%3b ends the decoded value early', 'X-BEResource=%3b]@10.0.0.9:444?#~1'],
    ['+ in the value (a space once decoded)', 'X-BEResource=x+]@10.0.0.9:444?#~1'],
  ];
  for (const [name, cookie] of COMMA) {
    it(`${name}: ${cookie} is dropped, not forwarded`, async () => {
      const up = await recorder();
      const port = await gateway(up.port);
      const answer = await send(port, getWithCookie(cookie));
      await settle();
      expect(up.bytes()).toBe('');
      expect(answer).toBe('');
    });
  }

  it('repeated Cookie lines that IIS could join into one X-BEResource SSRF value are dropped, in either order', async () => {
    const up = await recorder();
    const port = await gateway(up.port);
    for (const [a, b] of [
      ['X-BEResource=x', ']@10.0.0.9:444/ecp/x.ecp?#~1'],
      ['X-BEResource=x', ']@10.0.0.9:444?#~1; a=b'],
      [']@10.0.0.9:444\\ecp\\x.ecp?#~1', 'X-BEResource=x'],
      ['X-BEResource=x', '%5d%4010.0.0.9:444?#~1'],
    ] as const) {
      const answer = await send(
        port,
        `GET /ecp/y.js HTTP/1.1\r\nHost: mail\r\nCookie: ${a}\r\nCookie: ${b}\r\n\r\n`,
      );
      expect(answer, `${a} + ${b}`).toBe('');
    }
    await settle();
    expect(up.bytes()).toBe('');
    // A second line whose first cookie cannot extend a host name into an SSRF target passes (benign corpus case).
    const ok = await send(
      port,
      'GET /owa/ HTTP/1.1\r\nHost: mail\r\nCookie: X-BEResource=EXCH01.corp.contoso.com~1942062522\r\nCookie: ClientId=9F9D8B2A2E0B4A5E; path=/owa; x=~1\r\n\r\n',
    );
    expect(firstStatus(ok)).toBe('200');
  });

  it('a well-formed X-BEResource, one Cookie line with other cookies, still reaches the upstream', async () => {
    const up = await recorder();
    const port = await gateway(up.port);
    const answer = await send(
      port,
      getWithCookie('a=b, c; X-BEResource=EXCH01.corp.contoso.com~1942062522; X-OWA-CANARY=abc-def'),
    );
    expect(firstStatus(answer)).toBe('200');
  });

  it(
    'property: the SSRF or discovery shape after any ";"-free prefix is dropped',
    async () => {
      const up = await recorder();
      const port = await gateway(up.port);
      // Any latin1 text but ";" (ASP.NET's only separator) and CR/LF (which would end the header line).
      const prefix = fc
        .array(fc.integer({ min: 0, max: 255 }), { maxLength: 24 })
        .map((cs) => String.fromCharCode(...cs.filter((c) => c !== 0x3b && c !== 0x0d && c !== 0x0a)));
      const host = fc.constantFrom(
        '127.0.0.2',
        '10.0.0.9',
        'localhost',
        'evil.example',
        '[::1]',
        '167772161',
      );
      const sep = fc.constantFrom('/', '\\', '%2f', '%5c');
      const ssrf = fc
        .tuple(host, fc.integer({ min: 1, max: 65535 }), sep, fc.nat())
        .map(([h, p, s, n]) => `]@${h}:${p}${s}ecp${s}proxyLogon.ecp?#~${n}`);
      // The discovery form names the host itself; it is that host only at the start of the value or after a character
      // no host label contains ("0localhost" is another name): with a prefix, the boundary is never empty.
      const discovery = fc
        .tuple(
          fc.constantFrom(',', '.', '~', ' ', '@', ':', '"'),
          fc.constantFrom('localhost', '127.0.0.1'),
          fc.nat(),
        )
        .map(([b, h, n]) => ({ boundary: b, shape: `${h}~${n}` }));
      const name = fc.constantFrom('X-BEResource', 'x-beresource', 'X-BERESOURCE', ' X-BEResource ');
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(
          name,
          prefix,
          fc.oneof(
            ssrf.map((shape) => ({ boundary: '', shape })),
            discovery,
          ),
          async (n, pre, d) => {
            runs++;
            const before = up.bytes().length;
            const shape = (pre === '' ? '' : d.boundary) + d.shape;
            await send(port, Buffer.from(getWithCookie(`a=1; ${n}=${pre}${shape}; b=2`), 'latin1'), 300);
            await settle();
            expect(up.bytes().slice(before)).toBe('');
          },
        ),
        {
          numRuns: Number(process.env.ADVERSARY_RUNS ?? 60),
          interruptAfterTimeLimit: Number(process.env.ADVERSARY_MS ?? 40_000),
        },
      );
      expect(runs).toBeGreaterThan(10);
    },
    Number(process.env.ADVERSARY_MS ?? 40_000) + 80_000,
  );

  it('the comma form reaches no Exchange emulator as an X-BEResource SSRF (HttpProxy log)', async () => {
    const { startExchangeEmulator } = await import('../../lab/exchange.js');
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const logDir = mkdtempSync(path.join(os.tmpdir(), 'bulwark-adv-'));
    const lab = await startExchangeEmulator({
      build: '15.1.2176.2',
      http: true,
      logDir,
      isVulnerable: () => true,
    });
    cleanups.push(() => lab.close());
    const port = await gateway(lab.port);
    await send(port, getWithCookie(COMMA[0]![1]));
    await settle();
    await lab.close();
    const logs: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else logs.push(readFileSync(p, 'latin1'));
      }
    };
    walk(logDir);
    expect(logs.join('\n')).not.toContain('ServerInfo~');
  });
});

/**
 * Class: CPU per inspected body is bounded by the number of arguments. A 1 MiB urlencoded body of ~350,000 empty
 * arguments (`a=&a=&…`) on the SetObject path (held: the 27065 chain's URI and query links hold, no authentication
 * needed) cost 0.7–1.6 s of synchronous work each before limits.max_args (default 1000, ModSecurity's
 * SecArgumentsLimit): with 4 in flight a victim's `GET /owa/` took 2.6 s. Now parsing stops at the first argument
 * past the bound and the request is answered 400 and closed, never forwarded.
 */
describe('adversary pass: argument count (held)', () => {
  const manyArgs = (n: number) => {
    const body = 'a=&'.repeat(n);
    return `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };

  it('many-argument urlencoded bodies on the SetObject path do not stall a victim beyond 2 s (8 in flight)', async () => {
    const up = await recorder();
    const port = await gateway(up.port);
    const answers: Array<Promise<string>> = [];
    for (let i = 0; i < 8; i++) answers.push(send(port, manyArgs(349_000), 5000));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const answer = await send(port, 'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: close\r\n\r\n', 10_000);
    expect(firstStatus(answer)).toBe('200');
    expect(Date.now() - t0).toBeLessThan(2000);
    for (const a of await Promise.all(answers)) expect(firstStatus(a)).toBe('400');
    expect(up.bytes()).not.toContain('a=&');
  }, 30_000);

  it('limits.max_args is the bound: at the limit forwarded, one more refused with 400; query and body count together', async () => {
    const up = await recorder();
    const port = await gateway(up.port, { max_args: 50 });
    // SET_OBJECT's query has 2 arguments: 48 body arguments make 50.
    expect(firstStatus(await send(port, manyArgs(48)))).toBe('200');
    expect(firstStatus(await send(port, manyArgs(49)))).toBe('400');
  });
});

/**
 * Class: file descriptors run out below the connection caps. The defaults (max_connections 10 000,
 * max_connections_per_address 1024) are above the soft RLIMIT_NOFILE a systemd service gets by default (1024), and
 * Node does not raise it: ~1010 connections that send one byte of a head exhausted the descriptors, accept() failed
 * with EMFILE and a victim got silence, not the documented 503. Now the gateway reads the soft limit at start-up
 * (/proc/self/limits), caps the connection limits to two descriptors per connection plus a reserve, and says so on
 * stderr. Scaled down here: ulimit -n 256 and 240 such connections, from one address and from many.
 */
describe('adversary pass: open-file limit (held)', () => {
  for (const spread of [1, 60]) {
    it(`fd exhaustion from ${spread} address(es) under the default caps: a victim still gets 200 or 503 within 2 s`, async () => {
      const up = await recorder();
      const gwPort = await new Promise<number>((resolve) => {
        const probe = net.createServer();
        probe.listen(0, '127.0.0.1', () => {
          const p = (probe.address() as net.AddressInfo).port;
          probe.close(() => resolve(p));
        });
      });
      const child = spawn(
        'bash',
        [
          '-c',
          `ulimit -n 256; exec node ${BIN} gateway --listen 127.0.0.1:${gwPort} --upstream http://127.0.0.1:${up.port} --advisory proxylogon-2021-03 --strict`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      cleanups.push(() => void child.kill());
      let out = '';
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      for (let i = 0; i < 100 && !out.includes('listening'); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('listening');
      expect(out).toMatch(/open-file limit \(RLIMIT_NOFILE soft\) is 256: connections capped at \d+/);
      expect(out).toContain('LimitNOFILE=');
      expect(out.match(/RLIMIT_NOFILE/g)).toHaveLength(1);
      for (let i = 0; i < 240; i++) {
        const localAddress = `127.0.${1 + (i % spread)}.${2 + (Math.floor(i / spread) % 200)}`;
        const s = net.connect({
          host: '127.0.0.1',
          port: gwPort,
          localAddress: spread > 1 ? localAddress : undefined,
        });
        s.on('error', () => {});
        s.on('connect', () => s.write('G'));
        cleanups.push(() => void s.destroy());
      }
      await new Promise((r) => setTimeout(r, 3000));
      const t0 = Date.now();
      const answer = await send(
        gwPort,
        'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: close\r\n\r\n',
        2500,
      );
      expect(['200', '503']).toContain(firstStatus(answer));
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(child.exitCode).toBeNull();
    }, 30_000);
  }
});
