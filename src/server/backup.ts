/**
 * Backup and restore of the embedded SQLite database.
 *
 * Backup uses SQLite's online backup API (better-sqlite3's `database.backup`), copying every page in one step, so
 * the copy is one consistent snapshot even while the server writes (WAL included). It goes to a temporary file
 * beside the destination, is checked, converted to a single self-contained file and only then renamed into place:
 * the destination is either the old file or the complete new one, never half of either.
 *
 * Restore works on a copy in the data directory: the copy is checked (SQLite integrity, Bulwark's migrations,
 * the audit chain) before anything is touched, the current database is kept beside it as
 * `bulwark.sqlite.before-restore-<UTC time>`, and the copy is renamed into place. It holds the data-directory lock
 * throughout, so a server cannot start half-way, and refuses while a server holds it.
 *
 * PostgreSQL installations use the database's own tools (pg_dump / pg_restore).
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { type AuditVerification, verifyAudit } from './audit/log.js';
import { SQLITE_FILE } from './db/connect.js';
import { migrationsFor } from './db/migrations.js';
import type { Database } from './db/schema.js';
import { acquireDataDirLock, DataDirLockedError, dataDirLockHolder, LOCK_FILE } from './lockfile.js';

/** A problem with what the operator asked for or gave (exit 2), as one line. */
export class BackupError extends Error {
  override name = 'BackupError';
}

export const PG_BACKUP_HINT =
  'the database is PostgreSQL: back it up with `pg_dump --format=custom --file=bulwark.dump "$BULWARK_DATABASE_URL"` and restore it with `pg_restore --clean --if-exists --no-owner --dbname="$BULWARK_DATABASE_URL" bulwark.dump`';

const MIGRATION_TABLE = 'kysely_migration';
const SQLITE_MAGIC = 'SQLite format 3\0';

export interface DatabaseSummary {
  bytes: number;
  counts: { tenants: number; assets: number; findings: number; audit_records: number };
  migrations: string[];
  audit: Pick<AuditVerification, 'ok' | 'records' | 'head' | 'headSeq' | 'problems' | 'problemsOmitted'>;
}

export interface BackupResult extends DatabaseSummary {
  path: string;
}

export interface RestoreResult extends DatabaseSummary {
  /** The database file now in place. */
  path: string;
  from: string;
  /** Where the database that was replaced now is; undefined when there was none. */
  previous?: string;
  /** Restored although the audit chain is broken (`force`). */
  forced: boolean;
}

/** UTC time for file names: 20240301T120000Z. */
export function fileTimestamp(now = new Date()): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

const tempSuffix = () => `${process.pid}-${randomBytes(4).toString('hex')}`;

/** Removes a database file and its companions, ignoring what is not there. */
function removeDatabaseFiles(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    try {
      unlinkSync(path + suffix);
    } catch {
      // not there
    }
  }
}

