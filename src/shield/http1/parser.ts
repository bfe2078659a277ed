/**
 * Strict, incremental HTTP/1.x request parser (RFC 9112) for the shield gateway: request heads with their raw
 * header lines (order, case and repetition kept), and message-body framing (Content-Length or chunked) streamed
 * as it arrives. Pipelined requests follow one another on the same parser.
 *
 * Strictness choices (each one closes a request-smuggling or WAF-evasion shape):
 * - Lines end with CRLF only: a bare LF or a bare CR anywhere in the head, a chunk-size line or a trailer → 400.
 *   (RFC 9112 §2.2 lets a recipient accept a bare LF; we do not, so nothing behind us can read the head otherwise.)
 * - NUL or any other control byte (except HTAB in field values) in the head → 400.
 * - obs-fold (a field line starting with SP/HTAB) → 400 (RFC 9112 §5.2 allows rejecting).
 * - Whitespace between field name and colon, an empty or non-token field name → 400 (RFC 9112 §5.1 MUST).
 * - Transfer-Encoding with Content-Length → 400; Transfer-Encoding in HTTP/1.0 → 400; a coding list whose last
 *   coding is not `chunked`, or `chunked` twice → 400 (RFC 9112 §6.3); other codings before `chunked` → 501.
 * - Content-Length not 1*DIGIT (signs, spaces inside, comma lists, hex) → 400; several differing → 400;
 *   above `maxBodyBytes` (default 2^53-1) → 413.
 * - Chunk sizes: 1–16 hex digits, value ≤ 2^53-1 (else 400), optional chunk-ext (`;name[=value]`), CRLF; chunk
 *   data must be followed by CRLF; trailers are parsed like header fields and share the head's bounds.
 * - Request-line: `method SP request-target SP HTTP/1.x CRLF` with single spaces; method any RFC 9110 token
 *   (RPC_IN_DATA, PROPFIND pass); target in origin-form or absolute-form (http/https), `*` for OPTIONS only;
 *   CONNECT → 501; HTTP/2+ on the request-line → 505; HTTP/1.1 needs exactly one Host (RFC 9112 §3.2).
 * - Targets IIS + ASP.NET read differently from their decoded text (`#`, `\`, `%5c`, dot segments, trailing dots,
 *   `%u`, double encoding, controls, `:`, `(S(…))`, 8.3 names) → 400 before any rule runs (./target.ts).
 * - Head larger than `maxHeaderBytes` or more than `maxHeaders` fields → 431.
 * - An absolute-form target naming another host than the Host field → 400 (checkAbsoluteFormHost).
 * - `upgrade` (tunnel mode after the request) only for an HTTP/1.1 GET asking for `websocket` alone; any other
 *   Upgrade request stays HTTP (isWebSocketUpgrade).
 * After an `error` event the parser is dead (every later push returns nothing): the caller must answer (if it
 * wants) and close the connection.
 */

import { ambiguousTarget } from './target.js';

export type ParserErrorStatus = 400 | 413 | 431 | 501 | 505;

export interface RequestHead {
  method: string;
  /** request-target exactly as received. */
  target: string;
  /** `1.0` or `1.1`. */
  httpVersion: string;
  /** Field lines in order, names in their original case, values without leading/trailing whitespace. */
  headers: Array<[name: string, value: string]>;
  /** Declared Content-Length, or null (chunked, or no body). */
  contentLength: number | null;
  chunked: boolean;
  /** The connection may carry another request after this one (HTTP/1.1 default, `Connection: close` ends it). */
  keepAlive: boolean;
  /** `Connection: upgrade` + `Upgrade:`; after this request's `end`, the parser emits `tunnel` events. */
  upgrade: boolean;
  /** Bytes of the head on the wire (request-line through the empty line). */
  headBytes: number;
}

export type ParserEvent =
  | { type: 'head'; request: RequestHead }
  /** A slice of the body (chunked framing removed). May be a view onto the pushed Buffer: copy it to keep it. */
  | { type: 'body'; data: Buffer }
  /** The request is complete; `trailers` for a chunked body that had trailer fields. */
  | { type: 'end'; trailers?: Array<[string, string]> }
  /** Bytes after an upgrade request (not HTTP any more). */
  | { type: 'tunnel'; data: Buffer }
  /** The input is not an acceptable HTTP/1.x request: answer `status` (or nothing) and close the connection. */
  | { type: 'error'; status: ParserErrorStatus; reason: string };

