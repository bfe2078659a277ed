/**
 * A test client for GET /api/v1/events over real HTTP on 127.0.0.1: opens the stream, collects what arrives and
 * closes it. Injected requests cannot read a stream that stays open, so tests of the live route use this.
 */
import { request as httpRequest } from 'node:http';
import type { EventEnvelope } from '../api/events.js';

export interface SseRead {
  status: number;
  /** Everything the server sent, as text. */
  body: string;
  /** The events parsed from the body (complete blocks with a data line). */
  events: EventEnvelope[];
  /** The same events with their `id:` and `event:` fields. */
  frames: SseFrame[];
  /** Comment lines (`: ping`). */
  comments: string[];
}

export interface SseFrame {
  id: string;
  event: string;
  envelope: EventEnvelope;
}

export interface SseSession {
  status: number;
  /** What arrived so far. */
  read(): SseRead;
  /** Resolves once `done` holds for what arrived, or rejects after `timeoutMs`. */
  until(done: (read: SseRead) => boolean, timeoutMs?: number): Promise<SseRead>;
  close(): SseRead;
  /** Whether the server ended the stream (or the connection closed). */
  ended(): boolean;
  /** Stops reading (the server's writes back up), and reads again. */
  pause(): void;
  resume(): void;
}

function parse(status: number, body: string): SseRead {
  const frames: SseFrame[] = [];
  const comments: string[] = [];
  // Only complete blocks: a stream the server cut may end mid-frame.
  const complete = body.slice(0, body.lastIndexOf('\n\n') + 1);
  for (const block of complete.split('\n\n')) {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line);
      else {
        const at = line.indexOf(': ');
        if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
      }
    }
    if (fields.data !== undefined)
      frames.push({
        id: fields.id ?? '',
        event: fields.event ?? '',
        envelope: JSON.parse(fields.data) as EventEnvelope,
      });
  }
  return { status, body, events: frames.map((f) => f.envelope), frames, comments };
}

/** Opens the stream at `path` (e.g. `/api/v1/events?after=0`); resolves once the response headers arrived. */
export function openSse(port: number, path: string, headers: Record<string, string>): Promise<SseSession> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } },
      (res) => {
        const status = res.statusCode ?? 0;
        let body = '';
        let ended = false;
        const waiters = new Set<() => void>();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          for (const w of [...waiters]) w();
        });
        res.on('end', () => {
          ended = true;
          for (const w of [...waiters]) w();
        });
        res.on('close', () => {
          ended = true;
          for (const w of [...waiters]) w();
        });
        res.on('error', () => {});
        const read = () => parse(status, body);
        resolve({
          status,
          read,
          until(done, timeoutMs = 5_000) {
            return new Promise((ok, fail) => {
              const check = () => {
                const r = read();
                if (done(r)) {
                  finish();
                  ok(r);
                } else if (ended) {
                  finish();
                  fail(new Error(`the stream ended before the condition held: ${body.slice(0, 2000)}`));
                }
              };
              const timer = setTimeout(() => {
                finish();
                fail(new Error(`no such events within ${timeoutMs} ms; received: ${body.slice(0, 2000)}`));
              }, timeoutMs);
              const finish = () => {
                clearTimeout(timer);
                waiters.delete(check);
              };
              waiters.add(check);
              check();
            });
          },
          close() {
            req.destroy();
            return read();
          },
          ended: () => ended,
          pause: () => res.pause(),
          resume: () => res.resume(),
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('SSE request timed out')));
    req.end();
  });
}

/**
 * One request to the stream route, read for `ms` and closed: its status and what it sent by then (a refusal's
 * whole JSON body).
 */
export async function sseOnce(
  port: number,
  path: string,
  headers: Record<string, string>,
  ms = 200,
): Promise<SseRead> {
  const session = await openSse(port, path, headers);
  if (session.status !== 200) {
    return session.until(() => false, 5_000).catch(() => session.close());
  }
  await new Promise((r) => setTimeout(r, ms));
  return session.close();
}
