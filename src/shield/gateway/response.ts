/**
 * Strict incremental HTTP/1.x response framer for the gateway's upstream side: status line + header fields,
 * then the body framed by (RFC 9112 §6.3) — no body for HEAD, 1xx, 204 and 304; chunked when the last
 * transfer-coding is chunked; Content-Length; otherwise read until the upstream closes. Interim 1xx responses
 * (other than 101) come as `info` events and parsing continues with the final response. After a 101 every byte is
 * a `tunnel` event. Lines must end in CRLF; obs-fold, bad chunk sizes and conflicting lengths are errors (→ 502).
 */

export interface ResponseHead {
  status: number;
  reason: string;
  httpVersion: string;
  headers: Array<[string, string]>;
  /** How the body is delimited. */
  framing: 'none' | 'length' | 'chunked' | 'close';
  contentLength: number | null;
  /** The upstream allows another request on this connection after this response. */
  keepAlive: boolean;
}

export type ResponseEvent =
  | { type: 'info'; head: ResponseHead }
  | { type: 'head'; head: ResponseHead }
  /** Body bytes (chunk framing removed). A view onto the pushed buffer. */
  | { type: 'body'; data: Buffer }
  | { type: 'end'; trailers?: Array<[string, string]> }
  | { type: 'tunnel'; data: Buffer }
  | { type: 'error'; reason: string };

export interface ResponseParser {
  push(chunk: Buffer): ResponseEvent[];
  /** The upstream closed: ends a close-delimited body, else an error if inside a response. */
  finish(): ResponseEvent[];
  readonly done: boolean;
}

const CR = 0x0d;
const LF = 0x0a;

class FrameError extends Error {}

function parseHeadText(text: string, method: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) ([0-9]{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new FrameError('malformed status line');
  const status = Number(m[2]);
  const httpVersion = `1.${m[1]}`;
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    if (line[0] === ' ' || line[0] === '\t') throw new FrameError('obs-fold in the upstream response');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new FrameError('header line without ":"');
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new FrameError('invalid header name');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new FrameError(`control character in header ${name}`);
    headers.push([name, value]);
  }
  const list = (lname: string) => {
    const out: string[] = [];
    for (const [n, v] of headers)
      if (n.toLowerCase() === lname) for (const p of v.split(',')) out.push(p.trim().toLowerCase());
    return out;
  };
  const conn = list('connection');
  let keepAlive = conn.includes('close') ? false : httpVersion === '1.1' ? true : conn.includes('keep-alive');
  let framing: ResponseHead['framing'];
  let contentLength: number | null = null;
  const te = list('transfer-encoding');
  const cls = headers.filter(([n]) => n.toLowerCase() === 'content-length').map(([, v]) => v);
  if (method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) {
    framing = 'none';
    if (cls.length > 0 && /^[0-9]+$/.test(cls[0]!)) contentLength = Number(cls[0]);
  } else if (te.length > 0) {
    if (cls.length > 0) throw new FrameError('both Transfer-Encoding and Content-Length in the response');
    if (te[te.length - 1] === 'chunked') {
      if (te.length > 1) throw new FrameError(`unsupported transfer-coding ${te[0]}`);
      framing = 'chunked';
    } else {
      framing = 'close';
      keepAlive = false;
    }
  } else if (cls.length > 0) {
    const first = cls[0]!;
    if (!/^[0-9]{1,16}$/.test(first) || cls.some((v) => v !== first))
      throw new FrameError('invalid Content-Length in the response');
    contentLength = Number(first);
    framing = contentLength === 0 ? 'none' : 'length';
  } else {
    framing = 'close';
    keepAlive = false;
  }
  return { status, reason: m[3] ?? '', httpVersion, headers, framing, contentLength, keepAlive };
}

type State =
  | 'head'
  | 'length'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-crlf'
  | 'trailers'
  | 'close'
  | 'tunnel'
  | 'done'
  | 'error';

