/**
 * HTTP/1.x front end of the shield gateway: a strict incremental request parser (heads with raw header lines,
 * streamed bodies, pipelining) and the conversion of a parsed head into the rule engine's ShieldRequest.
 */
import type { ShieldRequest } from '../types.js';
import {
  createRequestParser,
  type ParserErrorStatus,
  type RequestHead,
  type RequestParserOptions,
} from './parser.js';

export type {
  ParserErrorStatus,
  ParserEvent,
  RequestHead,
  RequestParser,
  RequestParserOptions,
} from './parser.js';
export { createRequestParser } from './parser.js';

/**
 * The ShieldRequest the rule engine evaluates for one parsed request. Without `body` it is the phase-1 view;
 * pass the (possibly bounded) body for phase 2 and `bodyTruncated` when the gateway's bound cut it.
 */
export function toShieldRequest(
  head: RequestHead,
  remoteAddr: string,
  body?: Buffer,
  bodyTruncated?: boolean,
): ShieldRequest {
  const req: ShieldRequest = {
    method: head.method,
    uri: head.target,
    httpVersion: head.httpVersion,
    headers: head.headers.map(([n, v]) => [n, v] as const),
    remoteAddr,
  };
  if (body !== undefined) req.body = body;
  if (bodyTruncated) req.bodyTruncated = true;
  return req;
}

/** One complete request collected from parser events (tests, differential harnesses; not for large bodies). */
export interface CollectedRequest {
  head: RequestHead;
  body: Buffer;
  trailers?: Array<[string, string]>;
}

/** Parse a whole byte string (one connection's worth) into its complete requests and the error that stopped it. */
export function parseAll(
  raw: Buffer,
  opts: RequestParserOptions = {},
): {
  requests: CollectedRequest[];
  /** Why parsing stopped early (a truncated last request is a 400 "connection closed inside a request"). */
  error?: { status: ParserErrorStatus; reason: string };
} {
  const p = createRequestParser(opts);
  const requests: CollectedRequest[] = [];
  let cur: { head: RequestHead; parts: Buffer[] } | undefined;
  for (const ev of [...p.push(raw), ...p.finish()]) {
    if (ev.type === 'head') cur = { head: ev.request, parts: [] };
    else if (ev.type === 'body') cur?.parts.push(ev.data);
    else if (ev.type === 'end' && cur) {
      const r: CollectedRequest = { head: cur.head, body: Buffer.concat(cur.parts) };
      if (ev.trailers) r.trailers = ev.trailers;
      requests.push(r);
      cur = undefined;
    } else if (ev.type === 'error') {
      return { requests, error: { status: ev.status, reason: ev.reason } };
    }
  }
  return { requests };
}
