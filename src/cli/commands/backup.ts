/** `bulwark backup` and `bulwark restore`: the embedded SQLite database, copied online and put back safely. */
import { join } from 'node:path';
import {
  BackupError,
  backupSqlite,
  type DatabaseSummary,
  isPostgresUrl,
  PG_BACKUP_HINT,
  restoreSqlite,
  SQLITE_FILE,
} from '../../server/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';

export interface BackupCliOptions {
  dataDir: string;
  out: string;
  database?: string;
  json?: boolean;
}

export interface RestoreCliOptions {
  dataDir: string;
  file: string;
  database?: string;
  force?: boolean;
  json?: boolean;
}

/**
 * The database URL from --database or BULWARK_DATABASE_URL; throws a usage error for a PostgreSQL one (backup and
 * restore are for the embedded database) or anything else that is not empty.
 */
function requireEmbedded(io: Io, database: string | undefined, command: string): void {
  const url = database || io.env.BULWARK_DATABASE_URL || undefined;
  if (!url) return;
  if (isPostgresUrl(url)) throw new UsageError(`${command}: ${PG_BACKUP_HINT}`);
  throw new UsageError(
    `${command}: database URL must start with postgres:// or postgresql:// (got "${url.split(':')[0]}:"); omit it to use the embedded SQLite database`,
  );
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function summaryLines(io: Io, s: DatabaseSummary): string[] {
  const c = s.counts;
  const lines = [
    `  ${c.tenants} tenants, ${c.assets} assets, ${c.findings} findings, ${c.audit_records} audit records`,
    `  audit head: seq ${s.audit.headSeq} ${s.audit.head}`,
  ];
  if (!s.audit.ok) {
    lines.push(paint(io, 'red', '  audit log BROKEN:'));
    for (const p of s.audit.problems.slice(0, 5)) lines.push(`    seq ${p.seq}: ${p.problem}`);
    const more = s.audit.problems.length - 5 + s.audit.problemsOmitted;
    if (more > 0) lines.push(`    … and ${more} more (bulwark audit verify lists them)`);
  }
  return lines;
}

function jsonSummary(s: DatabaseSummary) {
  return {
    bytes: s.bytes,
    counts: s.counts,
    migrations: s.migrations,
    audit: s.audit,
  };
}

function asUsage(err: unknown): never {
  if (err instanceof BackupError) throw new UsageError(err.message);
  throw err;
}

export async function runBackup(io: Io, opts: BackupCliOptions): Promise<number> {
  requireEmbedded(io, opts.database, 'backup');
  const result = await backupSqlite(join(opts.dataDir, SQLITE_FILE), opts.out).catch(asUsage);
  if (opts.json) {
    printJson(io, { path: result.path, ...jsonSummary(result) });
  } else {
    io.out(
      [
        `${paint(io, 'green', 'backup written')}: ${result.path} (${size(result.bytes)})`,
        ...summaryLines(io, result),
        result.audit.ok
          ? '  (keep the head hash elsewhere; `bulwark audit verify --expect-head HASH` then detects records cut off the end)'
          : '  the backup is a faithful copy, but the live audit log was already broken: investigate',
        '',
      ].join('\n'),
    );
  }
  // The copy is good either way; a broken audit chain is a finding worth a non-zero exit.
  return result.audit.ok ? EXIT.clean : EXIT.findings;
}

export async function runRestore(io: Io, opts: RestoreCliOptions): Promise<number> {
  requireEmbedded(io, opts.database, 'restore');
  const result = await restoreSqlite({ dataDir: opts.dataDir, file: opts.file, force: opts.force }).catch(
    asUsage,
  );
  if (opts.json) {
    printJson(io, {
      path: result.path,
      from: result.from,
      previous: result.previous ?? null,
      forced: result.forced,
      ...jsonSummary(result),
    });
  } else {
    io.out(
      [
        `${paint(io, 'green', 'restored')} ${result.from} into ${result.path}`,
        ...summaryLines(io, result),
        result.previous
          ? `  the database it replaced is kept as ${result.previous}`
          : '  there was no database before',
        ...(result.forced
          ? [paint(io, 'yellow', '  restored with --force despite the broken audit log')]
          : []),
        '',
      ].join('\n'),
    );
  }
  return EXIT.clean;
}
