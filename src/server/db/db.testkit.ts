/**
 * Test databases: every server test runs on embedded SQLite and on PostgreSQL. PostgreSQL comes from
 * BULWARK_TEST_DATABASE_URL (default: the role .ci/run creates on the local server); each test database is its
 * own schema, dropped afterwards. Without a reachable PostgreSQL the PostgreSQL half is skipped locally with a
 * note, and fails in CI, where .ci/run installs and starts it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type Db, type DialectName, migrate, openDatabase } from './connect.js';

export const TEST_PG_URL =
  process.env.BULWARK_TEST_DATABASE_URL ?? 'postgres://bulwark:bulwark@127.0.0.1:5432/bulwark_test';

let pgReachable: Promise<boolean> | undefined;

export function postgresAvailable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgReachable;
}

/** Dialects the suite runs on here: both in CI (a missing PostgreSQL fails there), SQLite alone otherwise. */
export const TEST_DIALECTS: DialectName[] = ['sqlite', 'postgres'];

export interface TestDb extends Db {
  dataDir: string;
  /** Drops the schema (PostgreSQL) or removes the directory (SQLite) after closing. */
  dispose(): Promise<void>;
}

let counter = 0;

/**
 * A fresh, migrated database. Returns undefined for PostgreSQL when it is not reachable outside CI, so the
 * caller can skip; in CI that is an error.
 */
export async function openTestDb(dialect: DialectName): Promise<TestDb | undefined> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-db-'));
  if (dialect === 'sqlite') {
    const db = await openDatabase({ dataDir });
    await migrate(db);
    return {
      ...db,
      dataDir,
      dispose: async () => {
        await db.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (!(await postgresAvailable())) {
    rmSync(dataDir, { recursive: true, force: true });
    if (process.env.CI)
      throw new Error(`PostgreSQL is not reachable at ${TEST_PG_URL}; .ci/run should start it`);
    return undefined;
  }
  // Random too: test runs of several checkouts (other process namespaces, same pid) share this PostgreSQL.
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${++counter}_${randomBytes(4).toString('hex')}`;
  const db = await openDatabase({ url: TEST_PG_URL, dataDir, pgSchema: schema, poolSize: 4 });
  await migrate(db);
  return {
    ...db,
    dataDir,
    dispose: async () => {
      await db.close();
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