export function createResponseParser(method: string, maxHeaderBytes = 64 * 1024): ResponseParser {
  let state: State = 'head';
  let line: number[] = [];
  let headBuf: string[] = [];
  let headBytes = 0;
  let remaining = 0;
  let trailers: Array<[string, string]> = [];

  /** Read one CRLF line starting at i; returns [next index, line or undefined]. */
  const readLine = (chunk: Buffer, i: number, limit: number): [number, string | undefined] => {
    while (i < chunk.length) {
      const b = chunk[i++]!;
      headBytes++;
      if (b === LF) {
        if (line[line.length - 1] !== CR) throw new FrameError('bare LF in the upstream response');
        line.pop();
        const s = Buffer.from(line).toString('latin1');
        line = [];
        return [i, s];
      }
      if (line.length > 0 && line[line.length - 1] === CR)
        throw new FrameError('bare CR in the upstream response');
      if (b === 0) throw new FrameError('NUL in the upstream response head');
      if (line.length >= limit) throw new FrameError('upstream response line too long');
      line.push(b);
    }
    return [i, undefined];
  };

  const step = (chunk: Buffer, i: number, out: ResponseEvent[]): number => {
    switch (state) {
      case 'head': {
        const [j, l] = readLine(chunk, i, maxHeaderBytes);
        if (headBytes > maxHeaderBytes) throw new FrameError('upstream response head too large');
        if (l === undefined) return j;
        if (l !== '') {
          headBuf.push(l);
          return j;
        }
        if (headBuf.length === 0) return j; // tolerate empty lines before a status line
        const head = parseHeadText(headBuf.join('\r\n'), method);
        headBuf = [];
        headBytes = 0;
        if (head.status >= 100 && head.status < 200 && head.status !== 101) {
          out.push({ type: 'info', head });
          return j;
        }
        out.push({ type: 'head', head });
        if (head.status === 101) state = 'tunnel';
        else if (head.framing === 'none') {
          out.push({ type: 'end' });
          state = 'done';
        } else if (head.framing === 'length') {
          remaining = head.contentLength!;
          state = 'length';
        } else if (head.framing === 'chunked') {
          state = 'chunk-size';
          trailers = [];
        } else state = 'close';
        return j;
      }
      case 'length': {
        const take = Math.min(remaining, chunk.length - i);
        out.push({ type: 'body', data: chunk.subarray(i, i + take) });
        remaining -= take;
        if (remaining === 0) {
          out.push({ type: 'end' });
          state = 'done';
        }
        return i + take;
      }
      case 'close':
        out.push({ type: 'body', data: chunk.subarray(i) });
        return chunk.length;
      case 'tunnel':
        out.push({ type: 'tunnel', data: chunk.subarray(i) });
        return chunk.length;
      case 'chunk-size': {
        const [j, l] = readLine(chunk, i, 4096);
        if (l === undefined) return j;
        const m = /^([0-9A-Fa-f]{1,16})[ \t]*(;.*)?$/.exec(l);
        if (!m) throw new FrameError('bad chunk size in the upstream response');
        const size = Number.parseInt(m[1]!, 16);
        if (!Number.isSafeInteger(size)) throw new FrameError('chunk size overflow in the upstream response');
        headBytes = 0;
        if (size === 0) state = 'trailers';
        else {
          remaining = size;
          state = 'chunk-data';
        }
        return j;
      }
      case 'chunk-data': {
        const take = Math.min(remaining, chunk.length - i);
        out.push({ type: 'body', data: chunk.subarray(i, i + take) });
        remaining -= take;
        if (remaining === 0) {
          state = 'chunk-crlf';
          remaining = 2;
        }
        return i + take;
      }
      case 'chunk-crlf': {
        if (chunk[i] !== (remaining === 2 ? CR : LF)) throw new FrameError('chunk not followed by CRLF');
        remaining--;
        if (remaining === 0) state = 'chunk-size';
        return i + 1;
      }
      case 'trailers': {
        const [j, l] = readLine(chunk, i, maxHeaderBytes);
        if (headBytes > maxHeaderBytes) throw new FrameError('upstream trailers too large');
        if (l === undefined) return j;
        if (l === '') {
          out.push(trailers.length > 0 ? { type: 'end', trailers } : { type: 'end' });
          state = 'done';
          return j;
        }
        const colon = l.indexOf(':');
        if (colon <= 0 || l[0] === ' ' || l[0] === '\t') throw new FrameError('bad trailer line');
        trailers.push([l.slice(0, colon), l.slice(colon + 1).trim()]);
        return j;
      }
      default:
        return chunk.length;
    }
  };

  return {
    get done() {
      return state === 'done';
    },
    push(chunk) {
      const out: ResponseEvent[] = [];
      if (state === 'error') return out;
      let i = 0;
      try {
        while (i < chunk.length) {
          if (state === 'done') throw new FrameError('upstream sent bytes after the response');
          i = step(chunk, i, out);
        }
      } catch (e) {
        state = 'error';
        out.push({ type: 'error', reason: e instanceof FrameError ? e.message : String(e) });
      }
      return out;
    },
    finish() {
      if (state === 'close') {
        state = 'done';
        return [{ type: 'end' }];
      }
      if (state === 'done' || state === 'error' || state === 'tunnel') return [];
      state = 'error';
      return [{ type: 'error', reason: 'upstream closed the connection inside a response' }];
    },
  };
}
