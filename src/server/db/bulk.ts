/**
 * Bulk upserts for the hot path (an advisory run writes hundreds of thousands of findings). Kysely's multi-row
 * VALUES costs a large prepare per chunk on SQLite and a large parse per chunk on PostgreSQL; here SQLite reuses
 * one prepared single-row statement on Kysely's own connection (inside the caller's transaction), and PostgreSQL
 * gets one array parameter per column through UNNEST, thousands of rows per statement.
 *
 * Table and column names come from code (checked against a plain pattern), never from input.
 */
import type { Statement } from 'better-sqlite3';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Db } from './connect.js';
import type { Database } from './schema.js';

export interface UpsertSpec {
  table: keyof Database;
  columns: readonly string[];
  /** Conflict target; absent: plain insert. */
  key?: readonly string[];
  /** Columns replaced from the new row on conflict. */
  replace?: readonly string[];
  /** Columns added to (stored + new) on conflict: counters. */
  add?: readonly string[];
  /** Integer columns (everything else is text): PostgreSQL array casts. */
  ints?: readonly string[];
}

const NAME = /^[a-z_]+$/;
/** Rows one PostgreSQL statement writes at most (one array parameter per column). */
export const PG_CHUNK = 5000;

/** Table and column names, checked against a plain pattern (they come from code, never from input). */
export function checkedNames(names: readonly string[]): readonly string[] {
  for (const n of names) if (!NAME.test(n)) throw new Error(`bad identifier ${n}`);
  return names;
}
const checked = checkedNames;

export function conflictClause(spec: UpsertSpec): string {
  if (!spec.key) return '';
  const sets = [
    ...checked(spec.replace ?? []).map((c) => `${c} = excluded.${c}`),
    ...checked(spec.add ?? []).map((c) => `${c} = ${spec.table}.${c} + excluded.${c}`),
  ];
  return ` on conflict (${checked(spec.key).join(', ')}) ${sets.length ? `do update set ${sets.join(', ')}` : 'do nothing'}`;
}

/** (tenant_id, asset_id) pairs. */
export type AssetKey = readonly [tenant: string, asset: string];

const SQLITE_KEYS_PER_QUERY = 500;

