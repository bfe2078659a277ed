import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, redactUrl } from './connect.js';
import { openTestDb, TEST_DIALECTS, type TestDb } from './db.testkit.js';

describe.each(TEST_DIALECTS)('database on %s', (dialect) => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.dispose();
    db = undefined;
  });

  it('migrates once and re-running migrations changes nothing', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    expect(await migrate(db)).toEqual([]);
    const tables = await db.kysely.introspection.getTables();
    const names = tables.map((t) => t.name);
    for (const t of ['tenants', 'assets', 'findings', 'users', 'audit_log', 'exposure_counts']) {
      expect(names).toContain(t);
    }
  });

  it('keeps tenant rows apart by key and cascades a tenant delete to its assets', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const k = db.kysely;
    const at = new Date().toISOString();
    await k
      .insertInto('tenants')
      .values([
        { id: 'a', name: 'A', created_at: at },
        { id: 'b', name: 'B', created_at: at },
      ])
      .execute();
    const asset = {
      id: 'mail',
      facts: '{}',
      facts_hash: 'x',
      source: 'api',
      created_at: at,
      updated_at: at,
      site_id: null,
      name: null,
    };
    await k
      .insertInto('assets')
      .values([
        { ...asset, tenant_id: 'a' },
        { ...asset, tenant_id: 'b' },
      ])
      .execute();
    await k.deleteFrom('tenants').where('id', '=', 'a').execute();
    const left = await k.selectFrom('assets').select(['tenant_id', 'id']).execute();
    expect(left).toEqual([{ tenant_id: 'b', id: 'mail' }]);
    const n = await sql<{ n: number }>`select count(*) as n from assets`.execute(k);
    expect(Number(n.rows[0]?.n)).toBe(1);
  });
});

describe('database URLs', () => {
  it('refuses a URL that is not PostgreSQL, naming what to do', async () => {
    await expect(openDatabase({ url: 'mysql://x@y/z', dataDir: '/tmp' })).rejects.toThrow(
      /must start with postgres:\/\/.*omit it to use the embedded SQLite/,
    );
  });
  it('never shows a password', () => {
    expect(redactUrl('postgres://u:secret@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactUrl('postgres://u:secret@h:5432/db')).not.toContain('secret');
  });
});