export interface RequestParserOptions {
  /** Bound on the request-line + header fields (and, separately, on the trailer section). Default 32 KiB. */
  maxHeaderBytes?: number;
  /** Bound on the number of header fields (and trailer fields). Default 100. */
  maxHeaders?: number;
  /** Bound on a body (Content-Length or the sum of chunks). Default 2^53-1. */
  maxBodyBytes?: number;
}

export interface RequestParser {
  /** Feed bytes; returns the events they complete, in order. Never throws. */
  push(chunk: Buffer): ParserEvent[];
  /**
   * The peer closed its side. Returns an `error` (400) event when it closed inside a request (a truncated head or
   * body), nothing when it closed between requests.
   */
  finish(): ParserEvent[];
  /** `head` = waiting for a request-line (between requests); `body` = inside a request; … */
  readonly state: 'head' | 'body' | 'closed' | 'tunnel' | 'error';
  /** True when no byte of a next request has been received yet (idle keep-alive connection). */
  readonly idle: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!TCHAR[s.charCodeAt(i)]) return false;
  return true;
}

/** field-value bytes: HTAB, SP, VCHAR, obs-text. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === HTAB) continue;
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** request-target bytes: VCHAR only (no obs-text; a raw byte ≥ 0x80 in a URI is not a URI). */
function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

const CHUNK_LINE =
  /^([0-9A-Fa-f]+)((?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))?)*)$/;

const MAX_CHUNK_LINE = 4096;

class HttpError {
  constructor(
    readonly status: ParserErrorStatus,
    readonly reason: string,
  ) {}
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
  while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HTAB)) b--;
  return s.slice(a, b);
}

/** Parse field lines (no CR/LF inside, already checked) into pairs. */
function parseFieldLine(line: string, what: string): [string, string] {
  const c0 = line.charCodeAt(0);
  if (c0 === SP || c0 === HTAB) throw new HttpError(400, `obs-fold (${what} line starts with whitespace)`);
  const colon = line.indexOf(':');
  if (colon < 0) throw new HttpError(400, `${what} line without ":"`);
  const name = line.slice(0, colon);
  if (name.length === 0) throw new HttpError(400, `empty ${what} name`);
  const last = name.charCodeAt(name.length - 1);
  if (last === SP || last === HTAB) throw new HttpError(400, `whitespace between ${what} name and ":"`);
  if (!isToken(name)) throw new HttpError(400, `invalid character in ${what} name`);
  const value = trimOws(line.slice(colon + 1));
  if (!isFieldValue(value)) throw new HttpError(400, `control character in ${what} "${name}"`);
  return [name, value];
}

function commaList(headers: ReadonlyArray<readonly [string, string]>, lname: string): string[] | null {
  let out: string[] | null = null;
  for (const [n, v] of headers) {
    if (n.length !== lname.length || n.toLowerCase() !== lname) continue;
    out ??= [];
    for (const part of v.split(',')) out.push(trimOws(part).toLowerCase());
  }
  return out;
}

interface Framing {
  contentLength: number | null;
  chunked: boolean;
  keepAlive: boolean;
  upgrade: boolean;
}

/**
 * The request-target's form (RFC 9112 §3.2), then the forms IIS + ASP.NET read differently from their decoded text
 * (`#`, backslashes, dot segments, trailing dots, `%u`, double encoding, …: see ./target.ts): all 400.
 */
function validateTarget(method: string, target: string): void {
  if (!isTarget(target)) throw new HttpError(400, 'invalid character in request-target');
  if (target === '*') {
    if (method !== 'OPTIONS') throw new HttpError(400, 'asterisk-form target is for OPTIONS only');
  } else if (target.charCodeAt(0) !== 0x2f /* / */) {
    if (!/^https?:\/\/[^/?#]+([/?].*)?$/i.test(target)) {
      throw new HttpError(400, 'request-target is neither origin-form nor absolute-form');
    }
    if (/^https?:\/\/[^/?#]*@/i.test(target)) {
      throw new HttpError(400, 'userinfo in an absolute-form target (RFC 9110 §4.2.4)');
    }
  }
  const ambiguous = ambiguousTarget(target);
  if (ambiguous) throw new HttpError(400, `request-target refused: ${ambiguous}`);
}

function parseHead(text: string, maxHeaders: number, maxBody: number): RequestHead {
  const lines = text.split('\r\n');
  const requestLine = lines[0] ?? '';
  const sp1 = requestLine.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0 || requestLine.indexOf(' ', sp2 + 1) >= 0) {
    throw new HttpError(400, 'malformed request-line (want "method SP target SP HTTP/1.x")');
  }
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!isToken(method)) throw new HttpError(400, 'invalid method token');
  const vm = /^HTTP\/([0-9])\.([0-9])$/.exec(version);
  if (!vm) throw new HttpError(400, 'malformed HTTP-version');
  if (vm[1] !== '1') throw new HttpError(505, `HTTP version ${vm[1]}.${vm[2]} not supported`);
  const httpVersion = vm[2] === '0' ? '1.0' : '1.1';
  if (vm[2] !== '0' && vm[2] !== '1') throw new HttpError(505, `HTTP version 1.${vm[2]} not supported`);
  if (method === 'CONNECT') throw new HttpError(501, 'CONNECT is not supported');
  validateTarget(method, target);

  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue; // the final empty line(s) of the split
    if (headers.length >= maxHeaders) throw new HttpError(431, `more than ${maxHeaders} header fields`);
    headers.push(parseFieldLine(line, 'header'));
  }
  const framing = framingOf(headers, httpVersion, maxBody, method);
  checkAbsoluteFormHost(target, headers);
  return { method, target, httpVersion, headers, ...framing, headBytes: 0 };
}

