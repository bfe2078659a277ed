import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../server/audit/log.js';
import { migrate, openDatabase, SQLITE_FILE } from '../../server/db/connect.js';
import { openTestDb, TEST_PG_URL } from '../../server/db/db.testkit.js';
import { runCli } from '../run.testkit.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCli(argv, env, tmpdir());

async function dataDirWithAudit(records: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-cli-audit-'));
  dirs.push(dataDir);
  const db = await openDatabase({ dataDir });
  try {
    await migrate(db);
    for (let i = 0; i < records; i++) {
      await appendAudit(db.kysely, 'sqlite', {
        actor: 'user:admin',
        tenantId: null,
        action: 'user.create',
        target: `user:u${i}`,
      });
    }
  } finally {
    await db.close();
  }
  return dataDir;
}

function sqlite(dataDir: string, statement: string): void {
  const db = new SqliteDatabase(join(dataDir, SQLITE_FILE));
  db.prepare(statement).run();
  db.close();
}

describe('bulwark audit verify', () => {
  it('exits 0 on an intact log and prints the head', async () => {
    const dataDir = await dataDirWithAudit(5);
    const r = await run(['audit', 'verify', '--data-dir', dataDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^audit log intact: 5 records, head seq 5 [0-9a-f]{64}\n$/);
  });

  it('exits 1 naming the changed record', async () => {
    const dataDir = await dataDirWithAudit(5);
    sqlite(dataDir, `update audit_log set target = 'user:other' where seq = 3`);
    const r = await run(['audit', 'verify', '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('audit log TAMPERED: 1 problem in 5 records');
    expect(r.stdout).toContain('  seq 3: record 3 was changed: its content does not match its hash\n');
  });

  it('with --expect-head, exits 1 when records were cut off the end; --json has the fields', async () => {
    const dataDir = await dataDirWithAudit(6);
    const first = JSON.parse((await run(['audit', 'verify', '--json', '--data-dir', dataDir])).stdout);
    expect(first).toMatchObject({ ok: true, records: 6, headSeq: 6, problems: [], problemsOmitted: 0 });
    expect(first.database).toBe(join(dataDir, SQLITE_FILE));
    expect((await run(['audit', 'verify', '--expect-head', first.head, '--data-dir', dataDir])).code).toBe(0);
    sqlite(dataDir, 'delete from audit_log where seq >= 5');
    expect((await run(['audit', 'verify', '--data-dir', dataDir])).code).toBe(0);
    const r = await run(['audit', 'verify', '--expect-head', first.head, '--json', '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: false, records: 4, headSeq: 4 });
    expect(j.problems).toEqual([expect.objectContaining({ seq: 5, kind: 'head_not_found' })]);
  });

  it('exits 2 for a bad --expect-head, a missing database or one without an audit log', async () => {
    const dataDir = await dataDirWithAudit(1);
    let r = await run(['audit', 'verify', '--expect-head', 'abc', '--data-dir', dataDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--expect-head takes a head hash .*64 hex digits/);
    const empty = mkdtempSync(join(tmpdir(), 'bulwark-cli-audit-'));
    dirs.push(empty);
    r = await run(['audit', 'verify', '--data-dir', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^bulwark: no database at .*bulwark\.sqlite \(is --data-dir right\?\)\n$/);
    sqlite(dataDir, 'drop table audit_log');
    r = await run(['audit', 'verify', '--data-dir', dataDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no audit log: not a Bulwark database/);
    r = await run(['audit', 'verify', '--database', 'mysql://x/y', '--data-dir', dataDir]);
    expect(r.code).toBe(2);
  });

  it('verifies a PostgreSQL audit log from --database', async (ctx) => {
    const db = await openTestDb('postgres');
    if (!db) return ctx.skip();
    try {
      for (let i = 0; i < 4; i++) {
        await appendAudit(db.kysely, 'postgres', {
          actor: 'system',
          tenantId: null,
          action: 'a',
          target: `t${i}`,
        });
      }
      const schema = (
        await db.kysely
          .selectNoFrom((eb) => eb.fn<string>('current_schema', []).as('s'))
          .executeTakeFirstOrThrow()
      ).s;
      const url = new URL(TEST_PG_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      let r = await run(['audit', 'verify', '--database', url.toString(), '--data-dir', db.dataDir]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^audit log intact: 4 records, head seq 4 /);
      await db.kysely.updateTable('audit_log').set({ actor: 'mallory' }).where('seq', '=', 2).execute();
      r = await run(['audit', 'verify', '--json'], { BULWARK_DATABASE_URL: url.toString() });
      expect(r.code).toBe(1);
      const j = JSON.parse(r.stdout);
      expect(j.problems).toEqual([expect.objectContaining({ seq: 2, kind: 'changed' })]);
      expect(j.database).not.toContain(':bulwark@');
    } finally {
      await db.dispose();
    }
  });
});