export class BulkWriter {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Db) {}

  /** SQLite: the statement for `text`, prepared once (texts come from code: a bounded set of shapes). */
  private prepared(text: string): Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.sqlite!.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  async upsert<T extends object>(
    trx: Transaction<Database>,
    spec: UpsertSpec,
    rows: readonly T[],
  ): Promise<void> {
    if (!rows.length) return;
    checked([spec.table, ...spec.columns]);
    const columns = spec.columns;
    if (this.db.sqlite) {
      const text = `insert into ${spec.table} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})${conflictClause(spec)}`;
      const statement = this.prepared(text);
      const values = new Array<unknown>(columns.length);
      for (const row of rows) {
        for (let i = 0; i < columns.length; i++) values[i] = (row as Record<string, unknown>)[columns[i]!];
        statement.run(values);
      }
      return;
    }
    const ints = new Set(spec.ints ?? []);
    const tail = sql.raw(conflictClause(spec));
    for (let start = 0; start < rows.length; start += PG_CHUNK) {
      const chunk = rows.slice(start, start + PG_CHUNK);
      const arrays = columns.map((c) => {
        const values = chunk.map((r) => (r as Record<string, unknown>)[c] ?? null);
        return sql`${values}::${sql.raw(ints.has(c) ? 'int4' : 'text')}[]`;
      });
      await sql`insert into ${sql.raw(spec.table)} (${sql.raw(columns.join(', '))}) select * from unnest(${sql.join(arrays)})${tail}`.execute(
        trx,
      );
    }
  }

  /**
   * Rows of `table` for the given assets (`assetColumn` names the asset id column). SQLite: row-value IN lists;
   * PostgreSQL: a join against the keys as two arrays, which plans as a hash join instead of thousands of ORs.
   */
  async selectByAssets<R>(
    trx: Transaction<Database> | Kysely<Database>,
    table: keyof Database,
    assetColumn: 'id' | 'asset_id',
    columns: readonly string[],
    keys: readonly AssetKey[],
    /** PostgreSQL: lock the rows read, in key order (SQLite's single writer needs no row locks). */
    forUpdate = false,
  ): Promise<R[]> {
    if (!keys.length) return [];
    checked([table, assetColumn, ...columns]);
    const list = columns.map((c) => `t.${c}`).join(', ');
    const out: R[] = [];
    if (this.db.sqlite) {
      for (let i = 0; i < keys.length; i += SQLITE_KEYS_PER_QUERY) {
        const part = keys.slice(i, i + SQLITE_KEYS_PER_QUERY);
        const text = `select ${list} from ${table} t where (t.tenant_id, t.${assetColumn}) in (values ${part.map(() => '(?, ?)').join(', ')})`;
        const rows = this.prepared(text).all(part.flat()) as R[];
        for (const r of rows) out.push(r);
      }
      return out;
    }
    for (let i = 0; i < keys.length; i += PG_CHUNK) {
      const part = keys.slice(i, i + PG_CHUNK);
      const tenants = part.map((k) => k[0]);
      const assets = part.map((k) => k[1]);
      // Locks are taken in the order rows come out: key order, as every writer takes them (no deadlocks).
      const lock = sql.raw(forUpdate ? ` order by t.tenant_id, t.${assetColumn} for update of t` : '');
      const res =
        await sql<R>`select ${sql.raw(list)} from ${sql.raw(table)} t join unnest(${tenants}::text[], ${assets}::text[]) as k(tenant_id, asset_id) on t.tenant_id = k.tenant_id and t.${sql.raw(assetColumn)} = k.asset_id${lock}`.execute(
          trx,
        );
      for (const r of res.rows) out.push(r);
    }
    return out;
  }

  /** Deletes the rows of `table` that belong to the given assets (`assetColumn` names the asset id column). */
  async deleteByAssets(
    trx: Transaction<Database>,
    table: keyof Database,
    assetColumn: string,
    keys: readonly AssetKey[],
  ): Promise<void> {
    if (!keys.length) return;
    checked([table, assetColumn]);
    if (this.db.sqlite) {
      const text = `delete from ${table} where tenant_id = ? and ${assetColumn} = ?`;
      const statement = this.prepared(text);
      for (const k of keys) statement.run(k[0], k[1]);
      return;
    }
    for (let i = 0; i < keys.length; i += PG_CHUNK) {
      const part = keys.slice(i, i + PG_CHUNK);
      await sql`delete from ${sql.raw(table)} t using unnest(${part.map((k) => k[0])}::text[], ${part.map((k) => k[1])}::text[]) as k(tenant_id, asset_id) where t.tenant_id = k.tenant_id and t.${sql.raw(assetColumn)} = k.asset_id`.execute(
        trx,
      );
    }
  }

  /**
   * PostgreSQL: locks the assets' rows, in key order, until the transaction ends, so two writers of one asset's
   * findings (a facts push, an advisory run, a status change) take turns and each reads what the other committed.
   * SQLite transactions are serialized already.
   */
  async lockAssets(trx: Transaction<Database>, keys: readonly AssetKey[]): Promise<void> {
    if (this.db.sqlite || !keys.length) return;
    await this.selectByAssets(trx, 'assets', 'id', ['id'], keys, true);
  }
}

/**
 * Runs a bounded DELETE (`deleteOnce(limit)`) until one removes fewer than `batch` rows or `maxBatches` ran, so a
 * large clean-up never holds one long transaction; returns how many rows went.
 */
export async function deleteInBatches(
  deleteOnce: (limit: number) => Promise<{ numDeletedRows: bigint }>,
  batch: number,
  maxBatches: number,
): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = Number((await deleteOnce(batch)).numDeletedRows);
    deleted += n;
    if (n < batch) break;
  }
  return deleted;
}
