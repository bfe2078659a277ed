/** `bulwark audit verify`: walks the audit log's hash chain and reports every record changed, removed or added. */
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import {
  type AuditVerification,
  BackupError,
  type Database,
  isAuditHash,
  isPostgresUrl,
  openDatabase,
  openExistingSqlite,
  redactUrl,
  SQLITE_FILE,
  verifyAudit,
} from '../../server/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';

export interface AuditVerifyOptions {
  dataDir: string;
  database?: string;
  expectHead?: string;
  json?: boolean;
}

export async function runAuditVerify(io: Io, opts: AuditVerifyOptions): Promise<number> {
  const expectHead = opts.expectHead?.trim().toLowerCase();
  if (expectHead !== undefined && !isAuditHash(expectHead)) {
    throw new UsageError(
      '--expect-head takes a head hash as printed by `bulwark audit verify`: 64 hex digits',
    );
  }
  const url = opts.database || io.env.BULWARK_DATABASE_URL || undefined;
  let kysely: Kysely<Database>;
  let location: string;
  let close: () => Promise<void>;
  if (url) {
    if (!isPostgresUrl(url)) {
      throw new UsageError(
        `database URL must start with postgres:// or postgresql:// (got "${url.split(':')[0]}:"); omit it to use the embedded SQLite database`,
      );
    }
    const db = await openDatabase({ url, dataDir: opts.dataDir });
    kysely = db.kysely;
    location = redactUrl(url);
    close = db.close;
  } else {
    location = join(opts.dataDir, SQLITE_FILE);
    try {
      kysely = openExistingSqlite(location);
    } catch (err) {
      if (err instanceof BackupError) throw new UsageError(err.message);
      throw err;
    }
    close = () => kysely.destroy();
  }

  let result: AuditVerification;
  try {
    result = await verifyAudit(kysely, expectHead ? { expectHead } : {});
  } catch (err) {
    const msg = (err as Error).message;
    if (/audit_log/.test(msg) && /(no such table|does not exist)/.test(msg)) {
      throw new UsageError(
        `${location} has no audit log: not a Bulwark database, or the server never started on it`,
      );
    }
    throw new UsageError(`cannot read the audit log at ${location}: ${msg}`);
  } finally {
    await close();
  }

  if (opts.json) {
    printJson(io, { database: location, ...result });
  } else if (result.ok) {
    io.out(
      `${paint(io, 'green', 'audit log intact')}: ${result.records} records, head seq ${result.headSeq} ${result.head}${expectHead ? ' (expected head present)' : ''}\n`,
    );
  } else {
    const n = result.problems.length + result.problemsOmitted;
    const lines = [
      `${paint(io, 'red', 'audit log TAMPERED')}: ${n} problem${n === 1 ? '' : 's'} in ${result.records} records (${location})`,
      ...result.problems.map((p) => `  seq ${p.seq}: ${p.problem}`),
      ...(result.problemsOmitted ? [`  … and ${result.problemsOmitted} more`] : []),
      `head seq ${result.headSeq} ${result.head}`,
      '',
    ];
    io.out(lines.join('\n'));
  }
  return result.ok ? EXIT.clean : EXIT.findings;
}
