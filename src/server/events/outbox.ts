/**
 * Publishing: an event is a row in the `events` table written through the caller's transaction, so it exists
 * exactly when the change it describes was committed. Delivery reads the table (see bus.ts); this module only
 * writes and wakes.
 *
 * Order: SQLite has one writer at a time, so the event takes `max(seq) + 1` as it is written and seq follows
 * commit order. On PostgreSQL concurrent transactions commit in any order, so the event is written without a
 * seq and the sequencer numbers committed events afterwards (sequencer.ts).
 *
 * Writers never NOTIFY: PostgreSQL serialises the commits of all transactions that issued a NOTIFY, which would
 * cap concurrent writes. The publishing process wakes its own bus once the transaction committed; its sequencer
 * numbers the events and sends one NOTIFY for the batch to the other replicas (a writer that dies between its
 * commit and that wake-up is covered by every replica's poll).
 */
import { Value } from '@sinclair/typebox/value';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Kysely,
  PostgresAdapter,
  sql,
  type Transaction,
} from 'kysely';
import { EVENT_TYPES, EventData, type EventType, isEventType } from '../../api/events.js';
import type { Database } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';

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
 * Called after every publish through this database handle in this process. On SQLite at once (a waker's reads
 * wait for the one connection, held until commit); on PostgreSQL once the publishing transaction committed.
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
export function publishEvent(db: Kysely<Database> | Transaction<Database>, event: EventInput): Promise<void> {
  return publishEvents(db, [event]);
}

/** Checks events and turns them into rows (without seq). */
function eventRows(events: readonly EventInput[]) {
  const at = new Date().toISOString();
  return events.map((event) => {
    checkEvent(event);
    const data = JSON.stringify(event.data);
    if (Buffer.byteLength(data) > MAX_DATA_BYTES)
      throw new Error(
        `event data of ${event.type} is larger than ${MAX_DATA_BYTES} bytes; publish ids and counts`,
      );
    return { type: event.type, tenant_id: event.tenantId, subject: event.subject, data, at };
  });
}

/**
 * Queues events on a transaction's write batch (db/write-batch.ts): checked now, so a bad event fails before
 * anything is written; on PostgreSQL written with the batch's other writes (seq null, numbered by the sequencer)
 * and this process's bus woken once the transaction committed; on SQLite published in its place at the flush.
 */
export function queueEvents(batch: WriteBatch, events: readonly EventInput[]): void {
  if (!events.length) return;
  if (batch.dialect !== 'postgres') {
    for (const event of events) checkEvent(event);
    batch.run((trx) => publishEvents(trx, events));
    return;
  }
  batch.upsert(
    { table: 'events', columns: ['type', 'tenant_id', 'subject', 'data', 'at'] },
    eventRows(events),
  );
  batch.afterFlush(async (trx) => {
    if (wakers.get(trx.getExecutor().adapter)?.size) await afterCommit(trx, () => wakeAll(trx));
  });
}

/** Rows one insert statement writes at most (7 parameters each; far below either database's limit). */
const INSERT_CHUNK = 500;

/**
 * Writes events in the caller's transaction (or on their own when given the database), in the given order, with
 * one insert statement per INSERT_CHUNK events.
 */
export async function publishEvents(
  db: Kysely<Database> | Transaction<Database>,
  events: readonly EventInput[],
): Promise<void> {
  if (!events.length) return;
  const rows = eventRows(events);
  const postgres = isPostgres(db);
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    if (postgres) {
      await db
        .insertInto('events')
        .values(chunk.map((row) => ({ ...row, seq: null })))
        .execute();
    } else {
      // The first row takes max(seq) + 1 as it is written (and with it the write lock, if the transaction had
      // none yet); the others follow it.
      const [first, ...rest] = chunk;
      await db
        .insertInto('events')
        .values({ ...first!, seq: sql<number>`(select coalesce(max(seq), 0) + 1 from events)` })
        .execute();
      if (rest.length) {
        const top = await db
          .selectFrom('events')
          .select((eb) => eb.fn.max('seq').as('top'))
          .executeTakeFirstOrThrow();
        const base = Number(top.top);
        await db
          .insertInto('events')
          .values(rest.map((row, k) => ({ ...row, seq: base + k + 1 })))
          .execute();
      }
    }
  }
  const wakers_ = wakers.get(db.getExecutor().adapter);
  if (!wakers_?.size) return;
  if (postgres && db.isTransaction) await afterCommit(db, () => wakeAll(db));
  else wakeAll(db);
}

function wakeAll(db: Kysely<Database>): void {
  for (const wake of wakers.get(db.getExecutor().adapter) ?? []) wake();
}

/** Callbacks to run after the transaction on a connection commits (none run when it rolls back). */
const pendingCommit = new WeakMap<DatabaseConnection, Set<() => void>>();

/**
 * Runs `fn` once the transaction `trx` commits. Kysely has no commit hook, so the transaction's connection gets a
 * wrapper (once, for its lifetime) that watches the `commit` and `rollback` statements Kysely sends on it.
 */
function afterCommit(trx: Kysely<Database>, fn: () => void): Promise<void> {
  return trx.getExecutor().provideConnection(async (connection) => {
    let pending = pendingCommit.get(connection);
    if (!pending) {
      pending = new Set();
      pendingCommit.set(connection, pending);
      const set = pending;
      const execute = connection.executeQuery.bind(connection);
      connection.executeQuery = (async (query: CompiledQuery) => {
        const text = query.sql.trim().toLowerCase();
        if (text !== 'commit' && text !== 'rollback') return execute(query);
        try {
          const result = await execute(query);
          // COMMIT of an aborted transaction answers ROLLBACK: nothing was committed.
          const committed =
            text === 'commit' && (result.rows[0] as { command?: string } | undefined)?.command !== 'ROLLBACK';
          const callbacks = [...set];
          set.clear();
          if (committed) for (const cb of callbacks) cb();
          return result;
        } catch (err) {
          set.clear();
          throw err;
        }
      }) as typeof connection.executeQuery;
    }
    pending.add(fn);
  });
}
