/**
 * Recording upstreams for the framing tests: what a backend *parses* from the bytes the gateway forwards, with
 * parsers independent of the gateway's own (src/shield/http1):
 * - `startLlhttpUpstream`: Node's llhttp through `node:http` (the strict parser most servers resemble);
 * - `startRawUpstream`: a small parser written here for what llhttp refuses (RPC_IN_DATA) or does not parse (the body
 *   of an upgrade request).
 * Both behave like IIS with an upgrade: a request carrying `Connection: Upgrade` + `Upgrade` is answered 101 only
 * when its `X-Answer` header says `101`; any other answer (default 200) keeps the connection in HTTP, so whatever
 * follows is parsed as the next pipelined request — the behaviour the upgrade-smuggling bypass relied on.
 */
import http from 'node:http';
import net from 'node:net';

export interface ParsedRequest {
  /** Which parser read it. */
  via: 'llhttp' | 'raw';
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** The request asked for an upgrade and was answered 101: bytes after it are tunnel data, not requests. */
  upgraded: boolean;
}

export interface RecordingUpstream {
  port: number;
  /** Requests in the order they were parsed (heads recorded as soon as parsed; body filled in as it arrives). */
  requests: ParsedRequest[];
  /** Bytes received after a 101 (per upgraded connection, concatenated). */
  tunnels: Buffer[];
  /** Parse errors (a well-behaved gateway never causes one). */
  errors: string[];
  close(): Promise<void>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function wantsUpgrade(headers: Array<[string, string]>): boolean {
  const conn = headers
    .filter(([n]) => n.toLowerCase() === 'connection')
    .flatMap(([, v]) => v.split(','))
    .map((t) => t.trim().toLowerCase());
  return conn.includes('upgrade') && headerValue(headers, 'upgrade') !== undefined;
}

/** 101 when the request asks for it (X-Answer: 101), else the status in X-Answer, else 200. */
function answerFor(headers: Array<[string, string]>): number {
  const a = Number(headerValue(headers, 'x-answer') ?? '200');
  return Number.isInteger(a) && a >= 101 && a <= 599 ? a : 200;
}

function respond(sock: net.Socket, status: number) {
  if (status === 101)
    sock.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
  else sock.write(`HTTP/1.1 ${status} X\r\nContent-Length: 2\r\n\r\nok`);
}

type RawState =
  | { kind: 'head' }
  | { kind: 'length'; remaining: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'trailers' }
  | { kind: 'tunnel' }
  | { kind: 'dead' };

/**
 * An incremental request reader written independently of the gateway's parser (same RFC 9112 grammar, coarser
 * code: whole lines, regular expressions). `startInBody` continues a request whose head another parser read.
 */
export class RawRequestReader {
  private buf = Buffer.alloc(0);
  private state: RawState = { kind: 'head' };
  private cur: ParsedRequest | undefined;
  private bodyParts: Buffer[] = [];

  constructor(
    private readonly sock: net.Socket,
    private readonly up: RecordingUpstream,
  ) {}

  /** Continue after a head read elsewhere (llhttp's upgrade event): read its body, then answer it. */
  startInBody(req: ParsedRequest) {
    this.cur = req;
    this.up.requests.push(req);
    this.enterBody(req.headers);
  }

