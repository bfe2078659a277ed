/**
 * Delivery of events to the consumers of one process. The events table is the truth; wake-ups only say "look
 * now": in this process right after a publish, from PostgreSQL's NOTIFY (listener.ts) on every replica, and from
 * a periodic poll that catches up whatever a lost notification or a dropped listener missed.
 *
 * Consumers see events in seq order, at least once, so handlers must be idempotent.
 * - Durable consumers keep their cursor in `event_cursors`, shared by every replica: the cursor moves only past
 *   events whose handler returned; a handler that throws gets that event (and the ones after it) again after a
 *   back-off. On PostgreSQL one replica at a time runs a durable consumer (an advisory transaction lock held
 *   while it handles a batch); the others skip it.
 * - Replica-local consumers (cache invalidation) keep their cursor in memory, starting at the head when the bus
 *   starts: each replica handles every event once more itself.
 * Reads come in bounded batches; one drain handles a bounded number of them and schedules the rest.
 */
import { type Kysely, sql } from 'kysely';
import type { EventEnvelope, EventType } from '../../api/events.js';
import type { Db } from '../db/connect.js';
import type { Database, EventTable } from '../db/schema.js';
import { PgWakeListener } from './listener.js';
import { onPublish } from './outbox.js';
import { sequenceEvents } from './sequencer.js';

export type EventHandler = (event: EventEnvelope) => Promise<void> | void;

export interface SubscribeOptions {
  /** Cursor in the database (survives restarts, shared by replicas) or in memory (this process only). */
  durable: boolean;
  /** Only these types reach the handler; the cursor moves past the others. */
  types?: readonly EventType[];
  /** Durable consumers seen for the first time: from the oldest retained event or from the head (default). */
  from?: 'start' | 'head';
}

export interface EventBusOptions {
  /** Poll interval, the safety net behind the wake-ups (default 1000 ms). */
  pollMs?: number;
  /** Events read per batch (default 500). */
  batch?: number;
  /** First back-off after a handler failed (default 1000 ms), doubling up to 30 s. */
  retryMs?: number;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

interface Consumer {
  name: string;
  handler: EventHandler;
  durable: boolean;
  types?: ReadonlySet<string>;
  from: 'start' | 'head';
  /** Local consumers: the last seq handled. */
  cursor: number;
  ready: boolean;
  failures: number;
  retryAt: number;
}

const NAME_PATTERN = /^[a-z0-9][a-z0-9._:-]{0,99}$/;
/** Batches one consumer handles per drain before the others get their turn. */
const ROUNDS_PER_DRAIN = 20;
const MAX_RETRY_MS = 30_000;
const TAIL = 'bus.tail';

export function envelopeOf(
  row: Pick<EventTable, 'type' | 'tenant_id' | 'subject' | 'data' | 'at'> & {
    seq: number | null;
  },
): EventEnvelope {
  return {
    seq: Number(row.seq),
    type: row.type as EventType,
    tenant_id: row.tenant_id,
    subject: row.subject,
    data: JSON.parse(row.data) as Record<string, unknown>,
    at: row.at,
  };
}

/** Events with seq > after, in order, at most `limit`. */
export async function readEvents(
  db: Kysely<Database>,
  after: number,
  limit: number,
): Promise<EventEnvelope[]> {
  const rows = await db
    .selectFrom('events')
    .select(['seq', 'type', 'tenant_id', 'subject', 'data', 'at'])
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(envelopeOf);
}

/** The highest seq numbered so far (0 when there is none). */
export async function headSeq(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('top'))
    .executeTakeFirst();
  return Number(row?.top ?? 0);
}

export class EventBus {
  readonly #db: Db;
  readonly #pollMs: number;
  readonly #batch: number;
  readonly #retryMs: number;
  readonly #log: EventBusOptions['log'];
  readonly #consumers = new Map<string, Consumer>();
  readonly #tailListeners = new Set<(event: EventEnvelope) => void>();
  #started = false;
  #stopping = false;
  #draining: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #offPublish: (() => void) | undefined;
  #listener: PgWakeListener | undefined;

