/** Asset queries and writes; every one goes through the caller's TenantScope. */
import { sql, type Transaction } from 'kysely';
import type { Asset, AssetListQuery, AssetSummary, CursorPage } from '../../api/index.js';
import type { AssetFacts } from '../../core/index.js';
import { keysetPage } from '../data/cursor.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { BulkWriter } from '../db/bulk.js';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';
import { notFound } from '../errors.js';
import { markBoardDirty } from '../response/dirty.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';

export class AssetRepository {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly bulk: BulkWriter,
  ) {}

  /**
   * A page of the tenant's assets, by keyset (`q.cursor`) or offset. The sort key is the sort column then the id
   * (a missing name sorts as ''), both in the sort's direction; sort=id, the default, reads the (tenant_id, id)
   * key from the cursor on.
   */
  async list(scope: TenantScope, tenantId: string, q: AssetListQuery): Promise<CursorPage<AssetSummary>> {
    await this.tenants.require(scope, tenantId);
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(q.sort, ['id', 'name', 'created_at', 'updated_at'] as const, 'id');
    let base = this.db.kysely.selectFrom('assets as a').where('a.tenant_id', '=', tenantId);
    if (q.q) {
      const like = `%${q.q.toLowerCase()}%`;
      base = base.where((eb) =>
        eb.or([eb(eb.fn('lower', ['a.id']), 'like', like), eb(eb.fn('lower', ['a.name']), 'like', like)]),
      );
    }
    if (q.site) base = base.where('a.site_id', '=', q.site);
    if (q.product) {
      const product = q.product;
      base = base.where((eb) =>
        eb.exists(
          eb
            .selectFrom('asset_products as p')
            .select('p.product')
            .whereRef('p.tenant_id', '=', 'a.tenant_id')
            .whereRef('p.asset_id', '=', 'a.id')
            .where('p.product', '=', product),
        ),
      );
    }
    if (q.verdict || q.advisory) {
      const { verdict, advisory } = q;
      base = base.where((eb) =>
        eb.exists(
          eb
            .selectFrom('asset_exposure as x')
            .select('x.verdict')
            .whereRef('x.tenant_id', '=', 'a.tenant_id')
            .whereRef('x.asset_id', '=', 'a.id')
            .$if(!!advisory, (qb) => qb.where('x.advisory_id', '=', advisory!))
            .$if(!!verdict, (qb) => qb.where('x.verdict', '=', verdict!)),
        ),
      );
    }
    const column = order.column;
    const keys =
      column === 'id'
        ? [sql.ref('a.id')]
        : [column === 'name' ? sql`coalesce(a.name, '')` : sql.ref(`a.${column}`), sql.ref('a.id')];
    const page = await keysetPage({
      scope: {
        sort: `${order.direction === 'desc' ? '-' : ''}${column}`,
        filters: {
          tenant: tenantId,
          q: q.q,
          site: q.site,
          product: q.product,
          advisory: q.advisory,
          verdict: q.verdict,
        },
        keyTypes: column === 'id' ? ['string'] : ['string', 'string'],
      },
      cursor: q.cursor,
      offset,
      limit,
      direction: order.direction,
      keys,
      keyOf: (r: AssetSummary) =>
        column === 'id' ? [r.id] : [(column === 'name' ? r.name : r[column]) ?? '', r.id],
      fetch: (where, direction, n, skip) => {
        let query = base.select([
          'a.tenant_id',
          'a.id',
          'a.site_id',
          'a.name',
          'a.source',
          'a.created_at',
          'a.updated_at',
        ]);
        if (where) query = query.where(where);
        for (const k of keys) query = query.orderBy(k, direction);
        return query.limit(n).offset(skip).execute();
      },
    });
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return {
      items: page.rows,
      total: Number(total.n),
      limit,
      offset: q.cursor ? 0 : offset,
      next_cursor: page.next_cursor,
      prev_cursor: page.prev_cursor,
    };
  }

  /** The asset with its facts; 404 when it or its tenant does not exist or is outside the scope. */
  async require(scope: TenantScope, tenantId: string, id: string): Promise<Asset> {
    await this.tenants.require(scope, tenantId);
    const row = await this.db.kysely
      .selectFrom('assets')
      .select(['tenant_id', 'id', 'site_id', 'name', 'source', 'created_at', 'updated_at', 'facts'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound(`asset ${id} in tenant ${tenantId}`);
    return { ...row, facts: JSON.parse(row.facts) as AssetFacts };
  }

  /**
   * Locks the assets that exist (PostgreSQL row locks, in key order as every writer takes them), so concurrent
   * writes of one asset apply one after the other.
   */
  async lock(scope: TenantScope, k: Transaction<Database>, tenantId: string, ids: string[]): Promise<void> {
    scope.require(tenantId);
    await this.bulk.lockAssets(
      k,
      [...ids].sort().map((id) => [tenantId, id] as const),
    );
  }

  /**
   * What is stored of the given assets that exist: the facts hash and, with `facts`, the facts and source. On
   * PostgreSQL the rows are locked in key order in the same statement (as every writer takes them), so concurrent
   * writes of one asset apply one after the other, each reading what the one before committed.
   */
  async current(
    scope: TenantScope,
    k: Transaction<Database>,
    tenantId: string,
    ids: string[],
    options: { facts: boolean },
  ): Promise<Map<string, { hash: string; facts?: AssetFacts; source?: string }>> {
    scope.require(tenantId);
    const columns = ['tenant_id', 'id', 'facts_hash', ...(options.facts ? ['facts', 'source'] : [])];
    const rows = await this.bulk.selectByAssets<{
      id: string;
      facts_hash: string;
      facts?: string;
      source?: string;
    }>(
      k,
      'assets',
      'id',
      columns,
      [...ids].sort().map((id) => [tenantId, id] as const),
      true,
    );
    const out = new Map<string, { hash: string; facts?: AssetFacts; source?: string }>();
    for (const r of rows) {
      out.set(r.id, {
        hash: r.facts_hash,
        ...(r.facts !== undefined ? { facts: JSON.parse(r.facts) as AssetFacts, source: r.source! } : {}),
      });
    }
    return out;
  }

  /**
   * Queues asset rows on the transaction's write batch. created_at stays as first stored; the site changes only
   * when `withSite`. Rows go in key order, so row locks are always taken in the same order (no deadlocks between
   * concurrent writers).
   */
  queueUpsert(
    scope: TenantScope,
    batch: WriteBatch,
    tenantId: string,
    rows: Database['assets'][],
    withSite: boolean,
  ): void {
    scope.require(tenantId);
    if (rows.some((r) => r.tenant_id !== tenantId)) throw new Error('asset rows of another tenant');
    rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    batch.upsert(
      {
        table: 'assets',
        columns: [
          'tenant_id',
          'id',
          'site_id',
          'name',
          'facts',
          'facts_hash',
          'source',
          'created_at',
          'updated_at',
        ],
        key: ['tenant_id', 'id'],
        replace: ['name', 'facts', 'facts_hash', 'source', 'updated_at', ...(withSite ? ['site_id'] : [])],
      },
      rows,
    );
  }

  /** Queues the product index (asset_products) of the given assets to become `products`. */
  queueProducts(
    scope: TenantScope,
    batch: WriteBatch,
    tenantId: string,
    assetIds: string[],
    products: Database['asset_products'][],
  ): void {
    scope.require(tenantId);
    if (products.some((p) => p.tenant_id !== tenantId)) throw new Error('product rows of another tenant');
    batch.replace(
      { table: 'asset_products', columns: ['tenant_id', 'asset_id', 'product'] },
      assetIds.map((id) => [tenantId, id] as const),
      products,
    );
  }

  /** Deletes an asset (its findings cascade) and takes it out of the exposure counters. */
  async remove(scope: TenantScope, k: Transaction<Database>, tenantId: string, id: string): Promise<void> {
    scope.require(tenantId);
    const exposure = await k
      .selectFrom('asset_exposure')
      .select(['advisory_id', 'verdict'])
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', id)
      .orderBy('advisory_id')
      .orderBy('verdict')
      .execute();
    // Counter rows in key order, as the writer updates them.
    for (const e of exposure) {
      await k
        .updateTable('exposure_counts')
        .set((eb) => ({ assets: eb('assets', '-', 1) }))
        .where('tenant_id', '=', tenantId)
        .where('advisory_id', '=', e.advisory_id)
        .where('verdict', '=', e.verdict)
        .execute();
    }
    const responses = await k
      .selectFrom('asset_response')
      .select('advisory_id')
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', id)
      .execute();
    await markBoardDirty(
      k,
      [...exposure, ...responses].map((e) => ({ tenantId, advisoryId: e.advisory_id })),
    );
    await k.deleteFrom('assets').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }
}
