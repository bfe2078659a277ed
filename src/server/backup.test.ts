import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit, verifyAudit } from './audit/log.js';
import { BackupError, backupSqlite, restoreSqlite } from './backup.js';
import { type Db, migrate, openDatabase, SQLITE_FILE } from './db/connect.js';
import { acquireDataDirLock, LOCK_FILE } from './lockfile.js';

const require = createRequire(import.meta.url);
const dirs: string[] = [];
const open: Db[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bulwark-backup-'));
  dirs.push(d);
  return d;
};

afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const AT = '2024-03-01T00:00:00.000Z';

/** A migrated embedded database with `tenants` tenants, two assets each and one audit record per tenant. */
async function seeded(dataDir: string, tenants: number, prefix = 't'): Promise<Db> {
  const db = await openDatabase({ dataDir });
  open.push(db);
  await migrate(db);
  for (let i = 0; i < tenants; i++) {
    await db.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto('tenants')
        .values({ id: `${prefix}${i}`, name: `Tenant ${i}`, created_at: AT })
        .execute();
      for (const a of ['mail', 'web']) {
        await trx
          .insertInto('assets')
          .values({
            tenant_id: `${prefix}${i}`,
            id: a,
            site_id: null,
            name: a,
            facts: '{}',
            facts_hash: 'x',
            source: 'api',
            created_at: AT,
            updated_at: AT,
          })
          .execute();
      }
      await appendAudit(trx, 'sqlite', {
        actor: 'user:admin',
        tenantId: `${prefix}${i}`,
        action: 'tenant.create',
        target: `tenant:${prefix}${i}`,
      });
    });
  }
  return db;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Everything in the data directory, with a content hash per file: "untouched" means this is equal. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort())
    out[f] = statSync(join(dir, f)).isFile() ? sha(join(dir, f)) : 'dir';
  return out;
}

function tenantsIn(path: string): string[] {
  const d = new SqliteDatabase(path, { readonly: true });
  try {
    return (d.prepare('select id from tenants order by id').all() as { id: string }[]).map((r) => r.id);
  } finally {
    d.close();
  }
}

