import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequestParser, type ParserEvent, parseAll, toShieldRequest } from './index.js';
import { ambiguousTarget } from './target.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Events with consecutive body slices merged (split-independent form). */
function normalise(events: ParserEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    const last = out[out.length - 1] as { type: string; data?: string } | undefined;
    if (e.type === 'body') {
      if (e.data.length === 0) continue;
      if (last?.type === 'body') last.data += e.data.toString('latin1');
      else out.push({ type: 'body', data: e.data.toString('latin1') });
    } else out.push(e);
  }
  return out;
}

function run(chunks: Buffer[]): ParserEvent[] {
  const p = createRequestParser();
  const out: ParserEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.finish());
  return out;
}

function errorOf(raw: string): { status: number; reason: string } | undefined {
  return parseAll(b(raw)).error;
}

const GET = 'GET / HTTP/1.1\r\nHost: a\r\n';

describe('accepts', () => {
  it('a simple GET with raw header order, case and repetition', () => {
    const r = parseAll(
      b('GET /owa/?a=%41 HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\ncookie:  b=2 \r\nX-Y:\r\n\r\n'),
    );
    expect(r.error).toBeUndefined();
    expect(r.requests).toHaveLength(1);
    const h = r.requests[0]!.head;
    expect(h).toMatchObject({
      method: 'GET',
      target: '/owa/?a=%41',
      httpVersion: '1.1',
      headers: [
        ['Host', 'x'],
        ['Cookie', 'a=1'],
        ['cookie', 'b=2'],
        ['X-Y', ''],
      ],
      contentLength: null,
      chunked: false,
      keepAlive: true,
      upgrade: false,
    });
    expect(toShieldRequest(h, '10.0.0.1')).toEqual({
      method: 'GET',
      uri: '/owa/?a=%41',
      httpVersion: '1.1',
      headers: h.headers,
      remoteAddr: '10.0.0.1',
    });
  });

  it.each(['RPC_IN_DATA', 'RPC_OUT_DATA', 'PROPFIND', 'X-CUSTOM.1', "A!#$%&'*+-.^_`|~"])(
    'method token %s',
    (m) => {
      const r = parseAll(
        b(`${m} /rpc/rpcproxy.dll?h:6001 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc`),
      );
      expect(r.error).toBeUndefined();
      expect(r.requests[0]!.head.method).toBe(m);
      expect(r.requests[0]!.body.toString()).toBe('abc');
    },
  );

  it('absolute-form and OPTIONS *', () => {
    expect(
      parseAll(b('GET http://mail.x/owa/ HTTP/1.1\r\nHost: mail.x\r\n\r\n')).requests[0]!.head.target,
    ).toBe('http://mail.x/owa/');
    expect(parseAll(b('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n')).error).toBeUndefined();
  });

  it('HTTP/1.0 defaults to close, keep-alive on request; 1.1 Connection: close', () => {
    expect(parseAll(b('GET / HTTP/1.0\r\n\r\n')).requests[0]!.head.keepAlive).toBe(false);
    expect(parseAll(b('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')).requests[0]!.head.keepAlive).toBe(
      true,
    );
    expect(parseAll(b(`${GET}Connection: foo, close\r\n\r\n`)).requests[0]!.head.keepAlive).toBe(false);
  });

  it('stops after a close request (later bytes ignored) and after an upgrade passes bytes through', () => {
    const r = parseAll(b(`${GET}Connection: close\r\n\r\n${GET}\r\n`));
    expect(r.requests).toHaveLength(1);
    const ev = run([b(`${GET}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x00\x01binary`)]);
    expect(ev.map((e) => e.type)).toEqual(['head', 'end', 'tunnel']);
    expect(ev[0]!.type === 'head' && ev[0]!.request.upgrade).toBe(true);
  });

  it('only an HTTP/1.1 GET asking for websocket alone is an upgrade; later bytes of any other stay HTTP', () => {
    const up = (head: string) => {
      const r = parseAll(b(`${head}\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n`));
      return { upgrade: r.requests[0]!.head.upgrade, requests: r.requests.length };
    };
    expect(up(`${GET}Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n`)).toEqual({
      upgrade: true,
      requests: 1,
    });
    for (const head of [
      `${GET}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n`,
      `${GET}Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n`,
      `${GET}Connection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n`,
      `${GET}Upgrade: websocket\r\n`,
      `POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`,
      `GET / HTTP/1.0\r\nHost: a\r\nConnection: Upgrade, keep-alive\r\nUpgrade: websocket\r\n`,
    ]) {
      expect(up(head), head).toEqual({ upgrade: false, requests: 2 });
    }
  });

  it('leading empty lines before the request-line (RFC 9112 §2.2)', () => {
    expect(parseAll(b(`\r\n\r\n${GET}\r\n`)).requests).toHaveLength(1);
  });

  it('identical repeated Content-Length; leading zeros', () => {
    const r = parseAll(b(`${GET}Content-Length: 003\r\nContent-Length: 003\r\n\r\nabc`));
    expect(r.error).toBeUndefined();
    expect(r.requests[0]!.head.contentLength).toBe(3);
  });

  it('chunked with extensions and trailers, then a pipelined request', () => {
    const raw = `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;foo=bar;q="a \\" b"\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n${GET}\r\n`;
    const r = parseAll(b(raw));
    expect(r.error).toBeUndefined();
    expect(r.requests).toHaveLength(2);
    expect(r.requests[0]!.body.toString()).toBe('abc0123456789');
    expect(r.requests[0]!.trailers).toEqual([['X-Trailer', 't']]);
    expect(r.requests[0]!.head.chunked).toBe(true);
  });

  it('streams a 1 GB Content-Length body without buffering it', () => {
    const GB = 1024 * 1024 * 1024;
    const p = createRequestParser();
    const head = p.push(
      b(`RPC_IN_DATA /rpc/rpcproxy.dll?e:6001 HTTP/1.1\r\nHost: a\r\nContent-Length: ${GB}\r\n\r\n`),
    );
    expect(head[0]).toMatchObject({ type: 'head', request: { contentLength: GB, method: 'RPC_IN_DATA' } });
    const block = Buffer.alloc(1024 * 1024, 0x41);
    let seen = 0;
    let ended = false;
    for (let i = 0; i < 1024; i++) {
      for (const e of p.push(block)) {
        if (e.type === 'body') {
          expect(e.data.buffer).toBe(block.buffer); // a view, not a copy
          seen += e.data.length;
        } else if (e.type === 'end') ended = true;
        else throw new Error(`unexpected ${e.type}`);
      }
    }
    expect(seen).toBe(GB);
    expect(ended).toBe(true);
    expect(p.idle).toBe(true);
  });

  it('Content-Length up to 2^53-1', () => {
    const r = createRequestParser().push(b(`${GET}Content-Length: 9007199254740991\r\n\r\n`));
    expect(r[0]).toMatchObject({ type: 'head', request: { contentLength: Number.MAX_SAFE_INTEGER } });
  });
});

