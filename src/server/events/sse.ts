/**
 * One Server-Sent Events stream: events after a resume point, then live ones, filtered to what the principal may
 * see. `id:` is the event's seq, `event:` its type, `data:` the JSON envelope on one line.
 *
 * Order without loss or duplicates: the stream registers for live events first, then reads the table from the
 * resume point until it is caught up, queueing live events meanwhile; then it sends the queued events it has not
 * sent (seq greater than the last one sent) and goes live. A live queue or an unsent socket buffer above its bound
 * ends the stream: the client reconnects with Last-Event-ID and catches up from the table.
 */
import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { EventEnvelope } from '../../api/events.js';
import type { Database } from '../db/schema.js';
import type { TenantScope } from '../scope.js';
import { type EventBus, envelopeOf } from './bus.js';
import { visibleTo, whereVisibleTo } from './visibility.js';

export interface SseLimits {
  /** Comment lines (`: ping`) this often, so proxies and clients see a live connection (default 15 s). */
  heartbeatMs: number;
  /** The stream ends after this long and the client resumes, signed in again (default 5 min). */
  maxConnectionMs: number;
  /** Unsent bytes in the socket above this end the stream (default 1 MiB). */
  maxBufferBytes: number;
  /** Live events queued while catching up, at most (default 10,000). */
  maxPending: number;
  /** Rows read per query while catching up (default 500). */
  batch: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = {
  heartbeatMs: 15_000,
  maxConnectionMs: 5 * 60_000,
  maxBufferBytes: 1024 * 1024,
  maxPending: 10_000,
  batch: 500,
};

/** How long catching up waits for a full socket buffer to drain before ending the stream. */
const DRAIN_WAIT_MS = 30_000;

export function formatEvent(event: EventEnvelope): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export interface SseStreamOptions {
  db: Kysely<Database>;
  bus: EventBus;
  scope: TenantScope;
  /** Send events with seq greater than this. */
  after: number;
  res: ServerResponse;
  limits: SseLimits;
  log?: { warn(obj: object, msg: string): void };
}

/** Starts the stream; returns a function that ends it (server shutdown). */
export function runSseStream(options: SseStreamOptions): () => void {
  const { db, bus, scope, res, limits } = options;
  let lastSent = options.after;
  let catchingUp = true;
  let closed = false;
  const pending: EventEnvelope[] = [];

  const close = () => {
    if (closed) return;
    closed = true;
    off();
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    if (!res.writableEnded) res.end();
  };
  const write = (text: string): boolean => {
    if (closed) return false;
    res.write(text);
    return true;
  };
  const send = (event: EventEnvelope) => {
    if (event.seq <= lastSent) return;
    write(formatEvent(event));
    lastSent = event.seq;
  };

  const off = bus.tail((event) => {
    if (closed || !visibleTo(scope, event)) return;
    if (catchingUp) {
      pending.push(event);
      if (pending.length > limits.maxPending) close();
      return;
    }
    send(event);
    if (res.writableLength > limits.maxBufferBytes) close();
  });
  res.on('close', close);
  res.on('error', close);
  const heartbeat = setInterval(() => write(': ping\n\n'), limits.heartbeatMs);
  const lifetime = setTimeout(close, limits.maxConnectionMs);

  const catchUp = async () => {
    for (;;) {
      if (closed) return;
      const rows = await whereVisibleTo(
        db.selectFrom('events').select(['seq', 'type', 'tenant_id', 'subject', 'data', 'at']),
        scope,
      )
        .where('seq', '>', lastSent)
        .orderBy('seq')
        .limit(limits.batch)
        .execute();
      for (const row of rows) send(envelopeOf(row));
      if (res.writableLength > limits.maxBufferBytes && !(await drained(res, DRAIN_WAIT_MS))) {
        close();
        return;
      }
      if (rows.length < limits.batch) break;
    }
    if (closed) return;
    catchingUp = false;
    for (const event of pending.splice(0)) send(event);
  };
  catchUp().catch((err) => {
    options.log?.warn({ err }, 'event stream could not read events; the client will resume');
    close();
  });
  return close;
}

function drained(res: ServerResponse, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