  constructor(db: Db, options: EventBusOptions = {}) {
    this.#db = db;
    this.#pollMs = options.pollMs ?? 1000;
    this.#batch = options.batch ?? 500;
    this.#retryMs = options.retryMs ?? 1000;
    this.#log = options.log;
    // The live feed of SSE streams: a local consumer from the head at start, handing every event to listeners.
    this.subscribe(
      TAIL,
      (event) => {
        for (const listener of this.#tailListeners) listener(event);
      },
      { durable: false },
    );
  }

  /**
   * Every event this process delivers from now on, in seq order, once. A listener must not throw or block: it
   * queues (the SSE stream buffers and drops slow clients). Events before the call are in the events table.
   */
  tail(listener: (event: EventEnvelope) => void): () => void {
    this.#tailListeners.add(listener);
    return () => this.#tailListeners.delete(listener);
  }

  /** Registers a consumer under a unique name; returns a function that removes it. */
  subscribe(name: string, handler: EventHandler, options: SubscribeOptions): () => void {
    if (!NAME_PATTERN.test(name))
      throw new Error(`consumer name must match ${NAME_PATTERN} (got ${JSON.stringify(name)})`);
    if (this.#consumers.has(name)) throw new Error(`consumer name "${name}" is already subscribed`);
    const consumer: Consumer = {
      name,
      handler,
      durable: options.durable,
      ...(options.types ? { types: new Set(options.types) } : {}),
      from: options.from ?? 'head',
      cursor: 0,
      ready: false,
      failures: 0,
      retryAt: 0,
    };
    this.#consumers.set(name, consumer);
    if (this.#started) this.wake();
    return () => {
      if (this.#consumers.get(name) === consumer) this.#consumers.delete(name);
    };
  }

  /** Starts wake-ups: after publishes in this process, PostgreSQL notifications and the poll. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    this.#offPublish = onPublish(this.#db.kysely, () => this.wake());
    if (this.#db.dialect === 'postgres' && this.#db.dedicatedClient) {
      const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(this.#db.kysely)).rows[0]
        ?.s;
      this.#listener = new PgWakeListener({
        connect: () => this.#db.dedicatedClient!('bulwark-events'),
        schema: schema ?? 'public',
        onWake: () => this.wake(),
        ...(this.#log ? { log: this.#log } : {}),
      });
      await this.#listener.start();
    }
    const tick = () => {
      this.wake();
      this.#timer = setTimeout(tick, this.#pollMs);
      this.#timer.unref();
    };
    this.#timer = setTimeout(tick, this.#pollMs);
    this.#timer.unref();
    await this.drain();
  }

  /** Stops wake-ups and waits for the drain in progress. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#stopping = true;
    this.#started = false;
    this.#offPublish?.();
    this.#offPublish = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#listener?.stop();
    this.#listener = undefined;
    await this.#draining?.catch(() => {});
  }

  /** The LISTEN connection's backend pid (PostgreSQL), for operations and tests. */
  listenerPid(): number | undefined {
    return this.#listener?.pid();
  }

  /** Asks for a drain soon; wake-ups during a drain run one more drain after it. */
  wake(): void {
    if (!this.#started || this.#stopping) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    void this.drain();
  }

  /** Delivers everything there is now (bounded), then returns. Safe to call at any time. */
  drain(): Promise<void> {
    if (this.#draining) {
      this.#again = true;
      return this.#draining;
    }
    const run = async () => {
      try {
        let more = true;
        for (let i = 0; i < 4 && (more || this.#again) && !this.#stopping; i++) {
          this.#again = false;
          more = await this.#drainOnce();
        }
        if ((more || this.#again) && this.#started) setImmediate(() => this.wake());
      } catch (err) {
        this.#log?.error({ err }, 'event delivery failed; retrying at the next poll');
      } finally {
        this.#draining = undefined;
      }
    };
    this.#draining = run();
    return this.#draining;
  }

  /** One pass over every consumer; true when some consumer has more to read. */
  async #drainOnce(): Promise<boolean> {
    const db = this.#db.kysely;
    if (this.#db.dialect === 'postgres') {
      for (let i = 0; i < 20; i++) if ((await sequenceEvents(db)) === 0) break;
    }
    let more = false;
    for (const consumer of [...this.#consumers.values()]) {
      if (this.#stopping) break;
      if (!consumer.ready) await this.#prepare(consumer);
      if (consumer.retryAt > Date.now()) continue;
      for (let round = 0; round < ROUNDS_PER_DRAIN; round++) {
        const result = consumer.durable ? await this.#runDurable(consumer) : await this.#runLocal(consumer);
        if (result === 'done') break;
        if (round === ROUNDS_PER_DRAIN - 1) more = true;
      }
    }
    return more;
  }

  async #prepare(consumer: Consumer): Promise<void> {
    const db = this.#db.kysely;
    if (consumer.durable) {
      const start = consumer.from === 'start' ? 0 : await headSeq(db);
      await db
        .insertInto('event_cursors')
        .values({ name: consumer.name, seq: start, updated_at: new Date().toISOString() })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
    } else {
      consumer.cursor = await headSeq(db);
    }
    consumer.ready = true;
  }

  /** Hands events to the handler in order; returns the last seq handled and whether one failed. */
  async #handle(
    consumer: Consumer,
    events: EventEnvelope[],
    from: number,
  ): Promise<{ last: number; failed: boolean }> {
    let last = from;
    for (const event of events) {
      if (!consumer.types || consumer.types.has(event.type)) {
        try {
          await consumer.handler(event);
        } catch (err) {
          consumer.failures += 1;
          const delay = Math.min(this.#retryMs * 2 ** (consumer.failures - 1), MAX_RETRY_MS);
          consumer.retryAt = Date.now() + delay;
          this.#log?.warn(
            { err, consumer: consumer.name, seq: event.seq, type: event.type, retryInMs: delay },
            'event consumer failed; the event will be delivered again',
          );
          return { last, failed: true };
        }
      }
      last = event.seq;
    }
    consumer.failures = 0;
    consumer.retryAt = 0;
    return { last, failed: false };
  }

  async #runLocal(consumer: Consumer): Promise<'more' | 'done'> {
    const events = await readEvents(this.#db.kysely, consumer.cursor, this.#batch);
    if (events.length === 0) return 'done';
    const { last, failed } = await this.#handle(consumer, events, consumer.cursor);
    consumer.cursor = last;
    return failed || events.length < this.#batch ? 'done' : 'more';
  }

  async #runDurable(consumer: Consumer): Promise<'more' | 'done'> {
    const db = this.#db.kysely;
    const step = async (trx: Kysely<Database>): Promise<'more' | 'done'> => {
      const row = await trx
        .selectFrom('event_cursors')
        .select('seq')
        .where('name', '=', consumer.name)
        .executeTakeFirst();
      const cursor = Number(row?.seq ?? 0);
      const events = await readEvents(trx, cursor, this.#batch);
      if (events.length === 0) return 'done';
      const { last, failed } = await this.#handle(consumer, events, cursor);
      if (last > cursor) {
        await trx
          .updateTable('event_cursors')
          .set({ seq: last, updated_at: new Date().toISOString() })
          .where('name', '=', consumer.name)
          .execute();
      }
      return failed || events.length < this.#batch ? 'done' : 'more';
    };
    if (this.#db.dialect !== 'postgres') return step(db);
    // One replica at a time per durable consumer; the lock ends with the transaction that moves the cursor.
    return db.transaction().execute(async (trx) => {
      const locked = await sql<{
        ok: boolean;
      }>`select pg_try_advisory_xact_lock(hashtext(current_schema() || ':bulwark_events_consumer:' || ${consumer.name})) as ok`.execute(
        trx,
      );
      if (!locked.rows[0]?.ok) return 'done';
      return step(trx);
    });
  }
}
