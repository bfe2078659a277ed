/**
 * Publishing: an event is a row in the `events` table written through the caller's transaction, so it exists
 * exactly when the change it describes was committed. Delivery reads the table (see bus.ts); this module only
 * writes and wakes.
 *
 * Order: SQLite has one writer at a time, so the event takes `max(seq) + 1` as it is written and seq follows
 * commit order. On PostgreSQL concurrent transactions commit in any order, so the event is written without a
 * seq and the sequencer numbers committed events afterwards (sequencer.ts); `NOTIFY bulwark_events` sent in the
 * same transaction reaches every replica's listener at commit.
 */
import { Value } from '@sinclair/typebox/value';
import { type Kysely, PostgresAdapter, sql, type Transaction } from 'kysely';
import { EVENT_TYPES, EventData, type EventType, isEventType } from '../../api/events.js';
import type { Database } from '../db/schema.js';

export interface EventInput {
  type: EventType;
  /** The tenant the event belongs to; null for installation-wide events. */
  tenantId: string | null;
  /** What the event is about, e.g. `asset:<id>`, `advisory:<id>`, `job:<id>`. */
  subject: string;
  /** Ids and counts (see EventData in src/api/events.ts); never secrets. */
  data: Record<string, unknown>;
}

/** The PostgreSQL notification channel; the payload is the schema the events table lives in. */
export const EVENTS_CHANNEL = 'bulwark_events';

const MAX_SUBJECT = 200;
const MAX_DATA_BYTES = 16 * 1024;

/** Wake-ups per database handle, keyed by its Kysely adapter (a transaction shares its database's adapter). */
const wakers = new Map<object, Set<() => void>>();

/**
 * Called after every publish through this database handle in this process. A waker's reads wait for the
 * publishing transaction: on SQLite the one connection is held until commit; on PostgreSQL the bus also waits
 * for the notification, which arrives at commit.
 */
export function onPublish(db: Kysely<Database>, wake: () => void): () => void {
  const key = db.getExecutor().adapter;
  let set = wakers.get(key);
  if (!set) {
    set = new Set();
    wakers.set(key, set);
  }
  set.add(wake);
  return () => {
    set.delete(wake);
    if (set.size === 0 && wakers.get(key) === set) wakers.delete(key);
  };
}

export function isPostgres(db: Kysely<Database> | Transaction<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Checks an event before it is written; throws one error naming the field. */
export function checkEvent(event: EventInput): void {
  if (!isEventType(event.type))
    throw new Error(
      `event type must be one of ${EVENT_TYPES.join(', ')} (got ${JSON.stringify(event.type)})`,
    );
  if (event.tenantId !== null && (typeof event.tenantId !== 'string' || event.tenantId === ''))
    throw new Error('event tenantId must be a tenant id or null');
  if (typeof event.subject !== 'string' || event.subject === '' || event.subject.length > MAX_SUBJECT)
    throw new Error(`event subject must be a non-empty string of at most ${MAX_SUBJECT} characters`);
  const schema = EventData[event.type];
  if (!Value.Check(schema, event.data)) {
    const first = Value.Errors(schema, event.data).First();
    throw new Error(
      `event data of ${event.type}${first ? ` at ${first.path || '/'}: ${first.message}` : ': invalid'}`,
    );
  }
}

/** Writes the event in the caller's transaction (or on its own when given the database). */
export async function publishEvent(
  db: Kysely<Database> | Transaction<Database>,
  event: EventInput,
): Promise<void> {
  checkEvent(event);
  const data = JSON.stringify(event.data);
  if (Buffer.byteLength(data) > MAX_DATA_BYTES)
    throw new Error(
      `event data of ${event.type} is larger than ${MAX_DATA_BYTES} bytes; publish ids and counts`,
    );
  const row = {
    type: event.type,
    tenant_id: event.tenantId,
    subject: event.subject,
    data,
    at: new Date().toISOString(),
  };
  if (isPostgres(db)) {
    await db
      .insertInto('events')
      .values({ ...row, seq: null })
      .execute();
    await sql`select pg_notify(${EVENTS_CHANNEL}, current_schema())`.execute(db);
  } else {
    await db
      .insertInto('events')
      .values({ ...row, seq: sql<number>`(select coalesce(max(seq), 0) + 1 from events)` })
      .execute();
  }
  for (const wake of wakers.get(db.getExecutor().adapter) ?? []) wake();
}
