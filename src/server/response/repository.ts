/**
 * Response state reads and writes; every query goes through the caller's TenantScope. The board reads the
 * per-asset current state (asset_response) beside the verdicts (asset_exposure): one row per asset the advisory
 * concerns, never the observation history. The answers derived from those rows (patch, worst-first rank) are SQL
 * expressions here and the same rules in answers.ts for single assets.
 */
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { AssetStateFilter, BoardCounts } from '../../api/index.js';
import { containsText } from '../data/like.js';
import type { Db } from '../db/connect.js';
import type { AssetResponseTable, Database, ObservationTable } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';
import type { TenantScope } from '../scope.js';

type Executor = Kysely<Database> | Transaction<Database>;

/** One asset's board row: its verdict (null: not judged for the advisory) and its current answers. */
export interface BoardRow {
  tenant_id: string;
  asset_id: string;
  name: string | null;
  verdict: string | null;
  exposure_at: string | null;
  affected_at: string | null;
  patched_at: string | null;
  shield: string | null;
  shield_at: string | null;
  shield_source: string | null;
  shield_id: string | null;
  compromise: string | null;
  compromise_at: string | null;
  compromise_source: string | null;
  compromise_id: string | null;
  patch: string | null;
  patch_at: string | null;
  patch_source: string | null;
  patch_id: string | null;
  /** The patch answer's state (PATCH_STATE). */
  patch_state: string;
  worst: number;
}

export const RESPONSE_COLUMNS = [
  'tenant_id',
  'asset_id',
  'advisory_id',
  'shield',
  'shield_at',
  'shield_source',
  'shield_id',
  'compromise',
  'compromise_at',
  'compromise_source',
  'compromise_id',
  'patch',
  'patch_at',
  'patch_source',
  'patch_id',
  'updated_at',
] as const;

export const OBSERVATION_COLUMNS = [
  'tenant_id',
  'asset_id',
  'advisory_id',
  'observed_at',
  'id',
  'kind',
  'value',
  'source',
  'window_from',
  'window_to',
  'summary',
  'actor',
  'recorded_at',
] as const;

/**
 * The patch answer's state: not_applicable when not affected; from the verdict (affected → unpatched, fixed after
 * affected → patched) unless a patch observation is at least as recent; else the observation, else unknown.
 */
const PATCH_STATE = sql<string>`case
  when e.verdict = 'not_affected' then 'not_applicable'
  when e.verdict = 'affected' then case when r.patch is not null and r.patch_at >= coalesce(e.affected_at, e.updated_at) then r.patch else 'unpatched' end
  when e.verdict = 'fixed' and e.patched_at is not null then case when r.patch is not null and r.patch_at >= e.patched_at then r.patch else 'patched' end
  else coalesce(r.patch, 'unknown') end`;

/** Worst first: compromised, exposed and not shielded, exposed and shielded, exposure unknown, the rest. */
const RANK = sql<number>`case
  when r.compromise in ('compromised', 'exploitation_attempted') then 0
  when e.verdict = 'affected' and coalesce(r.shield, '') <> 'shielded' then 1
  when e.verdict = 'affected' then 2
  when coalesce(e.verdict, 'unknown') = 'unknown' then 3
  else 4 end`;

/** `and <alias>.tenant_id = <tenant>` for a single-tenant scope or a given tenant: the scope's rule in raw SQL. */
function tenantCondition(scope: TenantScope, alias: string, tenantId?: string): RawBuilder<unknown> {
  if (tenantId !== undefined) scope.require(tenantId);
  const only = tenantId ?? scope.tenantId;
  return only === undefined ? sql`` : sql` and ${sql.ref(`${alias}.tenant_id`)} = ${only}`;
}

/**
 * The assets an advisory concerns (a verdict, or an observation, for it) with their verdict and answers, as rows
 * of columns e.* and r.* — the verdict's rows joined to the answers, then answers without a verdict.
 */