describe('backup', () => {
  it('copies the live database while another connection keeps writing, as one consistent snapshot', async () => {
    const dataDir = tempDir();
    const db = await seeded(dataDir, 3);
    const live = join(dataDir, SQLITE_FILE);
    // Bulk, so the copy takes a while: 4,000 assets with 2 KB of facts.
    const big = new SqliteDatabase(live);
    big.pragma('busy_timeout = 5000');
    big.transaction(() => {
      const ins = big.prepare(
        `insert into assets (tenant_id, id, site_id, name, facts, facts_hash, source, created_at, updated_at)
         values ('t0', ?, null, null, ?, 'x', 'api', ?, ?)`,
      );
      for (let i = 0; i < 4000; i++) ins.run(`bulk${i}`, randomBytes(1024).toString('hex'), AT, AT);
    })();
    big.close();
    for (let i = 0; i < 20; i++) {
      await appendAudit(db.kysely, 'sqlite', {
        actor: 'system',
        tenantId: null,
        action: 'tick',
        target: `n${i}`,
      });
    }

    // A writer in another thread: each transaction adds a tenant and its two assets, nothing else.
    const state = new Int32Array(new SharedArrayBuffer(8)); // [transactions committed, stop]
    const worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const Database = require(workerData.module);
      const db = new Database(workerData.path);
      db.pragma('busy_timeout = 5000');
      const tenant = db.prepare("insert into tenants (id, name, created_at) values (?, ?, '${AT}')");
      const asset = db.prepare("insert into assets (tenant_id, id, site_id, name, facts, facts_hash, source, created_at, updated_at) values (?, ?, null, null, '{}', 'x', 'api', '${AT}', '${AT}')");
      const add = db.transaction((i) => { tenant.run('w' + i, 'W' + i); asset.run('w' + i, 'mail'); asset.run('w' + i, 'web'); });
      const state = workerData.state;
      let i = 0;
      while (Atomics.load(state, 1) === 0) { add(i++); Atomics.store(state, 0, i); }
      db.close();
      parentPort.postMessage(i);
      `,
      { eval: true, workerData: { path: live, module: require.resolve('better-sqlite3'), state } },
    );
    const finished = new Promise<number>((resolve, reject) => {
      worker.on('message', resolve);
      worker.on('error', reject);
    });
    try {
      while (Atomics.load(state, 0) < 50) await new Promise((r) => setTimeout(r, 10));
      const before = Atomics.load(state, 0);
      const out = join(tempDir(), 'backup.sqlite');
      const result = await backupSqlite(live, out);
      const after = Atomics.load(state, 0);
      Atomics.store(state, 1, 1);
      const total = await finished;
      expect(after).toBeGreaterThan(before);
      expect(total).toBeGreaterThanOrEqual(after);

      expect(result.path).toBe(out);
      expect(result.audit.ok).toBe(true);
      expect(result.bytes).toBe(statSync(out).size);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      // One self-contained file, nothing left beside it.
      expect(readdirSync(join(out, '..'))).toEqual(['backup.sqlite']);
      const copy = new SqliteDatabase(out, { readonly: true });
      try {
        expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        const w = copy.prepare(`select count(*) as n from tenants where id like 'w%'`).get() as { n: number };
        // Every writer transaction in the copy is whole: its tenant and both assets, or none of them.
        const orphans = copy
          .prepare(
            `select t.id from tenants t left join assets a on a.tenant_id = t.id group by t.id having count(a.id) <> 2 and t.id like 'w%'`,
          )
          .all();
        expect(orphans).toEqual([]);
        expect(w.n).toBeGreaterThanOrEqual(before);
        expect(w.n).toBeLessThanOrEqual(after);
        expect(result.counts).toMatchObject({ tenants: 3 + w.n, assets: 6 + 4000 + 2 * w.n, findings: 0 });
        expect(result.counts.audit_records).toBe(23);
        expect(result.audit).toMatchObject({ ok: true, records: 23, headSeq: 23 });
      } finally {
        copy.close();
      }
    } finally {
      Atomics.store(state, 1, 1);
      await finished.catch(() => {});
      await worker.terminate();
    }
  });

  it('writes into a directory under a timestamped name, and replaces an older file atomically', async () => {
    const dataDir = tempDir();
    await seeded(dataDir, 2);
    const dest = tempDir();
    const r = await backupSqlite(join(dataDir, SQLITE_FILE), dest);
    expect(r.path).toMatch(/bulwark-backup-\d{8}T\d{6}Z\.sqlite$/);
    expect(r.counts).toEqual({ tenants: 2, assets: 4, findings: 0, audit_records: 2 });
    expect(r.audit).toMatchObject({ ok: true, records: 2, headSeq: 2 });
    const file = join(dest, 'fixed.sqlite');
    writeFileSync(file, 'old');
    await backupSqlite(join(dataDir, SQLITE_FILE), file);
    expect(tenantsIn(file)).toEqual(['t0', 't1']);
  });

  it('refuses without a database, with a missing destination directory, or onto the database itself', async () => {
    const dataDir = tempDir();
    await expect(backupSqlite(join(dataDir, SQLITE_FILE), join(dataDir, 'x.sqlite'))).rejects.toThrow(
      /no database at .*nothing to back up/,
    );
    await seeded(dataDir, 1);
    await expect(backupSqlite(join(dataDir, SQLITE_FILE), join(dataDir, 'nope', 'x.sqlite'))).rejects.toThrow(
      /does not exist: create the directory/,
    );
    await expect(backupSqlite(join(dataDir, SQLITE_FILE), join(dataDir, SQLITE_FILE))).rejects.toThrow(
      /is the live database itself/,
    );
  });
});

describe('restore', () => {
  it('brings the data back, keeps the replaced database and leaves no temporary files', async () => {
    const dataDir = tempDir();
    const db = await seeded(dataDir, 3);
    const backup = join(tempDir(), 'b.sqlite');
    const { audit } = await backupSqlite(join(dataDir, SQLITE_FILE), backup);
    // Life goes on after the backup: a tenant is deleted, another added.
    await db.kysely.deleteFrom('tenants').where('id', '=', 't1').execute();
    await db.kysely.insertInto('tenants').values({ id: 'new', name: 'New', created_at: AT }).execute();
    await db.close();
    open.splice(open.indexOf(db), 1);

    const now = new Date('2024-05-06T07:08:09.123Z');
    const r = await restoreSqlite({ dataDir, file: backup, now });
    expect(r.path).toBe(join(dataDir, SQLITE_FILE));
    expect(r.previous).toBe(join(dataDir, `${SQLITE_FILE}.before-restore-20240506T070809Z`));
    expect(r.forced).toBe(false);
    expect(r.audit.head).toBe(audit.head);
    expect(readdirSync(dataDir).sort()).toEqual([
      SQLITE_FILE,
      `${SQLITE_FILE}.before-restore-20240506T070809Z`,
    ]);
    expect(tenantsIn(r.path)).toEqual(['t0', 't1', 't2']);
    expect(tenantsIn(r.previous!)).toEqual(['new', 't0', 't2']);

    // The server opens it as usual and the chain carries on.
    const again = await openDatabase({ dataDir });
    open.push(again);
    expect(await migrate(again)).toEqual([]);
    await appendAudit(again.kysely, 'sqlite', {
      actor: 'system',
      tenantId: null,
      action: 'restore',
      target: 'db',
    });
    expect(await verifyAudit(again.kysely, { expectHead: audit.head })).toMatchObject({
      ok: true,
      records: 4,
    });

    // A second restore the same second keeps both earlier databases.
    await again.close();
    open.splice(open.indexOf(again), 1);
    const r2 = await restoreSqlite({ dataDir, file: backup, now });
    expect(r2.previous).toBe(join(dataDir, `${SQLITE_FILE}.before-restore-20240506T070809Z-1`));
  });

  it('restores into an empty data directory', async () => {
    const src = tempDir();
    await seeded(src, 2);
    const backup = join(tempDir(), 'b.sqlite');
    await backupSqlite(join(src, SQLITE_FILE), backup);
    const dataDir = join(tempDir(), 'fresh');
    const r = await restoreSqlite({ dataDir, file: backup });
    expect(r.previous).toBeUndefined();
    expect(tenantsIn(r.path)).toEqual(['t0', 't1']);
    expect(statSync(r.path).mode & 0o777).toBe(0o600);
  });

  it('refuses while a server holds the data directory, and changes nothing', async () => {
    const dataDir = tempDir();
    await seeded(dataDir, 1);
    const backup = join(tempDir(), 'b.sqlite');
    await backupSqlite(join(dataDir, SQLITE_FILE), backup);
    const lock = acquireDataDirLock(dataDir);
    try {
      const before = snapshot(dataDir);
      await expect(restoreSqlite({ dataDir, file: backup })).rejects.toThrow(
        `a Bulwark server (pid ${process.pid}) is using ${dataDir}; stop it before restoring (lock file ${join(dataDir, LOCK_FILE)})`,
      );
      expect(snapshot(dataDir)).toEqual(before);
    } finally {
      lock.release();
    }
  });

  describe('refuses an unusable file with a clear message and leaves the database untouched', () => {
    const cases: [string, (dir: string) => string, RegExp][] = [
      [
        'random bytes',
        (dir) => {
          const f = join(dir, 'random.bin');
          writeFileSync(f, randomBytes(8192));
          return f;
        },
        /random\.bin is not a SQLite database, so not a Bulwark backup/,
      ],
      [
        'an empty file',
        (dir) => {
          const f = join(dir, 'empty.sqlite');
          writeFileSync(f, '');
          return f;
        },
        /empty\.sqlite is empty/,
      ],
      ['a missing file', (dir) => join(dir, 'missing.sqlite'), /missing\.sqlite: cannot read \(ENOENT\)/],
      [
        'a directory',
        (dir) => {
          const f = join(dir, 'adir');
          mkdirSync(f);
          return f;
        },
        /adir is not a file/,
      ],
      [
        'another application’s SQLite database',
        (dir) => {
          const f = join(dir, 'other.sqlite');
          const d = new SqliteDatabase(f);
          d.exec(
            'create table notes (id integer primary key, body text); insert into notes (body) values (1)',
          );
          d.close();
          return f;
        },
        /other\.sqlite is a SQLite database but not a Bulwark one \(it has no kysely_migration table\)/,
      ],
      [
        'a database from a newer Bulwark',
        (dir) => {
          const f = join(dir, 'newer.sqlite');
          const d = new SqliteDatabase(f);
          d.exec(`create table kysely_migration (name text primary key, timestamp text);
                  insert into kysely_migration values ('0001_initial', '${AT}'), ('9999_future', '${AT}');
                  create table audit_log (seq integer primary key)`);
          d.close();
          return f;
        },
        /newer\.sqlite was written by a newer version of Bulwark \(unknown migrations: 9999_future\)/,
      ],
    ];
    for (const [name, make, message] of cases) {
      it(name, async () => {
        const dataDir = tempDir();
        const db = await seeded(dataDir, 1);
        await db.close();
        open.splice(open.indexOf(db), 1);
        const before = snapshot(dataDir);
        const file = make(tempDir());
        const err = await restoreSqlite({ dataDir, file }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BackupError);
        expect((err as Error).message).toMatch(message);
        expect((err as Error).message).not.toMatch(/\n/);
        expect(snapshot(dataDir)).toEqual(before);
      });
    }

    it('a corrupted backup', async () => {
      const dataDir = tempDir();
      const db = await seeded(dataDir, 30);
      const backup = join(tempDir(), 'corrupt.sqlite');
      await backupSqlite(join(dataDir, SQLITE_FILE), backup);
      await db.close();
      open.splice(open.indexOf(db), 1);
      // Keep the header, scramble the pages after the first.
      const bytes = readFileSync(backup);
      const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
      randomBytes(bytes.length - pageSize).copy(bytes, pageSize);
      writeFileSync(backup, bytes);
      const before = snapshot(dataDir);
      const err = await restoreSqlite({ dataDir, file: backup }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as Error).message).toMatch(/corrupt\.sqlite (is damaged|is not a usable SQLite database)/);
      expect(snapshot(dataDir)).toEqual(before);
    });
  });

  it('refuses a backup whose audit log was tampered with, unless forced', async () => {
    const dataDir = tempDir();
    const db = await seeded(dataDir, 4);
    const backup = join(tempDir(), 'b.sqlite');
    await backupSqlite(join(dataDir, SQLITE_FILE), backup);
    await db.close();
    open.splice(open.indexOf(db), 1);
    const edit = new SqliteDatabase(backup);
    edit.prepare(`update audit_log set actor = 'user:nobody' where seq = 2`).run();
    edit.close();
    const before = snapshot(dataDir);
    await expect(restoreSqlite({ dataDir, file: backup })).rejects.toThrow(
      /b\.sqlite: its audit log is broken \(seq 2: record 2 was changed.*\); it may have been tampered with\. Restore it anyway with --force/,
    );
    expect(snapshot(dataDir)).toEqual(before);
    const r = await restoreSqlite({ dataDir, file: backup, force: true });
    expect(r.forced).toBe(true);
    expect(r.audit.ok).toBe(false);
    expect(existsSync(r.previous!)).toBe(true);
  });

  it('brings along a -wal that belongs to the file', async () => {
    // A database copied with its -wal while no server runs (e.g. a kept before-restore file).
    const src = tempDir();
    const db = await seeded(src, 1);
    const raw = new SqliteDatabase(join(src, SQLITE_FILE));
    raw.pragma('wal_autocheckpoint = 0');
    raw.prepare(`insert into tenants (id, name, created_at) values ('only-in-wal', 'W', '${AT}')`).run();
    const copyDir = tempDir();
    writeFileSync(join(copyDir, 'copy.sqlite'), readFileSync(join(src, SQLITE_FILE)));
    writeFileSync(join(copyDir, 'copy.sqlite-wal'), readFileSync(join(src, `${SQLITE_FILE}-wal`)));
    raw.close();
    await db.close();
    open.splice(open.indexOf(db), 1);
    const dataDir = tempDir();
    const r = await restoreSqlite({ dataDir, file: join(copyDir, 'copy.sqlite') });
    expect(tenantsIn(r.path)).toEqual(['only-in-wal', 't0']);
    expect(readdirSync(dataDir)).toEqual([SQLITE_FILE]);
  });
});
