/**
 * The writes of one transaction, gathered and sent together. A single-asset write touches up to nine tables
 * (asset, product index, findings, their history, per-advisory verdicts, counters, audit, events); on PostgreSQL
 * each statement is a round trip with its own parse and plan, and those round trips were most of the cost of a
 * write. So PostgreSQL gets the queued writes as one statement of data-modifying WITH clauses (UNNEST arrays as in
 * bulk.ts; a new statement only when a table comes round again, a chunk is full, or a `run` step needs the
 * database), and SQLite, where a statement is a function call, runs them one after the other at `flush`.
 *
 * The rule for callers: nothing queued is visible before `flush`, so a transaction does its reads first and queues
 * its writes after them. Writes to different tables in one statement see one snapshot and cannot see each other,
 * which is why a table appears at most once per statement (a `replace` is its delete and insert as one unit,
 * written so that the two touch disjoint rows).
 *
 * Table and column names come from code (checked against a plain pattern), never from input.
 */
import { type RawBuilder, sql, type Transaction } from 'kysely';
import type { AssetKey, BulkWriter, UpsertSpec } from './bulk.js';
import { checkedNames, conflictClause, PG_CHUNK } from './bulk.js';
import type { DialectName } from './connect.js';
import type { Database } from './schema.js';

type Trx = Transaction<Database>;

/** Rows owned by assets: the ones of `keys` not in `rows` are deleted, `rows` are inserted where missing. */
export interface ReplaceSpec {
  table: keyof Database;
  /** Every column of the table's key; the first two are the tenant and the asset. */
  columns: readonly [tenant: string, asset: string, ...rest: string[]];
}

type Op =
  | { kind: 'upsert'; spec: UpsertSpec; rows: object[] }
  | { kind: 'replace'; spec: ReplaceSpec; keys: readonly AssetKey[]; rows: readonly object[] }
  | { kind: 'run'; fn: (trx: Trx) => Promise<unknown> };

export class WriteBatch {
  private ops: Op[] = [];
  private after: ((trx: Trx) => Promise<void> | void)[] = [];

  constructor(
    private readonly bulk: BulkWriter,
    readonly trx: Trx,
    readonly dialect: DialectName,
  ) {}

  /** Queues an insert (with the spec's conflict handling) of `rows`. */
  upsert<T extends object>(spec: UpsertSpec, rows: readonly T[]): this {
    if (!rows.length) return this;
    checkedNames([spec.table, ...spec.columns]);
    // A plain insert joins an earlier plain insert into the same columns (back to the last `run` step), its rows
    // after that one's: a transaction's events, queued by several steps, go as one insert, in order. Upserts never
    // merge: one insert must not touch a key twice.
    if (!spec.key) {
      for (let i = this.ops.length - 1; i >= 0; i--) {
        const op = this.ops[i]!;
        if (op.kind === 'run') break;
        if (
          op.kind === 'upsert' &&
          !op.spec.key &&
          op.spec.table === spec.table &&
          op.spec.columns.join() === spec.columns.join() &&
          op.rows.length + rows.length <= PG_CHUNK
        ) {
          op.rows = [...op.rows, ...rows];
          return this;
        }
      }
    }
    for (let i = 0; i < rows.length; i += PG_CHUNK)
      this.ops.push({ kind: 'upsert', spec, rows: rows.slice(i, i + PG_CHUNK) as object[] });
    return this;
  }

  /** Queues: the given assets' rows of `spec.table` become exactly `rows`. */
  replace<T extends object>(spec: ReplaceSpec, keys: readonly AssetKey[], rows: readonly T[]): this {
    if (!keys.length) return this;
    checkedNames([spec.table, ...spec.columns]);
    // Split by asset, so no statement carries more than PG_CHUNK keys and rows.
    const [tenant, asset] = spec.columns;
    const byAsset = new Map<string, object[]>();
    for (const row of rows) {
      const r = row as Record<string, unknown>;
      const k = `${r[tenant]}\u0000${r[asset]}`;
      let list = byAsset.get(k);
      if (!list) {
        list = [];
        byAsset.set(k, list);
      }
      list.push(row);
    }
    let partKeys: AssetKey[] = [];
    let partRows: object[] = [];
    for (const key of keys) {
      const own = byAsset.get(`${key[0]}\u0000${key[1]}`) ?? [];
      if (partKeys.length && partKeys.length + partRows.length + 1 + own.length > PG_CHUNK) {
        this.ops.push({ kind: 'replace', spec, keys: partKeys, rows: partRows });
        partKeys = [];
        partRows = [];
      }
      partKeys.push(key);
      partRows.push(...own);
    }
    if (partKeys.length) this.ops.push({ kind: 'replace', spec, keys: partKeys, rows: partRows });
    const placed = keys.reduce((n, key) => n + (byAsset.get(`${key[0]}\u0000${key[1]}`)?.length ?? 0), 0);
    if (placed !== rows.length) throw new Error(`replace: rows of ${spec.table} for assets not in the keys`);
    return this;
  }