describe('rejects', () => {
  const cases: Array<[string, string, number]> = [
    ['CL and TE', `${GET}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
    ['TE and CL', `${GET}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n`, 400],
    ['TE gzip, chunked', `${GET}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
    ['TE chunked, gzip', `${GET}Transfer-Encoding: chunked, gzip\r\n\r\n`, 400],
    ['TE identity', `${GET}Transfer-Encoding: identity\r\n\r\n`, 400],
    ['TE chunked twice', `${GET}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
    ['TE xchunked', `${GET}Transfer-Encoding: xchunked\r\n\r\n`, 400],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['differing CL', `${GET}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 400],
    ['CL list', `${GET}Content-Length: 3, 3\r\n\r\nabc`, 400],
    ['CL +3', `${GET}Content-Length: +3\r\n\r\nabc`, 400],
    ['CL -1', `${GET}Content-Length: -1\r\n\r\n`, 400],
    ['CL hex', `${GET}Content-Length: 0x3\r\n\r\nabc`, 400],
    ['CL empty', `${GET}Content-Length:\r\n\r\n`, 400],
    ['CL 2^53', `${GET}Content-Length: 9007199254740992\r\n\r\n`, 413],
    ['CL 30 digits', `${GET}Content-Length: 100000000000000000000000000000\r\n\r\n`, 413],
    ['obs-fold SP', `${GET}Cookie: a=1;\r\n X-BEResource=x/y~1\r\n\r\n`, 400],
    ['obs-fold HTAB', `${GET}Cookie: a=1;\r\n\tb=2\r\n\r\n`, 400],
    ['space before colon', `${GET}Cookie : a=1\r\n\r\n`, 400],
    ['tab before colon', `${GET}Cookie\t: a=1\r\n\r\n`, 400],
    ['no colon', `${GET}Cookie a=1\r\n\r\n`, 400],
    ['empty name', `${GET}: a\r\n\r\n`, 400],
    ['bad name char', `${GET}Co@kie: a\r\n\r\n`, 400],
    ['bare LF line end', 'GET / HTTP/1.1\nHost: a\n\n', 400],
    ['bare LF in header', `GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n`, 400],
    ['bare CR', `${GET}X: a\rb\r\n\r\n`, 400],
    ['NUL in value', `${GET}X: a\x00b\r\n\r\n`, 400],
    ['NUL in target', 'GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['CTL in value', `${GET}X: a\x01b\r\n\r\n`, 400],
    ['DEL in value', `${GET}X: a\x7fb\r\n\r\n`, 400],
    ['double space in request-line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['no version', 'GET /\r\nHost: a\r\n\r\n', 400],
    ['HTTP/0.9 style', 'GET /\r\n\r\n', 400],
    ['lowercase version', 'GET / http/1.1\r\nHost: a\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505],
    ['method not a token', 'G(ET / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n', 501],
    ['authority-form for GET', 'GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['asterisk for GET', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['relative target', 'GET owa HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['userinfo in absolute-form', 'GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['ftp absolute-form', 'GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['obs-text in target', 'GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two Host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['chunk size junk', `${GET}Transfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n`, 400],
    ['chunk size space', `${GET}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`, 400],
    ['chunk size leading space', `${GET}Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n`, 400],
    ['chunk size 0x', `${GET}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`, 400],
    ['chunk size negative', `${GET}Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n`, 400],
    ['chunk size empty', `${GET}Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n`, 400],
    [
      'chunk size 17 digits',
      `${GET}Transfer-Encoding: chunked\r\n\r\n00000000000000003\r\nabc\r\n0\r\n\r\n`,
      400,
    ],
    ['chunk size > 2^53', `${GET}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nabc\r\n`, 400],
    ['chunk size 2^53', `${GET}Transfer-Encoding: chunked\r\n\r\n20000000000000\r\nabc\r\n`, 400],
    ['chunk data without CRLF', `${GET}Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n`, 400],
    ['chunk data bare LF', `${GET}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n`, 400],
    ['chunk line bare LF', `${GET}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`, 400],
    ['bad chunk-ext', `${GET}Transfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n`, 400],
    ['chunk-ext unclosed quote', `${GET}Transfer-Encoding: chunked\r\n\r\n3;a="b\r\nabc\r\n0\r\n\r\n`, 400],
    ['trailer obs-fold', `${GET}Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n`, 400],
    ['trailer space before colon', `${GET}Transfer-Encoding: chunked\r\n\r\n0\r\nX : a\r\n\r\n`, 400],
    ['truncated body', `${GET}Content-Length: 5\r\n\r\nabc`, 400],
    ['truncated head', 'GET / HTTP/1.1\r\nHost: a\r\n', 400],
  ];
  it.each(cases.map(([n, raw, status]) => [`${n} → ${status}`, raw, status] as const))(
    '%s',
    (_n, raw, status) => {
      const r = parseAll(b(raw));
      expect(r.error?.status, JSON.stringify(r)).toBe(status);
    },
  );

  it('head larger than maxHeaderBytes → 431, also when never terminated', () => {
    const big = `${GET}X: ${'a'.repeat(33 * 1024)}\r\n\r\n`;
    expect(errorOf(big)?.status).toBe(431);
    const p = createRequestParser({ maxHeaderBytes: 1024 });
    const ev = p.push(b(`GET /${'a'.repeat(2000)}`));
    expect(ev).toMatchObject([{ type: 'error', status: 431 }]);
    expect(p.state).toBe('error');
    expect(p.push(b(' HTTP/1.1\r\n\r\n'))).toEqual([]);
  });

  it('more than maxHeaders fields → 431; trailer section bounded', () => {
    const many = `${GET}${'X: 1\r\n'.repeat(100)}\r\n`;
    expect(errorOf(many)?.status).toBe(431);
    expect(errorOf(`${GET}${'X: 1\r\n'.repeat(98)}\r\n`)).toBeUndefined();
    const tr = `${GET}Transfer-Encoding: chunked\r\n\r\n0\r\n${'T: 1\r\n'.repeat(101)}\r\n`;
    expect(errorOf(tr)?.status).toBe(431);
    const trBig = `${GET}Transfer-Encoding: chunked\r\n\r\n0\r\nT: ${'a'.repeat(40000)}\r\n\r\n`;
    expect(errorOf(trBig)?.status).toBe(431);
  });

  it('maxBodyBytes → 413 for Content-Length and for the sum of chunks', () => {
    const p = createRequestParser({ maxBodyBytes: 10 });
    expect(p.push(b(`${GET}Content-Length: 11\r\n\r\n`))).toMatchObject([{ type: 'error', status: 413 }]);
    const q = createRequestParser({ maxBodyBytes: 10 });
    const ev = q.push(b(`${GET}Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n`));
    expect(ev.at(-1)).toMatchObject({ type: 'error', status: 413 });
  });

  it('an error after a valid pipelined request keeps the first one', () => {
    const r = parseAll(b(`${GET}\r\nGET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n`));
    expect(r.requests).toHaveLength(1);
    expect(r.error?.status).toBe(400);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property tests

const tokenChar = fc.constantFrom(..."abcXYZ019-_!#$%&'*+.^`|~".split(''));
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
const valueChar = fc.constantFrom(...'abc XYZ 019;=/~,"\t()<>@é'.split(''));
const fieldValue = fc
  .string({ unit: valueChar, maxLength: 30 })
  .map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''));
const pathChar = fc.constantFrom(..."abcXYZ019-._~!$&'()*+,;=:@/?%".split(''));
// Only targets whose path IIS reads literally: the others are refused on purpose (./target.ts, canonical.test.ts).
const target = fc
  .string({ unit: pathChar, maxLength: 30 })
  .map((s) => `/${s}`)
  .filter((t) => ambiguousTarget(t) === undefined);
const KNOWN_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PROPFIND', 'PATCH', 'MKCOL'];

interface Gen {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: string;
  framing: 'none' | 'cl' | 'chunked';
  chunks: number[];
}

const genRequest: fc.Arbitrary<Gen> = fc.record({
  method: fc.constantFrom(...KNOWN_METHODS),
  target,
  headers: fc.array(
    fc
      .tuple(token, fieldValue)
      .filter(([n]) => !/^(host|content-length|transfer-encoding|connection|upgrade|expect)$/i.test(n)),
    { maxLength: 6 },
  ),
  body: fc.string({ maxLength: 40 }),
  framing: fc.constantFrom('none', 'cl', 'chunked'),
  chunks: fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 5 }),
});

function serialise(g: Gen): string {
  const body = g.framing === 'none' ? '' : Buffer.from(g.body, 'utf8').toString('latin1');
  let s = `${g.method} ${g.target} HTTP/1.1\r\nHost: h\r\n`;
  for (const [n, v] of g.headers) s += `${n}: ${v}\r\n`;
  if (g.framing === 'cl') return `${s}Content-Length: ${body.length}\r\n\r\n${body}`;
  if (g.framing === 'none') return `${s}\r\n`;
  s += 'Transfer-Encoding: chunked\r\n\r\n';
  let rest = body;
  for (const n of g.chunks) {
    if (rest.length === 0) break;
    const piece = rest.slice(0, n);
    rest = rest.slice(n);
    s += `${piece.length.toString(16)}\r\n${piece}\r\n`;
  }
  if (rest.length > 0) s += `${rest.length.toString(16)};ext=1\r\n${rest}\r\n`;
  return `${s}0\r\n\r\n`;
}

/** Cut `buf` at sorted offsets. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const pts = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of pts) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('properties', () => {
  it('never throws on arbitrary bytes, arbitrarily split', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // mutated valid requests reach deeper states than random bytes
      fc
        .tuple(genRequest, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
        .map(([g, muts]) => {
          const buf = b(serialise(g));
          for (const [i, v] of muts) if (buf.length > 0) buf[i % buf.length] = v;
          return new Uint8Array(buf);
        }),
    );
    fc.assert(
      fc.property(bytes, fc.array(fc.nat(), { maxLength: 8 }), (u8, cuts) => {
        const buf = Buffer.from(u8);
        const one = normalise(run([buf]));
        const many = normalise(run(split(buf, cuts)));
        expect(many).toEqual(one);
        // After an error nothing follows.
        const err = one.findIndex((e) => (e as { type: string }).type === 'error');
        if (err >= 0) expect(err).toBe(one.length - 1);
      }),
      { numRuns: 3000 },
    );
  });

  it('random splits of a valid pipelined stream give the same events as one push', () => {
    fc.assert(
      fc.property(
        fc.array(genRequest, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (gs, cuts) => {
          const buf = b(gs.map(serialise).join(''));
          const one = run([buf]);
          expect(one.some((e) => e.type === 'error')).toBe(false);
          expect(one.filter((e) => e.type === 'end')).toHaveLength(gs.length);
          expect(normalise(run(split(buf, cuts)))).toEqual(normalise(one));
          // byte-by-byte too
          if (buf.length < 400) {
            const bytes = [...buf].map((x) => Buffer.from([x]));
            expect(normalise(run(bytes))).toEqual(normalise(one));
          }
          const r = parseAll(buf);
          gs.forEach((g, i) => {
            const got = r.requests[i]!;
            expect(got.head.method).toBe(g.method);
            expect(got.head.target).toBe(g.target);
            if (g.framing !== 'none') expect(got.body.toString('utf8')).toBe(g.body);
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Differential against llhttp (node:http's parser)

interface Seen {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: string;
}

describe('differential against llhttp (node:http)', () => {
  let server: http.Server;
  let port = 0;
  /** What node:http parsed, per client port (one connection per sample). */
  const byPort = new Map<number, { seen: Seen[]; clientError: boolean }>();

  beforeAll(async () => {
    server = http.createServer({ keepAliveTimeout: 2000 }, (req, res) => {
      const entry = byPort.get(req.socket.remotePort ?? -1);
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const headers: Array<[string, string]> = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
        entry?.seen.push({
          method: req.method ?? '',
          target: req.url ?? '',
          headers,
          body: Buffer.concat(parts).toString('latin1'),
        });
        res.end('ok');
      });
    });
    server.on('clientError', (_e, sock: net.Socket) => {
      const entry = byPort.get(sock.remotePort ?? -1);
      if (entry) entry.clientError = true;
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** Send `raw` on a fresh connection; wait for `expect` responses, the server closing, or 1 s. */
  async function viaLlhttp(raw: Buffer, want: number): Promise<{ seen: Seen[]; clientError: boolean }> {
    const entry = { seen: [] as Seen[], clientError: false };
    await new Promise<void>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      let got = '';
      const timer = setTimeout(() => done(), 1000);
      const done = () => {
        clearTimeout(timer);
        sock.destroy();
        resolve();
      };
      sock.on('connect', () => {
        byPort.set(sock.localPort ?? -1, entry);
        sock.write(raw);
      });
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if ((got.match(/HTTP\/1\.1 200 OK/g) ?? []).length >= want) done();
      });
      sock.on('close', done);
      sock.on('error', done);
    });
    return entry;
  }

  /** Valid requests with some risky variations both parsers may or may not accept. */
  const variant = fc.record({
    g: genRequest,
    extra: fc.array(
      fc.constantFrom(
        'X-Fold: a\r\n b\r\n',
        'X-Sp : a\r\n',
        'X-Bare: a\rb\r\n',
        'X-Nul: a\x00b\r\n',
        'X-Ctl: a\x01b\r\n',
        'X-Obs: caf\xe9\r\n',
        'X-Tab:\ta\t\r\n',
        'Cookie: a=1\r\nCookie: b=2\r\n',
        'Content-Length: 0\r\n',
        'Content-Length: 00\r\n',
        'Transfer-Encoding: chunked\r\n',
        'Transfer-Encoding: gzip\r\n',
        'X-Lf: a\nY: b\r\n',
        'Bad(Name): x\r\n',
      ),
      { maxLength: 2 },
    ),
  });

  it('both accept → same method, target, headers and body; acceptance differences are explained', async () => {
    const samples = fc.sample(variant, { numRuns: 250, seed: 20210302 });
    const onlyOurs: string[] = [];
    const onlyTheirs = new Set<string>();
    let bothAccepted = 0;
    for (const { g, extra } of samples) {
      const base = serialise(g);
      const cut = base.indexOf('\r\n') + 2;
      const raw = b(base.slice(0, cut) + extra.join('') + base.slice(cut));
      const ours = parseAll(raw);
      const theirs = await viaLlhttp(raw, 1);
      const oursOk = !ours.error;
      const theirsOk = !theirs.clientError && theirs.seen.length === 1;
      if (oursOk && theirsOk) {
        bothAccepted++;
        const o = ours.requests[0]!;
        const t = theirs.seen[0]!;
        expect({
          method: o.head.method,
          target: o.head.target,
          headers: o.head.headers,
          body: o.body.toString('latin1'),
        }).toEqual(t);
      } else if (oursOk && !theirsOk) onlyOurs.push(JSON.stringify(raw.toString('latin1')));
      else if (!oursOk && theirsOk) onlyTheirs.add(`${ours.error?.status} ${ours.error?.reason}`);
    }
    // Bulwark is stricter than llhttp everywhere: nothing it accepts is refused by llhttp.
    expect(onlyOurs).toEqual([]);
    // What llhttp accepts and Bulwark refuses: only a coding before chunked (llhttp passes `gzip, chunked` on;
    // a gateway that does not decode gzip must not). obs-fold, space before colon, NUL, CTLs, bare CR/LF, bad
    // names, CL+TE: llhttp refuses them too.
    expect([...onlyTheirs]).toEqual(
      [...onlyTheirs].length === 0 ? [] : ['501 transfer-coding "gzip" not implemented'],
    );
    expect(bothAccepted).toBeGreaterThan(50);
  }, 60_000);

  it('pipelined valid requests: same sequence', async () => {
    const samples = fc.sample(fc.array(genRequest, { minLength: 2, maxLength: 3 }), { numRuns: 40, seed: 7 });
    for (const gs of samples) {
      const raw = b(gs.map(serialise).join(''));
      const ours = parseAll(raw);
      const theirs = await viaLlhttp(raw, gs.length);
      expect(theirs.clientError).toBe(false);
      expect(
        ours.requests.map((r) => ({
          method: r.head.method,
          target: r.head.target,
          headers: r.head.headers,
          body: r.body.toString('latin1'),
        })),
      ).toEqual(theirs.seen);
    }
  }, 60_000);
});
