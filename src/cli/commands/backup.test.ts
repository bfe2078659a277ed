import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit, flushAudit } from '../../server/audit/log.js';
import { migrate, openDatabase, SQLITE_FILE } from '../../server/db/connect.js';
import { migrationsFor } from '../../server/db/migrations.js';
import { acquireDataDirLock } from '../../server/lockfile.js';
import { runCli } from '../run.testkit.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bulwark-cli-backup-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const run = (argv: string[], env: NodeJS.ProcessEnv = {}, cwd = tmpdir()) => runCli(argv, env, cwd);

/** A data directory with an embedded database: `tenants` tenants, one asset and one audit record each. */
async function seededDataDir(tenants = 3): Promise<string> {
  const dataDir = tempDir();
  const db = await openDatabase({ dataDir });
  try {
    await migrate(db);
    for (let i = 0; i < tenants; i++) {
      await db.kysely.transaction().execute(async (trx) => {
        await trx
          .insertInto('tenants')
          .values({ id: `t${i}`, name: `T${i}`, created_at: '2024-01-01T00:00:00Z' })
          .execute();
        await trx
          .insertInto('assets')
          .values({
            tenant_id: `t${i}`,
            id: 'mail',
            site_id: null,
            name: null,
            facts: '{}',
            facts_hash: 'x',
            source: 'api',
            created_at: '2024-01-01T00:00:00Z',
            updated_at: '2024-01-01T00:00:00Z',
          })
          .execute();
        await appendAudit(trx, 'sqlite', {
          actor: 'user:admin',
          tenantId: `t${i}`,
          action: 'tenant.create',
          target: `tenant:t${i}`,
        });
      });
    }
    // What the server's chainer does while it runs.
    await flushAudit(db.kysely);
  } finally {
    await db.close();
  }
  return dataDir;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('bulwark backup', () => {
  it('writes the backup and prints path, size, counts and the audit head', async () => {
    const dataDir = await seededDataDir(3);
    const out = join(tempDir(), 'nightly.sqlite');
    // --data-dir after the command works too.
    const r = await run(['backup', '--out', out, '--data-dir', dataDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^backup written: ${out} \\(\\d+(\\.\\d)? KiB\\)$`));
    expect(lines[1]).toBe('  3 tenants, 3 assets, 0 findings, 3 audit records');
    expect(lines[2]).toMatch(/^ {2}audit head: seq 3 [0-9a-f]{64}$/);
    expect(statSync(out).size).toBeGreaterThan(0);
  });

  it('--json prints one object', async () => {
    const dataDir = await seededDataDir(2);
    const out = join(tempDir(), 'b.sqlite');
    const r = await run(['--data-dir', dataDir, 'backup', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      path: out,
      bytes: statSync(out).size,
      counts: { tenants: 2, assets: 2, findings: 0, audit_records: 2 },
      migrations: Object.keys(migrationsFor('sqlite')),
      audit: { ok: true, records: 2, headSeq: 2, problems: [] },
    });
    expect(j.audit.head).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a PostgreSQL database in one line naming pg_dump and pg_restore', async () => {
    for (const [argv, env] of [
      [['backup', '--out', 'x.sqlite', '--database', 'postgres://u:secret@db/bulwark'], {}],
      [['backup', '--out', 'x.sqlite'], { BULWARK_DATABASE_URL: 'postgresql://u:secret@db/bulwark' }],
      [['restore', 'x.sqlite'], { BULWARK_DATABASE_URL: 'postgres://db/bulwark' }],
    ] as const) {
      const r = await run([...argv], env);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^bulwark: (backup|restore): the database is PostgreSQL: back it up with `pg_dump /,
      );
      expect(r.stderr).toContain('pg_dump --format=custom --file=bulwark.dump "$BULWARK_DATABASE_URL"');
      expect(r.stderr).toContain(
        'pg_restore --clean --if-exists --no-owner --dbname="$BULWARK_DATABASE_URL" bulwark.dump',
      );
      expect(r.stderr).not.toContain('secret');
    }
  });

  it('still writes the backup but exits 1 when the live audit log is already broken', async () => {
    const dataDir = await seededDataDir(3);
    const db = new SqliteDatabase(join(dataDir, SQLITE_FILE));
    db.prepare(`update audit_log set action = 'nothing' where seq = 2`).run();
    db.close();
    const out = join(tempDir(), 'b.sqlite');
    const r = await run(['backup', '--out', out, '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('audit log BROKEN:\n    seq 2: record 2 was changed');
    expect(statSync(out).size).toBeGreaterThan(0);
  });

  it('exits 2 without a database or without --out', async () => {
    const empty = tempDir();
    let r = await run(['backup', '--out', join(empty, 'b.sqlite'), '--data-dir', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^bulwark: no database at .*bulwark\.sqlite: nothing to back up \(is --data-dir right\?\)\n$/,
    );
    r = await run(['backup', '--data-dir', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '--out <file>'/);
  });
});

describe('bulwark restore', () => {
  it('round-trips: the data comes back and the replaced database is kept', async () => {
    const dataDir = await seededDataDir(3);
    const out = join(tempDir(), 'b.sqlite');
    expect((await run(['backup', '--out', out, '--data-dir', dataDir])).code).toBe(0);
    const db = new SqliteDatabase(join(dataDir, SQLITE_FILE));
    db.prepare(`delete from tenants where id = 't2'`).run();
    db.close();

    const r = await run(['restore', out, '--data-dir', dataDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`restored ${out} into ${join(dataDir, SQLITE_FILE)}\n`);
    expect(r.stdout).toContain('  3 tenants, 3 assets, 0 findings, 3 audit records\n');
    expect(r.stdout).toMatch(
      /the database it replaced is kept as .*bulwark\.sqlite\.before-restore-\d{8}T\d{6}Z\n/,
    );
    const check = new SqliteDatabase(join(dataDir, SQLITE_FILE), { readonly: true });
    expect(check.prepare('select count(*) as n from tenants').get()).toEqual({ n: 3 });
    check.close();
    expect((await run(['audit', 'verify', '--data-dir', dataDir])).code).toBe(0);
  });

  it('refuses while a server holds the data directory', async () => {
    const dataDir = await seededDataDir(1);
    const out = join(tempDir(), 'b.sqlite');
    await run(['backup', '--out', out, '--data-dir', dataDir]);
    const before = sha(join(dataDir, SQLITE_FILE));
    const lock = acquireDataDirLock(dataDir);
    try {
      const r = await run(['restore', out, '--data-dir', dataDir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^bulwark: a Bulwark server \\(pid ${process.pid}\\) is using .*; stop it before restoring`,
        ),
      );
    } finally {
      lock.release();
    }
    expect(sha(join(dataDir, SQLITE_FILE))).toBe(before);
  });

  it('exits 2 with one clear line for a random, a foreign or a corrupt file, leaving the database alone', async () => {
    const dataDir = await seededDataDir(20);
    const before = sha(join(dataDir, SQLITE_FILE));
    const files = tempDir();
    const random = join(files, 'random.bin');
    writeFileSync(random, randomBytes(4096));
    const foreign = join(files, 'foreign.sqlite');
    const f = new SqliteDatabase(foreign);
    f.exec('create table t (x)');
    f.close();
    const corrupt = join(files, 'corrupt.sqlite');
    await run(['backup', '--out', corrupt, '--data-dir', dataDir]);
    const bytes = readFileSync(corrupt);
    randomBytes(bytes.length - 4096).copy(bytes, 4096);
    writeFileSync(corrupt, bytes);

    for (const [file, message] of [
      [random, /random\.bin is not a SQLite database, so not a Bulwark backup/],
      [foreign, /foreign\.sqlite is a SQLite database but not a Bulwark one/],
      [corrupt, /corrupt\.sqlite (is damaged|is not a usable SQLite database)/],
    ] as const) {
      const r = await run(['restore', file, '--data-dir', dataDir]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    expect(sha(join(dataDir, SQLITE_FILE))).toBe(before);
    expect(readdirSync(dataDir).sort()).toEqual([SQLITE_FILE]);
  });

  it('refuses a tampered backup saying why, and restores it with --force', async () => {
    const dataDir = await seededDataDir(3);
    const out = join(tempDir(), 'b.sqlite');
    await run(['backup', '--out', out, '--data-dir', dataDir]);
    const db = new SqliteDatabase(out);
    db.prepare(`delete from audit_log where seq = 2`).run();
    db.close();
    let r = await run(['restore', out, '--data-dir', dataDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /its audit log is broken \(seq 2: record 2 is missing \(removed\), and 1 more problems\); it may have been tampered with\. Restore it anyway with --force/,
    );
    r = await run(['restore', out, '--force', '--data-dir', dataDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('audit log BROKEN');
    expect(r.stdout).toContain('restored with --force despite the broken audit log');
    // The restored log still shows the damage.
    expect((await run(['audit', 'verify', '--data-dir', dataDir])).code).toBe(1);
  });
});
