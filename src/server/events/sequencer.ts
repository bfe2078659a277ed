/**
 * The delivery order on PostgreSQL. Ids come from a sequence, and transactions commit in any order: an event
 * with a lower id can become visible after one with a higher id, so a reader of `id > cursor` would skip it.
 * The sequencer gives committed events a gapless `seq` in the order it finds them: under one advisory
 * transaction lock (one sequencer at a time across replicas), it numbers the committed events that have none,
 * in id order, after the highest seq so far. An event committed late gets a later seq, never a slot behind a
 * reader's cursor. Any replica may run it whenever it is woken; running it twice does nothing the second time.
 * A run that numbered events sends one `NOTIFY bulwark_events` (payload: the schema) in its transaction, so every
 * replica's listener wakes once the numbers are committed; publishing transactions themselves never NOTIFY.
 *
 * SQLite needs none of this: one writer at a time, the event takes its seq as it is written (outbox.ts).
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { EVENTS_CHANNEL } from './outbox.js';

/** Events one sequencer transaction numbers at most. */
export const SEQUENCE_BATCH = 1000;

/** Numbers committed unnumbered events; returns how many it numbered (0 on SQLite). */
export async function sequenceEvents(db: Kysely<Database>, batch = SEQUENCE_BATCH): Promise<number> {
  // Cheap check first, without the lock: most wake-ups find the work already done by another replica.
  const waiting = await db.selectFrom('events').select('id').where('seq', 'is', null).limit(1).execute();
  if (waiting.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    // Blocking, not try: a replica that waits here then sees the event it was woken for, committed before it.
    await sql`select pg_advisory_xact_lock(hashtext(current_schema() || ':bulwark_events_sequencer'))`.execute(
      trx,
    );
    // Under READ COMMITTED this statement's snapshot starts after the lock was granted: it sees the previous
    // sequencer's numbers and every event committed so far.
    const result = await sql`
      with base as (select coalesce(max(seq), 0) as top from events),
      todo as (
        select id, row_number() over (order by id) as rn
        from events where seq is null order by id limit ${batch}
      )
      update events set seq = base.top + todo.rn from base, todo where events.id = todo.id`.execute(trx);
    const numbered = Number(result.numAffectedRows ?? 0);
    if (numbered > 0) await sql`select pg_notify(${EVENTS_CHANNEL}, current_schema())`.execute(trx);
    return numbered;
  });
}