  push(data: Buffer) {
    if (this.state.kind === 'dead') return;
    if (this.state.kind === 'tunnel') {
      this.up.tunnels.push(Buffer.from(data));
      return;
    }
    this.buf = Buffer.concat([this.buf, data]);
    try {
      while (this.step()) {}
    } catch (e) {
      this.up.errors.push(`raw: ${(e as Error).message}`);
      this.state = { kind: 'dead' };
      this.sock.end('HTTP/1.1 400 Bad\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
  }

  private line(): string | undefined {
    const i = this.buf.indexOf('\r\n');
    if (i < 0) {
      if (this.buf.length > 64 * 1024) throw new Error('line too long');
      return undefined;
    }
    const l = this.buf.toString('latin1', 0, i);
    this.buf = this.buf.subarray(i + 2);
    if (/[\r\n\0]/.test(l)) throw new Error(`bare CR/LF/NUL in ${JSON.stringify(l)}`);
    return l;
  }

  private enterBody(headers: Array<[string, string]>) {
    const te = headerValue(headers, 'transfer-encoding');
    const cl = headerValue(headers, 'content-length');
    if (te !== undefined && cl !== undefined) throw new Error('both Transfer-Encoding and Content-Length');
    if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') throw new Error(`Transfer-Encoding ${te}`);
      this.state = { kind: 'chunk-size' };
    } else if (cl !== undefined) {
      if (!/^[0-9]+$/.test(cl)) throw new Error(`Content-Length ${cl}`);
      this.state = { kind: 'length', remaining: Number(cl) };
      if (Number(cl) === 0) this.finishRequest();
    } else this.finishRequest();
  }

  private finishRequest() {
    const req = this.cur!;
    req.body = Buffer.concat(this.bodyParts);
    this.bodyParts = [];
    this.cur = undefined;
    const status = wantsUpgrade(req.headers) ? answerFor(req.headers) : 200;
    respond(this.sock, status);
    if (status === 101) {
      req.upgraded = true;
      this.state = { kind: 'tunnel' };
      if (this.buf.length > 0) this.up.tunnels.push(Buffer.from(this.buf));
      this.buf = Buffer.alloc(0);
    } else this.state = { kind: 'head' };
  }

  /** One step; false when more bytes are needed. */
  private step(): boolean {
    const s = this.state;
    switch (s.kind) {
      case 'head': {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > 256 * 1024) throw new Error('head too long');
          return false;
        }
        const text = this.buf.toString('latin1', 0, end);
        this.buf = this.buf.subarray(end + 4);
        const [requestLine, ...fields] = text.split('\r\n');
        const m = /^(\S+) (\S+) HTTP\/1\.[01]$/.exec(requestLine!);
        if (!m || !TOKEN.test(m[1]!)) throw new Error(`request-line ${JSON.stringify(requestLine)}`);
        const headers: Array<[string, string]> = [];
        for (const f of fields) {
          const fm = /^([^:\s]+):[ \t]*(.*?)[ \t]*$/.exec(f);
          if (!fm || !TOKEN.test(fm[1]!) || /[\r\n\0]/.test(f)) throw new Error(`field ${JSON.stringify(f)}`);
          headers.push([fm[1]!, fm[2]!]);
        }
        this.cur = {
          via: 'raw',
          method: m[1]!,
          target: m[2]!,
          headers,
          body: Buffer.alloc(0),
          upgraded: false,
        };
        this.up.requests.push(this.cur);
        this.enterBody(headers);
        return true;
      }
      case 'length': {
        if (this.buf.length === 0) return false;
        const take = Math.min(s.remaining, this.buf.length);
        this.bodyParts.push(Buffer.from(this.buf.subarray(0, take)));
        this.buf = this.buf.subarray(take);
        s.remaining -= take;
        if (s.remaining === 0) this.finishRequest();
        return true;
      }
      case 'chunk-size': {
        const l = this.line();
        if (l === undefined) return false;
        const m = /^([0-9A-Fa-f]{1,16})(;.*)?$/.exec(l);
        if (!m) throw new Error(`chunk-size ${JSON.stringify(l)}`);
        const size = Number.parseInt(m[1]!, 16);
        this.state = size === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: size };
        return true;
      }
      case 'chunk-data': {
        if (this.buf.length < s.remaining + 2) return false;
        this.bodyParts.push(Buffer.from(this.buf.subarray(0, s.remaining)));
        if (this.buf[s.remaining] !== 0x0d || this.buf[s.remaining + 1] !== 0x0a)
          throw new Error('chunk without CRLF');
        this.buf = this.buf.subarray(s.remaining + 2);
        this.state = { kind: 'chunk-size' };
        return true;
      }
      case 'trailers': {
        const l = this.line();
        if (l === undefined) return false;
        if (l === '') this.finishRequest();
        else if (!/^[^:\s]+:/.test(l)) throw new Error(`trailer ${JSON.stringify(l)}`);
        return true;
      }
      default:
        return false;
    }
  }
}

function tracked(server: net.Server, up: RecordingUpstream): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  up.close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return sockets;
}

function emptyUpstream(): RecordingUpstream {
  return { port: 0, requests: [], tunnels: [], errors: [], close: async () => {} };
}

/** An upstream on our own raw reader (accepts any method token, e.g. RPC_IN_DATA). */
export async function startRawUpstream(): Promise<RecordingUpstream> {
  const up = emptyUpstream();
  const server = net.createServer((sock) => {
    const r = new RawRequestReader(sock, up);
    sock.on('data', (d: Buffer) => r.push(d));
  });
  tracked(server, up);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = (server.address() as net.AddressInfo).port;
  return up;
}

function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/**
 * An upstream on Node's llhttp. Upgrade requests: llhttp stops at their head, so the raw reader takes the rest of
 * the connection (the body, then — unless answered 101 — the following requests, as IIS would parse them).
 */
export async function startLlhttpUpstream(): Promise<RecordingUpstream> {
  const up = emptyUpstream();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const r: ParsedRequest = {
      via: 'llhttp',
      method: req.method ?? '',
      target: req.url ?? '',
      headers: pairs(req.rawHeaders),
      body: Buffer.alloc(0),
      upgraded: false,
    };
    up.requests.push(r);
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      r.body = Buffer.concat(parts);
      res.writeHead(200, { 'Content-Length': '2' });
      res.end('ok');
    });
  };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, onRequest);
  // node:http answers an Expect other than 100-continue with 417 and no 'request' event; it did parse the request.
  server.on('checkExpectation', onRequest);
  server.on('upgrade', (req: http.IncomingMessage, sock: net.Socket, rest: Buffer) => {
    const reader = new RawRequestReader(sock, up);
    reader.startInBody({
      via: 'llhttp',
      method: req.method ?? '',
      target: req.url ?? '',
      headers: pairs(req.rawHeaders),
      body: Buffer.alloc(0),
      upgraded: false,
    });
    sock.on('data', (d: Buffer) => reader.push(d));
    if (rest.length > 0) reader.push(rest);
  });
  server.on('clientError', (e: Error, sock: net.Socket) => {
    up.errors.push(`llhttp: ${e.message}`);
    sock.destroy();
  });
  tracked(server, up);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = (server.address() as net.AddressInfo).port;
  return up;
}