function concerned(
  advisoryId: string,
  scope: TenantScope,
  tenantId?: string,
  among?: readonly string[],
): RawBuilder<unknown> {
  const amongSql = (alias: string) =>
    among ? sql` and ${sql.ref(`${alias}.tenant_id`)} in (${sql.join([...among])})` : sql``;
  const te = sql`${tenantCondition(scope, 'e', tenantId)}${amongSql('e')}`;
  const tr = sql`${tenantCondition(scope, 'r', tenantId)}${amongSql('r')}`;
  return sql`select e.tenant_id, e.asset_id, e.verdict, e.updated_at as exposure_at, e.affected_at, e.patched_at,
      r.shield, r.shield_at, r.shield_source, r.shield_id, r.compromise, r.compromise_at, r.compromise_source, r.compromise_id,
      r.patch, r.patch_at, r.patch_source, r.patch_id, ${PATCH_STATE} as patch_state, ${RANK} as worst
    from asset_exposure e left join asset_response r
      on r.tenant_id = e.tenant_id and r.asset_id = e.asset_id and r.advisory_id = e.advisory_id
    where e.advisory_id = ${advisoryId}${te}
    union all
    select r.tenant_id, r.asset_id, e.verdict, e.updated_at, e.affected_at, e.patched_at,
      r.shield, r.shield_at, r.shield_source, r.shield_id, r.compromise, r.compromise_at, r.compromise_source, r.compromise_id,
      r.patch, r.patch_at, r.patch_source, r.patch_id, ${PATCH_STATE}, ${RANK}
    from asset_response r left join asset_exposure e
      on e.tenant_id = r.tenant_id and e.asset_id = r.asset_id and e.advisory_id = r.advisory_id
    where r.advisory_id = ${advisoryId}${tr} and e.asset_id is null`;
}

/** SQL condition on a concerned() row for an asset-list state filter. */
function stateCondition(state: AssetStateFilter): RawBuilder<unknown> {
  switch (state) {
    case 'compromised':
      return sql`x.compromise in ('compromised', 'exploitation_attempted')`;
    case 'unshielded':
      return sql`x.verdict = 'affected' and coalesce(x.shield, '') <> 'shielded'`;
    case 'exposed':
      return sql`x.verdict = 'affected'`;
    case 'shielded':
      return sql`x.verdict = 'affected' and x.shield = 'shielded'`;
    case 'patched':
      return sql`x.patch_state = 'patched'`;
    case 'unknown':
      return sql`coalesce(x.verdict, 'unknown') = 'unknown'`;
  }
}

export const emptyCounts = (): BoardCounts => ({
  assets: 0,
  exposed: 0,
  unknown_exposure: 0,
  shielded: 0,
  unshielded: 0,
  compromised: 0,
  patched: 0,
  clean: 0,
  not_hunted: 0,
});

const COUNT_KEYS = Object.keys(emptyCounts()) as (keyof BoardCounts)[];

export class ResponseRepository {
  constructor(private readonly db: Db) {}

  async advisoryTitle(id: string, k: Executor = this.db.kysely): Promise<string | undefined> {
    const row = await k.selectFrom('advisories').select('title').where('id', '=', id).executeTakeFirst();
    return row?.title;
  }

