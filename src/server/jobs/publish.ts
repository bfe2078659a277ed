/** job.updated: published in the transaction of every job state or progress change. */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { publishEvent } from '../events/outbox.js';
import { eventData, type JobRow } from './model.js';

export async function publishJobUpdated(db: Kysely<Database>, row: JobRow): Promise<void> {
  await publishEvent(db, {
    type: 'job.updated',
    tenantId: row.tenant_id,
    subject: `job:${row.id}`,
    data: eventData(row),
  });
}
