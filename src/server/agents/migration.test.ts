import { describe, expect, it } from 'vitest';
import { openTestDb, TEST_DIALECTS } from '../db/db.testkit.js';

describe.each(TEST_DIALECTS)('agent tables (%s)', (dialect) => {
  it('exist with their keys: a public key enrols once', async () => {
    const db = await openTestDb(dialect);
    if (!db) return;
    try {
      const now = new Date().toISOString();
      await db.kysely.insertInto('tenants').values({ id: 't1', name: 'T', created_at: now }).execute();
      const agent = {
        tenant_id: 't1',
        site_id: null,
        public_key: 'k1',
        hostname: 'h',
        os: null,
        version: '1',
        state: 'active',
        state_reason: null,
        generation: 0,
        pending_generation: null,
        cert_serial: 's',
        cert_not_after: now,
        enrolled_at: now,
        token_id: 'tok',
        last_seen_at: null,
        online: 0,
        connected_replica: null,
        connected_at: null,
        inventory_hash: null,
        inventory_at: null,
        updated_at: now,
      };
      await db.kysely
        .insertInto('agents')
        .values({ ...agent, id: 'ag-1' })
        .execute();
      await expect(
        db.kysely
          .insertInto('agents')
          .values({ ...agent, id: 'ag-2' })
          .execute(),
      ).rejects.toThrow();
      const rows = await db.kysely.selectFrom('agent_jobs').selectAll().execute();
      expect(rows).toEqual([]);
      await db.kysely.selectFrom('agent_tokens').selectAll().execute();
      await db.kysely.selectFrom('agent_certificates').selectAll().execute();
    } finally {
      await db.dispose();
    }
  });
});