  /** Which of the ids are stored advisories. */
  async existingAdvisories(ids: readonly string[], k: Executor = this.db.kysely): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await k
      .selectFrom('advisories')
      .select('id')
      .where('id', 'in', [...ids])
      .execute();
    return new Set(rows.map((r) => r.id));
  }

  /** Tenants in the scope (id and name), by id. */
  async tenants(scope: TenantScope): Promise<{ id: string; name: string }[]> {
    return scope
      .filter(this.db.kysely.selectFrom('tenants').select(['id', 'name']), 'id')
      .orderBy('id')
      .execute();
  }

  /** Which of the ids are assets of the tenant. */
  async existingAssets(scope: TenantScope, k: Executor, tenantId: string, ids: readonly string[]) {
    scope.require(tenantId);
    const out = new Set<string>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await k
        .selectFrom('assets')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', unique.slice(i, i + 500))
        .execute();
      for (const r of rows) out.add(r.id);
    }
    return out;
  }

  /** Every asset of the tenant: id, name and facts (JSON), for matching hunt hosts. */
  async assetsForMatching(
    scope: TenantScope,
    k: Executor,
    tenantId: string,
    withFacts: boolean,
  ): Promise<{ id: string; name: string | null; facts?: string }[]> {
    scope.require(tenantId);
    const q = k.selectFrom('assets').where('tenant_id', '=', tenantId).orderBy('id');
    if (withFacts) return q.select(['id', 'name', 'facts']).execute();
    return q.select(['id', 'name']).execute();
  }

  /** The stored current answers of the given assets (every advisory). */
  async current(
    scope: TenantScope,
    k: Executor,
    tenantId: string,
    assetIds: readonly string[],
  ): Promise<AssetResponseTable[]> {
    scope.require(tenantId);
    const out: AssetResponseTable[] = [];
    const unique = [...new Set(assetIds)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await k
        .selectFrom('asset_response')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('asset_id', 'in', unique.slice(i, i + 500))
        .execute();
      out.push(...rows);
    }
    return out;
  }

  /** Queues the observations and the changed current-answer rows on the transaction's batch. */
  queueWrites(
    scope: TenantScope,
    batch: WriteBatch,
    tenantId: string,
    observations: readonly ObservationTable[],
    current: readonly AssetResponseTable[],
  ): void {
    scope.require(tenantId);
    for (const row of [...observations, ...current])
      if (row.tenant_id !== tenantId) throw new Error('response rows of another tenant');
    batch.upsert({ table: 'observations', columns: OBSERVATION_COLUMNS }, observations);
    batch.upsert(
      {
        table: 'asset_response',
        columns: RESPONSE_COLUMNS,
        key: ['tenant_id', 'asset_id', 'advisory_id'],
        replace: RESPONSE_COLUMNS.slice(3),
      },
      current,
    );
  }

  /**
   * Board counts per tenant in the scope for one advisory (tenants without concerned assets are absent): the stored
   * counts, after recounting the pairs marked stale (dirty.ts).
   */
  async counts(scope: TenantScope, advisoryId: string): Promise<Map<string, BoardCounts>> {
    await this.recountStale(scope, advisoryId);
    const rows = await scope
      .filter(
        this.db.kysely.selectFrom('board_counts').selectAll().where('advisory_id', '=', advisoryId),
        'tenant_id',
      )
      .execute();
    const out = new Map<string, BoardCounts>();
    for (const r of rows) {
      const counts = emptyCounts();
      for (const key of COUNT_KEYS) counts[key] = Number(r[key]);
      out.set(r.tenant_id, counts);
    }
    return out;
  }

  /**
   * Recounts the scope's stale pairs of the advisory in one transaction: the marks are read (on PostgreSQL locked,
   * so two readers do not store counts out of order), the pairs recounted from the verdicts and answers, their
   * stored counts replaced, and the marks seen removed — a mark raised since stays, for the next read.
   */
  private async recountStale(scope: TenantScope, advisoryId: string): Promise<void> {
    const k = this.db.kysely;
    const probe = await scope
      .filter(
        k.selectFrom('board_dirty').select('tenant_id').where('advisory_id', '=', advisoryId),
        'tenant_id',
      )
      .limit(1)
      .execute();
    if (!probe.length) return;
    await k.transaction().execute(async (trx) => {
      const q = scope
        .filter(
          trx
            .selectFrom('board_dirty')
            .select(['tenant_id', 'version'])
            .where('advisory_id', '=', advisoryId),
          'tenant_id',
        )
        .orderBy('tenant_id');
      const dirty = this.db.dialect === 'postgres' ? await q.forUpdate().execute() : await q.execute();
      if (!dirty.length) return;
      const tenants = dirty.map((d) => d.tenant_id);
      // Many stale tenants (after an advisory run): one pass over the advisory instead of a long IN list.
      const fresh = await this.recount(trx, scope, advisoryId, tenants.length > 200 ? undefined : tenants);
      const stale = new Set(tenants);
      for (let i = 0; i < tenants.length; i += 500)
        await trx
          .deleteFrom('board_counts')
          .where('advisory_id', '=', advisoryId)
          .where('tenant_id', 'in', tenants.slice(i, i + 500))
          .execute();
      const rows = [...fresh]
        .filter(([t]) => stale.has(t))
        .map(([tenant_id, c]) => ({ advisory_id: advisoryId, tenant_id, ...c }));
      for (let i = 0; i < rows.length; i += 500)
        await trx
          .insertInto('board_counts')
          .values(rows.slice(i, i + 500))
          .execute();
      for (let i = 0; i < dirty.length; i += 200) {
        const part = dirty.slice(i, i + 200);
        await trx
          .deleteFrom('board_dirty')
          .where('advisory_id', '=', advisoryId)
          .where((eb) =>
            eb.or(
              part.map((d) => eb.and([eb('tenant_id', '=', d.tenant_id), eb('version', '=', d.version)])),
            ),
          )
          .execute();
      }
    });
  }

  /** Counts per tenant recounted from the verdicts and current answers (all of the scope's tenants, or `among`). */
  private async recount(
    k: Executor,
    scope: TenantScope,
    advisoryId: string,
    among?: readonly string[],
  ): Promise<Map<string, BoardCounts>> {
    const res = await sql<Record<string, string | number>>`select x.tenant_id,
        count(*) as assets,
        sum(case when x.verdict = 'affected' then 1 else 0 end) as exposed,
        sum(case when coalesce(x.verdict, 'unknown') = 'unknown' then 1 else 0 end) as unknown_exposure,
        sum(case when x.verdict = 'affected' and x.shield = 'shielded' then 1 else 0 end) as shielded,
        sum(case when x.verdict = 'affected' and coalesce(x.shield, '') <> 'shielded' then 1 else 0 end) as unshielded,
        sum(case when x.compromise in ('compromised', 'exploitation_attempted') then 1 else 0 end) as compromised,
        sum(case when x.patch_state = 'patched' then 1 else 0 end) as patched,
        sum(case when x.compromise = 'clean' then 1 else 0 end) as clean,
        sum(case when coalesce(x.verdict, 'unknown') <> 'not_affected' and x.compromise is null then 1 else 0 end) as not_hunted
      from (${concerned(advisoryId, scope, undefined, among)}) x group by x.tenant_id`.execute(k);
    const out = new Map<string, BoardCounts>();
    for (const r of res.rows) {
      const counts = emptyCounts();
      for (const key of COUNT_KEYS) counts[key] = Number(r[key] ?? 0);
      out.set(String(r.tenant_id), counts);
    }
    return out;
  }

  /** A page of one tenant's concerned assets, worst first (rank, then id), after the keyset position `after`. */
  async boardAssets(
    scope: TenantScope,
    advisoryId: string,
    tenantId: string,
    q: { state?: AssetStateFilter; q?: string; limit: number; after?: { worst: number; id: string } },
  ): Promise<BoardRow[]> {
    const conditions: RawBuilder<unknown>[] = [];
    if (q.state) conditions.push(stateCondition(q.state));
    if (q.q) {
      conditions.push(
        sql`(${containsText(sql.ref('x.asset_id'), q.q)} or ${containsText(sql.ref('a.name'), q.q)})`,
      );
    }
    if (q.after)
      conditions.push(
        sql`(x.worst > ${q.after.worst} or (x.worst = ${q.after.worst} and x.asset_id > ${q.after.id}))`,
      );
    const where = conditions.length ? sql` where ${sql.join(conditions, sql` and `)}` : sql``;
    const res = await sql<BoardRow>`select x.*, a.name from (${concerned(advisoryId, scope, tenantId)}) x
      join assets a on a.tenant_id = x.tenant_id and a.id = x.asset_id${where}
      order by x.worst, x.asset_id limit ${q.limit}`.execute(this.db.kysely);
    return res.rows.map((r) => ({ ...r, worst: Number(r.worst) }));
  }

  /** One asset's rows for the given advisory, or for every advisory with a verdict or answers for it. */
  async assetRows(
    scope: TenantScope,
    tenantId: string,
    assetId: string,
    advisoryId?: string,
  ): Promise<(BoardRow & { advisory_id: string })[]> {
    scope.require(tenantId);
    const k = this.db.kysely;
    let advisories: string[];
    if (advisoryId !== undefined) advisories = [advisoryId];
    else {
      const [e, r] = await Promise.all([
        k
          .selectFrom('asset_exposure')
          .select('advisory_id')
          .where('tenant_id', '=', tenantId)
          .where('asset_id', '=', assetId)
          .execute(),
        k
          .selectFrom('asset_response')
          .select('advisory_id')
          .where('tenant_id', '=', tenantId)
          .where('asset_id', '=', assetId)
          .execute(),
      ]);
      advisories = [...new Set([...e, ...r].map((x) => x.advisory_id))].sort();
    }
    const out: (BoardRow & { advisory_id: string })[] = [];
    for (const advisory of advisories) {
      const res = await sql<BoardRow>`select x.*, a.name from (${concerned(advisory, scope, tenantId)}) x
        join assets a on a.tenant_id = x.tenant_id and a.id = x.asset_id where x.asset_id = ${assetId}`.execute(
        k,
      );
      const row = res.rows[0];
      if (row) out.push({ ...row, worst: Number(row.worst), advisory_id: advisory });
    }
    return out;
  }

  /** Observations by key (tenant, asset, advisory, id): the ones current answers point to. */
  async observationsByIds(
    scope: TenantScope,
    tenantId: string,
    advisoryId: string,
    keys: readonly { assetId: string; id: string }[],
  ): Promise<Map<string, ObservationTable>> {
    scope.require(tenantId);
    const out = new Map<string, ObservationTable>();
    if (!keys.length) return out;
    const rows = await this.db.kysely
      .selectFrom('observations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('advisory_id', '=', advisoryId)
      .where('asset_id', 'in', [...new Set(keys.map((k) => k.assetId))])
      .where(
        'id',
        'in',
        keys.map((k) => k.id),
      )
      .execute();
    for (const r of rows) out.set(r.id, r);
    return out;
  }

  /** An asset's observations for an advisory, newest first (observed_at, then id). */
  async history(
    scope: TenantScope,
    tenantId: string,
    assetId: string,
    advisoryId: string,
    limit: number,
  ): Promise<ObservationTable[]> {
    scope.require(tenantId);
    return this.db.kysely
      .selectFrom('observations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .where('advisory_id', '=', advisoryId)
      .orderBy('observed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }
}