  /** Queues a write that needs statements of its own; it runs in its place in the order. */
  run(fn: (trx: Trx) => Promise<unknown>): this {
    this.ops.push({ kind: 'run', fn });
    return this;
  }

  /** Called once the queued writes were sent (in the transaction, before it commits). */
  afterFlush(fn: (trx: Trx) => Promise<void> | void): this {
    this.after.push(fn);
    return this;
  }

  /** Sends everything queued, in order; the batch can be used again afterwards. */
  async flush(): Promise<void> {
    const ops = this.ops;
    const after = this.after;
    this.ops = [];
    this.after = [];
    if (this.dialect === 'postgres') await this.flushPostgres(ops);
    else await this.flushSqlite(ops);
    for (const fn of after) await fn(this.trx);
  }

  private async flushSqlite(ops: Op[]): Promise<void> {
    for (const op of ops) {
      if (op.kind === 'run') await op.fn(this.trx);
      else if (op.kind === 'upsert') await this.bulk.upsert(this.trx, op.spec, op.rows);
      else {
        await this.bulk.deleteByAssets(this.trx, op.spec.table, op.spec.columns[1], op.keys);
        await this.bulk.upsert(this.trx, { table: op.spec.table, columns: op.spec.columns }, op.rows);
      }
    }
  }

  private async flushPostgres(ops: Op[]): Promise<void> {
    let parts: RawBuilder<unknown>[] = [];
    let tables = new Set<string>();
    let rows = 0;
    const send = async () => {
      if (!parts.length) return;
      const ctes = parts.map((part, i) => sql`${sql.raw(`w${i}`)} as (${part})`);
      await sql`with ${sql.join(ctes)} select 1`.execute(this.trx);
      parts = [];
      tables = new Set();
      rows = 0;
    };
    for (const op of ops) {
      if (op.kind === 'run') {
        await send();
        await op.fn(this.trx);
        continue;
      }
      const size = op.kind === 'upsert' ? op.rows.length : op.keys.length + op.rows.length;
      if (tables.has(op.spec.table) || rows + size > PG_CHUNK) await send();
      tables.add(op.spec.table);
      rows += size;
      if (op.kind === 'upsert') {
        parts.push(insertSql(op.spec, op.rows));
      } else {
        parts.push(deleteOthersSql(op.spec, op.keys, op.rows));
        if (op.rows.length)
          parts.push(
            sql`${insertSql({ table: op.spec.table, columns: op.spec.columns }, op.rows)} on conflict do nothing`,
          );
      }
    }
    await send();
  }
}

/** One text[] (or int4[]) parameter per column. */
function columnArrays(spec: UpsertSpec, rows: readonly object[]): RawBuilder<unknown>[] {
  const ints = new Set(spec.ints ?? []);
  return spec.columns.map((c) => {
    const values = rows.map((r) => (r as Record<string, unknown>)[c] ?? null);
    return sql`${values}::${sql.raw(ints.has(c) ? 'int4' : 'text')}[]`;
  });
}

function insertSql(spec: UpsertSpec, rows: readonly object[]): RawBuilder<unknown> {
  return sql`insert into ${sql.raw(spec.table)} (${sql.raw(spec.columns.join(', '))}) select * from unnest(${sql.join(columnArrays(spec, rows))})${sql.raw(conflictClause(spec))}`;
}

/** Deletes the assets' rows that are not among `rows` (so the insert beside it touches other rows only). */
function deleteOthersSql(
  spec: ReplaceSpec,
  keys: readonly AssetKey[],
  rows: readonly object[],
): RawBuilder<unknown> {
  const [tenant, asset] = spec.columns;
  // NOT IN over an uncorrelated subquery is planned as a hashed subplan (one pass over each side); a correlated
  // NOT EXISTS over unnest() rescanned the arrays for every stored row, quadratic in an asset's rows (an agent's
  // 3,000 packages took seconds). Key columns are never null, so NOT IN means the same.
  const cols = spec.columns.map((c) => `t.${c}`).join(', ');
  const kept = rows.length
    ? sql` and (${sql.raw(cols)}) not in (select * from unnest(${sql.join(columnArrays({ table: spec.table, columns: spec.columns }, rows))}))`
    : sql``;
  return sql`delete from ${sql.raw(spec.table)} t using unnest(${keys.map((k) => k[0])}::text[], ${keys.map((k) => k[1])}::text[]) as k(tenant_id, asset_id) where t.${sql.raw(tenant)} = k.tenant_id and t.${sql.raw(asset)} = k.asset_id${kept}`;
}