function fsyncPath(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch {
    // Directories cannot be fsynced on every platform; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function sqliteMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.message ?? String(err);
}

/**
 * Checks a database file that nobody else has open (a fresh copy) and turns it into one self-contained file
 * (rollback journal instead of WAL): SQLite's integrity check, Bulwark's migrations, record counts and the audit
 * chain. Throws BackupError naming `label` for anything that makes it unusable; a broken audit chain is reported
 * in the result, not thrown.
 */
export async function checkDatabaseCopy(path: string, label: string): Promise<DatabaseSummary> {
  let database: SqliteDatabase.Database;
  try {
    database = new SqliteDatabase(path, { fileMustExist: true });
  } catch (err) {
    throw new BackupError(`${label}: cannot open as a SQLite database (${sqliteMessage(err)})`);
  }
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  try {
    let problems: string[];
    try {
      problems = (database.pragma('integrity_check') as { integrity_check: string }[]).map(
        (r) => r.integrity_check,
      );
    } catch (err) {
      throw new BackupError(`${label} is not a usable SQLite database: ${sqliteMessage(err)}`);
    }
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new BackupError(
        `${label} is damaged (SQLite integrity check: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''})`,
      );
    }
    const tables = new Set(
      (
        database.prepare(`select name from sqlite_master where type = 'table'`).all() as { name: string }[]
      ).map((r) => r.name),
    );
    if (!tables.has(MIGRATION_TABLE)) {
      throw new BackupError(
        `${label} is a SQLite database but not a Bulwark one (it has no ${MIGRATION_TABLE} table)`,
      );
    }
    const migrations = (
      database.prepare(`select name from ${MIGRATION_TABLE} order by name`).all() as { name: string }[]
    ).map((r) => r.name);
    if (!migrations.includes('0001_initial') || !tables.has('audit_log')) {
      throw new BackupError(
        `${label} is a SQLite database but not a Bulwark one (Bulwark's first migration has not run on it)`,
      );
    }
    const unknown = migrations.filter((m) => !(m in migrationsFor('sqlite')));
    if (unknown.length) {
      throw new BackupError(
        `${label} was written by a newer version of Bulwark (unknown migrations: ${unknown.join(', ')}); upgrade Bulwark first`,
      );
    }
    // Chains the audit records still pending in the copy first (counted below). They are chained in id order onto
    // the same head, as the live server chains them, so the copy's head is a record of the live chain.
    const audit = await verifyAudit(kysely, { maxProblems: 20 });
    const count = (table: string) =>
      tables.has(table)
        ? Number((database.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n)
        : 0;
    const counts = {
      tenants: count('tenants'),
      assets: count('assets'),
      findings: count('findings'),
      audit_records: count('audit_log'),
    };
    // One file, no -wal beside it: safe to copy, rename and archive on its own.
    database.pragma('journal_mode = DELETE');
    return {
      bytes: 0,
      counts,
      migrations,
      audit: {
        ok: audit.ok,
        records: audit.records,
        head: audit.head,
        headSeq: audit.headSeq,
        problems: audit.problems,
        problemsOmitted: audit.problemsOmitted,
      },
    };
  } finally {
    await kysely.destroy();
    if (database.open) database.close();
  }
}

/**
 * Copies the live database at `sqlitePath` to `out` (a file, or an existing directory to put
 * `bulwark-backup-<UTC time>.sqlite` in). Safe while the server runs.
 */
export async function backupSqlite(sqlitePath: string, out: string): Promise<BackupResult> {
  if (!existsSync(sqlitePath)) {
    throw new BackupError(`no database at ${sqlitePath}: nothing to back up (is --data-dir right?)`);
  }
  let dest = resolve(out);
  if (existsSync(dest) && statSync(dest).isDirectory()) {
    dest = join(dest, `bulwark-backup-${fileTimestamp()}.sqlite`);
  }
  if (!existsSync(dirname(dest)) || !statSync(dirname(dest)).isDirectory()) {
    throw new BackupError(`${dirname(dest)} does not exist: create the directory for the backup first`);
  }
  const src = resolve(sqlitePath);
  if (dest === src || dest.startsWith(`${src}-`)) {
    throw new BackupError(`${dest} is the live database itself; choose another --out`);
  }
  const tmp = join(dirname(dest), `.${basename(dest)}.tmp-${tempSuffix()}`);
  try {
    const source = new SqliteDatabase(src, { fileMustExist: true });
    try {
      source.pragma('busy_timeout = 5000');
      // All remaining pages in the second step: one read transaction, so one consistent snapshot, and no restart
      // when the server writes between steps.
      await source.backup(tmp, { progress: () => 0x7fffffff });
    } finally {
      source.close();
    }
    // It holds password hashes and TOTP secrets.
    chmodSync(tmp, 0o600);
    const summary = await checkDatabaseCopy(tmp, `the backup of ${src}`);
    fsyncPath(tmp);
    renameSync(tmp, dest);
    fsyncPath(dirname(dest));
    return { ...summary, bytes: statSync(dest).size, path: dest };
  } catch (err) {
    removeDatabaseFiles(tmp);
    if (err instanceof BackupError) throw err;
    throw new BackupError(`backup of ${src} to ${dest} failed: ${sqliteMessage(err)}`);
  }
}

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(16);
    const n = readSync(fd, buf, 0, 16, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export interface RestoreOptions {
  dataDir: string;
  /** The backup to restore. */
  file: string;
  /** Restore even though the backup's audit chain is broken. */
  force?: boolean;
  now?: Date;
}

/** Replaces the data directory's database with `file`, keeping the current one beside it. */
export async function restoreSqlite(options: RestoreOptions): Promise<RestoreResult> {
  const dataDir = resolve(options.dataDir);
  const file = resolve(options.file);
  const refuseLocked = (pid: number) =>
    new BackupError(
      `a Bulwark server (pid ${pid}) is using ${dataDir}; stop it before restoring (lock file ${join(dataDir, LOCK_FILE)})`,
    );
  const holder = dataDirLockHolder(dataDir);
  if (holder !== undefined) throw refuseLocked(holder);

  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (err) {
    throw new BackupError(
      `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? sqliteMessage(err)})`,
    );
  }
  if (!st.isFile()) throw new BackupError(`${file} is not a file`);
  if (st.size === 0) throw new BackupError(`${file} is empty, not a Bulwark backup`);
  if (readHeader(file).toString('latin1') !== SQLITE_MAGIC) {
    throw new BackupError(`${file} is not a SQLite database, so not a Bulwark backup`);
  }
  const live = join(dataDir, SQLITE_FILE);
  if (file === live) throw new BackupError(`${file} is the database in use; restore from a backup file`);

  let lock: ReturnType<typeof acquireDataDirLock>;
  try {
    lock = acquireDataDirLock(dataDir);
  } catch (err) {
    if (err instanceof DataDirLockedError) throw refuseLocked(err.holder);
    throw err;
  }
  const tmp = join(dataDir, `.${SQLITE_FILE}.restore-${tempSuffix()}`);
  try {
    copyFileSync(file, tmp, constants.COPYFILE_EXCL);
    chmodSync(tmp, 0o600);
    // A copy of a database that was not cleanly closed keeps recent commits in its -wal: bring it along.
    if (existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0) {
      copyFileSync(`${file}-wal`, `${tmp}-wal`, constants.COPYFILE_EXCL);
    }
    const summary = await checkDatabaseCopy(tmp, file);
    const forced = !summary.audit.ok;
    if (!summary.audit.ok && !options.force) {
      const first = summary.audit.problems[0];
      throw new BackupError(
        `${file}: its audit log is broken (${first ? `seq ${first.seq}: ${first.problem}` : 'see bulwark audit verify'}${summary.audit.problems.length > 1 ? `, and ${summary.audit.problems.length - 1 + summary.audit.problemsOmitted} more problems` : ''}); it may have been tampered with. Restore it anyway with --force`,
      );
    }
    fsyncPath(tmp);

    // Keep the current database (and a -wal/-journal holding part of it) under one new name.
    const moved: [from: string, to: string][] = [];
    let previous: string | undefined;
    if (existsSync(live)) {
      const stamp = fileTimestamp(options.now);
      previous = `${live}.before-restore-${stamp}`;
      for (let i = 1; existsSync(previous); i++) previous = `${live}.before-restore-${stamp}-${i}`;
    }
    try {
      if (previous) {
        for (const suffix of ['', '-wal', '-journal']) {
          if (!existsSync(live + suffix)) continue;
          renameSync(live + suffix, previous + suffix);
          moved.push([live + suffix, previous + suffix]);
        }
      }
      // The shared-memory index belongs to the WAL that just moved; SQLite rebuilds it.
      if (existsSync(`${live}-shm`)) unlinkSync(`${live}-shm`);
      renameSync(tmp, live);
    } catch (err) {
      for (const [from, to] of moved.reverse()) {
        try {
          renameSync(to, from);
        } catch {
          // Leave it where it is; the message below names both places.
        }
      }
      throw new BackupError(
        `restore failed, the current database was left in place: ${(err as Error).message}`,
      );
    }
    fsyncPath(dataDir);
    return {
      ...summary,
      bytes: statSync(live).size,
      path: live,
      from: file,
      ...(previous ? { previous } : {}),
      forced,
    };
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(`restore of ${file} failed, nothing was changed: ${sqliteMessage(err)}`);
  } finally {
    removeDatabaseFiles(tmp);
    lock.release();
  }
}

/**
 * Opens an existing SQLite database for reading (audit verification) without creating or migrating anything.
 */
export function openExistingSqlite(path: string): Kysely<Database> {
  if (!existsSync(path)) {
    throw new BackupError(`no database at ${path} (is --data-dir right?)`);
  }
  let database: SqliteDatabase.Database;
  try {
    database = new SqliteDatabase(path, { fileMustExist: true });
    database.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new BackupError(`${path}: cannot open as a SQLite database (${sqliteMessage(err)})`);
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}
