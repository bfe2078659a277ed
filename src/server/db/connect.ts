/**
 * Opens the control plane's database: embedded SQLite (a file under the data directory, nothing to install) or
 * PostgreSQL from a `postgres://` URL. Both speak through one Kysely instance, so queries are written once.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type SqliteDatabase as SqliteDialectDatabase,
  sql,
} from 'kysely';
import pg from 'pg';
import { migrationProviderFor } from './migrations.js';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  /** Where the data lives, with any password removed: safe to log. */
  location: string;
  /** The SQLite file (for backup), when embedded. */
  sqlitePath?: string;
  /** The SQLite connection under Kysely, for bulk writes with prepared statements (same connection, same transaction). */
  sqlite?: SqliteDatabase.Database;
  /** PostgreSQL: a new connection outside the pool (same server and schema), e.g. for LISTEN. */
  dedicatedClient?(applicationName: string): pg.Client;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** `postgres://…` or `postgresql://…`; when absent, SQLite under dataDir. */
  url?: string;
  dataDir: string;
  /** PostgreSQL only: keep every table in this schema (created if missing). Tests use one schema each. */
  pgSchema?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

export const SQLITE_FILE = 'bulwark.sqlite';

export function isPostgresUrl(url: string | undefined): boolean {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** The URL without its password, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

export async function openDatabase(options: OpenOptions): Promise<Db> {
  const url = options.url;
  if (!url) return openSqlite(join(options.dataDir, SQLITE_FILE));
  if (!isPostgresUrl(url)) {
    throw new Error(
      `database URL must start with postgres:// or postgresql:// (got "${url.split(':')[0]}:"); omit it to use the embedded SQLite database`,
    );
  }
  return openPostgres(url, options);
}

/** Prepared statements kept per SQL text (least recently used go first). */
const STATEMENT_CACHE = 500;

/**
 * Kysely prepares every query anew; a better-sqlite3 statement can run again with new parameters, and preparing
 * was a tenth of a single-asset write's server time. So statements are kept by SQL text and reused, unless one is
 * still being iterated (a streamed query), which gets a fresh one.
 */
function reusingStatements(database: SqliteDatabase.Database): SqliteDialectDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string) {
      const kept = cache.get(sql);
      if (kept && !kept.busy) {
        cache.delete(sql);
        cache.set(sql, kept);
        return kept;
      }
      const statement = database.prepare(sql);
      if (!kept) {
        if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

export function openSqlite(path: string): Db {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const database = new SqliteDatabase(path);
  // WAL lets readers run beside the writer; NORMAL sync is durable across process crashes in WAL mode.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // A 64 MiB page cache: an advisory run over 100,000 assets touches far more than the default 2 MiB.
  database.pragma('cache_size = -65536');
  database.pragma('temp_store = MEMORY');
  const kysely = new Kysely<Database>({
    dialect: new SqliteDialect({ database: reusingStatements(database) }),
  });
  return {
    kysely,
    dialect: 'sqlite',
    location: path,
    sqlitePath: path,
    sqlite: database,
    close: () => kysely.destroy(),
  };
}

async function openPostgres(url: string, options: OpenOptions): Promise<Db> {
  const schema = options.pgSchema;
  if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`invalid PostgreSQL schema name "${schema}"`);
  if (schema) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    // COUNT(*) and other int8 results as numbers: the counts here stay far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const dedicatedClient = (applicationName: string) =>
    new pg.Client({
      connectionString: url,
      application_name: applicationName,
      connectionTimeoutMillis: 5000,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
  return {
    kysely,
    dialect: 'postgres',
    location: redactUrl(url),
    dedicatedClient,
    close: () => kysely.destroy(),
  };
}

/** Runs every pending migration; safe to call on every start. */
export async function migrate(db: Db): Promise<string[]> {
  // Kysely looks for its bookkeeping tables in every schema; pin them to ours, or a database holding another
  // schema with Kysely tables (another app, or a parallel test) makes it skip creating them here.
  const schema =
    db.dialect === 'postgres'
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db.kysely)).rows[0]?.s
      : undefined;
  const migrator = new Migrator({
    db: db.kysely,
    provider: migrationProviderFor(db.dialect),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed on ${db.location}: ${(error as Error).message}`,
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