/**
 * An absolute-form target whose authority is not the Host field → 400. RFC 9112 §3.2.2 makes the authority win,
 * but the rules read Host and the routes the authority: two different hosts in one request would let a client pick
 * one route's rules while the backend serves the other host. (Default ports are the same host.)
 */
function checkAbsoluteFormHost(target: string, headers: Array<[string, string]>): void {
  const abs = /^(https?):\/\/([^/?#]+)/i.exec(target);
  if (!abs) return;
  const scheme = abs[1]!.toLowerCase();
  const plain = (h: string) => {
    const l = h.toLowerCase();
    return l.endsWith(scheme === 'https' ? ':443' : ':80') ? l.slice(0, l.lastIndexOf(':')) : l;
  };
  const host = headers.find(([n]) => n.length === 4 && n.toLowerCase() === 'host')?.[1];
  if (host !== undefined && plain(host) !== plain(abs[2]!)) {
    throw new HttpError(400, 'absolute-form target names another host than the Host field');
  }
}

function framingOf(
  headers: Array<[string, string]>,
  httpVersion: string,
  maxBody: number,
  method: string,
): Framing {
  let host = 0;
  const cls: string[] = [];
  for (const [n, v] of headers) {
    const l = n.toLowerCase();
    if (l === 'host') host++;
    else if (l === 'content-length') cls.push(v);
  }
  if (httpVersion === '1.1' && host !== 1) {
    throw new HttpError(400, host === 0 ? 'HTTP/1.1 request without Host' : 'several Host header fields');
  }
  const te = commaList(headers, 'transfer-encoding');
  let chunked = false;
  let contentLength: number | null = null;
  if (te) {
    if (cls.length > 0) throw new HttpError(400, 'both Transfer-Encoding and Content-Length');
    if (httpVersion === '1.0') throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (te[te.length - 1] !== 'chunked')
      throw new HttpError(400, 'Transfer-Encoding does not end with chunked');
    if (te.indexOf('chunked') !== te.length - 1) throw new HttpError(400, 'chunked applied more than once');
    if (te.some((c) => c === '')) throw new HttpError(400, 'empty transfer-coding');
    if (te.length > 1) throw new HttpError(501, `transfer-coding "${te[0]}" not implemented`);
    chunked = true;
  } else if (cls.length > 0) {
    const first = cls[0]!;
    if (!/^[0-9]+$/.test(first)) throw new HttpError(400, 'Content-Length is not a decimal number');
    for (const v of cls) if (v !== first) throw new HttpError(400, 'several differing Content-Length values');
    const digits = first.replace(/^0+(?=.)/, '');
    const n = digits.length > 16 ? Number.POSITIVE_INFINITY : Number(digits);
    if (!Number.isSafeInteger(n) || n > maxBody) throw new HttpError(413, 'Content-Length too large');
    contentLength = n;
  }
  const conn = commaList(headers, 'connection') ?? [];
  const keepAlive = conn.includes('close')
    ? false
    : httpVersion === '1.1'
      ? true
      : conn.includes('keep-alive');
  return {
    contentLength,
    chunked,
    keepAlive,
    upgrade: isWebSocketUpgrade(method, headers, httpVersion, conn),
  };
}

/**
 * The one upgrade the gateway tunnels (RFC 6455 §4.1): an HTTP/1.1 GET with `Connection: upgrade` and exactly one
 * `Upgrade` field whose value is `websocket`. Any other Upgrade (h2c, TLS/1.0, a list, another method) is not an
 * upgrade here: the gateway strips it as hop-by-hop and the request stays plain HTTP, so no upstream can switch an
 * inspected connection to a protocol (HTTP/2 over h2c) whose requests the rules would never see.
 */
function isWebSocketUpgrade(
  method: string,
  headers: Array<[string, string]>,
  httpVersion: string,
  conn: string[],
): boolean {
  if (method !== 'GET' || httpVersion !== '1.1' || !conn.includes('upgrade')) return false;
  const values = headers.filter(([n]) => n.length === 7 && n.toLowerCase() === 'upgrade');
  return values.length === 1 && values[0]![1].toLowerCase() === 'websocket';
}

type State =
  | 'head'
  | 'body-length'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-crlf'
  | 'trailers'
  | 'closed'
  | 'tunnel'
  | 'error';

/** A strict incremental HTTP/1.x request parser (see the module comment for what it refuses). */
export function createRequestParser(opts: RequestParserOptions = {}): RequestParser {
  const maxHeaderBytes = opts.maxHeaderBytes ?? 32 * 1024;
  const maxHeaders = opts.maxHeaders ?? 100;
  const maxBody = opts.maxBodyBytes ?? Number.MAX_SAFE_INTEGER;

  let state: State = 'head';
  /** Line buffer for the head / chunk-size lines / trailers (bounded). */
  let lineBuf = Buffer.allocUnsafe(Math.min(maxHeaderBytes, 4096) + 8);
  let lineLen = 0;
  /** Bytes of the current head seen so far (incl. skipped leading CRLFs). */
  let headSeen = 0;
  /** Index in lineBuf where the current line started (for empty-line detection). */
  let lineStart = 0;
  let prev = -1;
  let remaining = 0;
  let bodyTotal = 0;
  let current: RequestHead | null = null;
  let trailers: Array<[string, string]> = [];
  let trailerBytes = 0;

  const ensure = (n: number) => {
    if (lineLen + n <= lineBuf.length) return;
    const next = Buffer.allocUnsafe(Math.max(lineBuf.length * 2, lineLen + n));
    lineBuf.copy(next, 0, 0, lineLen);
    lineBuf = next;
  };

  const resetHead = () => {
    lineLen = 0;
    lineStart = 0;
    headSeen = 0;
    prev = -1;
  };

  const endRequest = (out: ParserEvent[], tr?: Array<[string, string]>) => {
    out.push(tr && tr.length > 0 ? { type: 'end', trailers: tr } : { type: 'end' });
    const req = current!;
    current = null;
    resetHead();
    state = req.upgrade ? 'tunnel' : req.keepAlive ? 'head' : 'closed';
  };

  /** Consume head bytes from chunk[i..]; returns the new index. */
  const stepHead = (chunk: Buffer, i: number, out: ParserEvent[]): number => {
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i]!;
      i++;
      headSeen++;
      if (b === 0) throw new HttpError(400, 'NUL byte in the request head');
      if (prev === CR && b !== LF) throw new HttpError(400, 'bare CR in the request head');
      if (b === LF) {
        if (prev !== CR) throw new HttpError(400, 'bare LF in the request head (CRLF required)');
        // A line ended. Empty line?
        const lineBytes = lineLen - lineStart; // includes the CR
        if (lineBytes === 1) {
          if (lineStart === 0) {
            // Empty line(s) before the request-line (RFC 9112 §2.2: ignore). Drop the CR.
            lineLen = 0;
            prev = -1;
            if (headSeen > maxHeaderBytes) throw new HttpError(431, 'request head too large');
            continue;
          }
          const text = lineBuf.toString('latin1', 0, lineStart);
          const head = parseHead(text.slice(0, -2), maxHeaders, maxBody);
          head.headBytes = headSeen;
          current = head;
          out.push({ type: 'head', request: head });
          lineLen = 0;
          prev = -1;
          bodyTotal = 0;
          if (head.chunked) {
            state = 'chunk-size';
            trailers = [];
            trailerBytes = 0;
          } else if (head.contentLength && head.contentLength > 0) {
            state = 'body-length';
            remaining = head.contentLength;
          } else {
            endRequest(out);
          }
          return i;
        }
        ensure(1);
        lineBuf[lineLen++] = b;
        lineStart = lineLen;
        prev = b;
        continue;
      }
      if (headSeen > maxHeaderBytes) throw new HttpError(431, 'request head too large');
      ensure(1);
      lineBuf[lineLen++] = b;
      prev = b;
    }
    return i;
  };

  /** Read one CRLF-terminated line into lineBuf; returns [newIndex, line | undefined]. */
  const stepLine = (chunk: Buffer, i: number, limit: number, what: string): [number, string | undefined] => {
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i]!;
      i++;
      if (b === 0) throw new HttpError(400, `NUL byte in ${what}`);
      if (prev === CR && b !== LF) throw new HttpError(400, `bare CR in ${what}`);
      if (b === LF) {
        if (prev !== CR) throw new HttpError(400, `bare LF in ${what} (CRLF required)`);
        const line = lineBuf.toString('latin1', 0, lineLen - 1);
        lineLen = 0;
        prev = -1;
        return [i, line];
      }
      if (lineLen >= limit) throw new HttpError(what === 'trailer section' ? 431 : 400, `${what} too long`);
      ensure(1);
      lineBuf[lineLen++] = b;
      prev = b;
    }
    return [i, undefined];
  };

  const stepBody = (chunk: Buffer, i: number, out: ParserEvent[]): number => {
    switch (state) {
      case 'body-length': {
        const take = Math.min(remaining, chunk.length - i);
        out.push({ type: 'body', data: chunk.subarray(i, i + take) });
        remaining -= take;
        i += take;
        if (remaining === 0) endRequest(out);
        return i;
      }
      case 'chunk-size': {
        const [j, line] = stepLine(chunk, i, MAX_CHUNK_LINE, 'chunk-size line');
        if (line === undefined) return j;
        const m = CHUNK_LINE.exec(line);
        if (!m) throw new HttpError(400, 'malformed chunk-size line');
        const hex = m[1]!;
        if (hex.length > 16) throw new HttpError(400, 'chunk size has more than 16 hex digits');
        const size = Number.parseInt(hex, 16);
        if (!Number.isSafeInteger(size)) throw new HttpError(400, 'chunk size overflows 2^53');
        if (size === 0) {
          state = 'trailers';
          return j;
        }
        bodyTotal += size;
        if (bodyTotal > maxBody) throw new HttpError(413, 'chunked body too large');
        remaining = size;
        state = 'chunk-data';
        return j;
      }
      case 'chunk-data': {
        const take = Math.min(remaining, chunk.length - i);
        out.push({ type: 'body', data: chunk.subarray(i, i + take) });
        remaining -= take;
        i += take;
        if (remaining === 0) {
          state = 'chunk-crlf';
          remaining = 2;
        }
        return i;
      }
      case 'chunk-crlf': {
        const b = chunk[i]!;
        if (b !== (remaining === 2 ? CR : LF)) throw new HttpError(400, 'chunk data not followed by CRLF');
        remaining--;
        if (remaining === 0) state = 'chunk-size';
        return i + 1;
      }
      case 'trailers': {
        const before = i;
        const [j, line] = stepLine(chunk, i, maxHeaderBytes, 'trailer section');
        trailerBytes += j - before;
        if (trailerBytes > maxHeaderBytes) throw new HttpError(431, 'trailer section too large');
        if (line === undefined) return j;
        if (line === '') {
          endRequest(out, trailers);
          return j;
        }
        if (trailers.length >= maxHeaders) throw new HttpError(431, `more than ${maxHeaders} trailer fields`);
        trailers.push(parseFieldLine(line, 'trailer'));
        return j;
      }
      default:
        return chunk.length;
    }
  };

  const fail = (out: ParserEvent[], e: unknown) => {
    state = 'error';
    current = null;
    if (e instanceof HttpError) out.push({ type: 'error', status: e.status, reason: e.reason });
    else out.push({ type: 'error', status: 400, reason: `parser failure: ${String(e)}` });
  };

  return {
    get state() {
      if (state === 'head') return 'head';
      if (state === 'closed' || state === 'tunnel' || state === 'error') return state;
      return 'body';
    },
    get idle() {
      return state === 'head' && lineLen === 0;
    },
    push(chunk) {
      const out: ParserEvent[] = [];
      if (state === 'error' || state === 'closed' || chunk.length === 0) return out;
      if (state === 'tunnel') {
        out.push({ type: 'tunnel', data: chunk });
        return out;
      }
      let i = 0;
      try {
        while (i < chunk.length) {
          const s = state as State;
          if (s === 'head') i = stepHead(chunk, i, out);
          else if (s === 'tunnel') {
            out.push({ type: 'tunnel', data: chunk.subarray(i) });
            break;
          } else if (s === 'closed' || s === 'error') break;
          else i = stepBody(chunk, i, out);
        }
      } catch (e) {
        fail(out, e);
      }
      return out;
    },
    finish() {
      const out: ParserEvent[] = [];
      if (state === 'head' && lineLen === 0) return out;
      if (state === 'error' || state === 'closed' || state === 'tunnel') return out;
      fail(out, new HttpError(400, 'connection closed inside a request'));
      return out;
    },
  };
}
