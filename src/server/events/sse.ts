/**
 * One Server-Sent Events stream: events after a resume point, then live ones, filtered to what the principal may
 * see. `id:` is the event's seq, `event:` its type, `data:` the JSON envelope on one line.
 *
 * Order without loss or duplicates: the stream registers for live events first, then reads the table from the
 * resume point until it is caught up, queueing live events meanwhile; then it sends the queued events it has not
 * sent (seq greater than the last one sent) and goes live.
 *
 * A resume point the table can no longer serve gets an `event: reset` frame (StreamReset in src/api/events.ts)
 * instead of a silent gap: when events after it were pruned (the oldest kept seq is above it + 1, checked after
 * every read, so a prune racing the catch-up is caught too) or when it is past the newest event. The stream then
 * continues after the newest event; the client reloads what it shows.
 *
 * Memory per stream is bounded: a live queue above its count or bytes, or unsent socket data above its bound, ends
 * the stream as a slow reader — its connection is destroyed at once, never left holding the unsent bytes — and
 * the client reconnects with Last-Event-ID and catches up from the table. A stream that ends normally (its
 * lifetime, server shutdown) gets a short grace to flush before its connection is cut.
 */
import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import { type EventEnvelope, STREAM_RESET_EVENT, type StreamReset } from '../../api/events.js';
import type { Database } from '../db/schema.js';
import type { TenantScope } from '../scope.js';
import { type EventBus, envelopeOf, headSeq } from './bus.js';
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
  /** Bytes of live events queued while catching up, at most (default 4 MiB). */
  maxPendingBytes: number;
  /** Rows read per query while catching up (default 500). */
  batch: number;
  /** Open streams of one user (all their sessions and tokens) in this process, at most (default 8). */
  perUser: number;
  /** Open streams in this process, at most (default 500). */
  total: number;
  /** A stream that ends normally hands its last bytes to the client within this, or its connection is cut (default 5 s). */
  endGraceMs: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = {
  heartbeatMs: 15_000,
  maxConnectionMs: 5 * 60_000,
  maxBufferBytes: 1024 * 1024,
  maxPending: 10_000,
  maxPendingBytes: 4 * 1024 * 1024,
  batch: 500,
  perUser: 8,
  total: 500,
  endGraceMs: 5_000,
};

/** How long catching up waits for a full socket buffer to drain before ending the stream. */
const DRAIN_WAIT_MS = 30_000;

export function formatEvent(event: EventEnvelope): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export function formatReset(reset: StreamReset): string {
  return `id: ${reset.resume_after}\nevent: ${STREAM_RESET_EVENT}\ndata: ${JSON.stringify(reset)}\n\n`;
}

/** The lowest seq still in the table (0 when there is none). */
export async function oldestSeq(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.min('seq').as('low'))
    .executeTakeFirst();
  return Number(row?.low ?? 0);
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
  const pending: { seq: number; text: string }[] = [];
  let pendingBytes = 0;

  const close = (how: 'end' | 'drop' = 'end') => {
    if (closed) return;
    closed = true;
    off();
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    pending.length = 0;
    if (how === 'drop' || res.destroyed) {
      res.destroy();
      return;
    }
    if (!res.writableEnded) res.end();
    if (!res.writableFinished) {
      const cut = setTimeout(() => res.destroy(), limits.endGraceMs);
      cut.unref();
      res.once('finish', () => clearTimeout(cut));
      res.once('close', () => clearTimeout(cut));
    }
  };
  /** Writes and ends the stream as a slow reader when the unsent bytes pass their bound. */
  const write = (text: string): void => {
    if (closed) return;
    res.write(text);
    if (res.writableLength > limits.maxBufferBytes && !catchingUp) close('drop');
  };
  const send = (seq: number, text: string) => {
    if (seq <= lastSent) return;
    write(text);
    lastSent = seq;
  };

  const off = bus.tail((event) => {
    if (closed || !visibleTo(scope, event)) return;
    if (catchingUp) {
      const text = formatEvent(event);
      pending.push({ seq: event.seq, text });
      pendingBytes += text.length;
      if (pending.length > limits.maxPending || pendingBytes > limits.maxPendingBytes) close('drop');
      return;
    }
    send(event.seq, formatEvent(event));
  });
  res.on('close', () => close('drop'));
  res.on('error', () => close('drop'));
  const heartbeat = setInterval(() => write(': ping\n\n'), limits.heartbeatMs);
  const lifetime = setTimeout(() => close('end'), limits.maxConnectionMs);

  /** Tells the client it cannot have the events after lastSent, and continues after the newest event. */
  const reset = async (reason: StreamReset['reason'], oldest: number) => {
    const head = await headSeq(db);
    if (closed) return;
    const frame: StreamReset = { reason, oldest_seq: oldest, resume_after: Math.max(head, 0) };
    write(formatReset(frame));
    lastSent = frame.resume_after;
  };

  const catchUp = async () => {
    const head = await headSeq(db);
    if (closed) return;
    if (lastSent > head) await reset('unknown', await oldestSeq(db));
    for (;;) {
      if (closed) return;
      const from = lastSent;
      const rows = await whereVisibleTo(
        db.selectFrom('events').select(['seq', 'type', 'tenant_id', 'subject', 'data', 'at']),
        scope,
      )
        .where('seq', '>', from)
        .orderBy('seq')
        .limit(limits.batch)
        .execute();
      // Read after the rows: a prune that removed events after `from` before the read shows here.
      const oldest = await oldestSeq(db);
      if (closed) return;
      if (oldest > from + 1) {
        await reset('expired', oldest);
        continue;
      }
      for (const row of rows) send(Number(row.seq), formatEvent(envelopeOf(row)));
      if (res.writableLength > limits.maxBufferBytes && !(await drained(res, DRAIN_WAIT_MS))) {
        close('drop');
        return;
      }
      if (rows.length < limits.batch) break;
    }
    if (closed) return;
    catchingUp = false;
    const queued = pending.splice(0);
    pendingBytes = 0;
    for (const event of queued) send(event.seq, event.text);
  };
  catchUp().catch((err) => {
    options.log?.warn({ err }, 'event stream could not read events; the client will resume');
    close('end');
  });
  return () => close('end');
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
