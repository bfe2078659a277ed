/**
 * Retention of the events table: events older than the retention period that every durable consumer has
 * handled can go. The newest event always stays, so the next seq continues after it. Only a prefix of the
 * numbering goes (up to the first event still within the period; `at` need not rise with seq on PostgreSQL), so
 * the oldest kept seq tells a resuming stream whether anything after its resume point is gone. Deletes in
 * bounded batches.
 */
import type { Kysely } from 'kysely';
import { deleteInBatches } from '../db/bulk.js';
import type { Database } from '../db/schema.js';
import { headSeq } from './bus.js';

const DELETE_BATCH = 10_000;
const MAX_BATCHES = 100;

/** Deletes events older than `olderThanDays` that every durable consumer passed; returns how many. */
export async function pruneEvents(
  db: Kysely<Database>,
  options: { olderThanDays: number; now?: Date },
): Promise<number> {
  if (!Number.isFinite(options.olderThanDays) || options.olderThanDays < 0)
    throw new Error('olderThanDays must be a number of days, 0 or more');
  const cutoff = new Date(
    (options.now ?? new Date()).getTime() - options.olderThanDays * 86_400_000,
  ).toISOString();
  const head = await headSeq(db);
  const slowest = await db
    .selectFrom('event_cursors')
    .select((eb) => eb.fn.min('seq').as('seq'))
    .executeTakeFirst();
  const firstRecent = await db
    .selectFrom('events')
    .select((eb) => eb.fn.min('seq').as('seq'))
    .where('at', '>=', cutoff)
    .executeTakeFirst();
  const upTo = Math.min(
    head - 1,
    slowest?.seq == null ? head : Number(slowest.seq),
    firstRecent?.seq == null ? head : Number(firstRecent.seq) - 1,
  );
  return deleteInBatches(
    (limit) =>
      db
        .deleteFrom('events')
        .where(
          'id',
          'in',
          db
            .selectFrom('events')
            .select('id')
            .where('seq', '<=', upTo)
            .where('at', '<', cutoff)
            .orderBy('seq')
            .limit(limit),
        )
        .executeTakeFirst(),
    DELETE_BATCH,
    MAX_BATCHES,
  );
}

/** Removes a durable consumer that is gone for good, so its cursor no longer holds events back. */
export async function forgetConsumer(db: Kysely<Database>, name: string): Promise<void> {
  await db.deleteFrom('event_cursors').where('name', '=', name).execute();
}
