/** Asset queries and writes; every one goes through the caller's TenantScope. */
import type { Transaction } from 'kysely';
import type { Asset, AssetListQuery, AssetSummary, Page } from '../../api/index.js';
import type { AssetFacts } from '../../core/index.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { BulkWriter } from '../db/bulk.js';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';

/** Ids per IN (...) list: below SQLite's and PostgreSQL's parameter limits with room to spare. */
const IN_BATCH = 400;

export class AssetRepository {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly bulk: BulkWriter,
  ) {}

  async list(scope: TenantScope, tenantId: string, q: AssetListQuery): Promise<Page<AssetSummary>> {
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
    const items = await base
      .select(['a.tenant_id', 'a.id', 'a.site_id', 'a.name', 'a.source', 'a.created_at', 'a.updated_at'])
      .orderBy(`a.${order.column}`, order.direction)
      .orderBy('a.id')
      .limit(limit)
      .offset(offset)
      .execute();
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { items, total: Number(total.n), limit, offset };
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

  /** Stored facts hashes of the given assets that exist. */
  async hashes(
    scope: TenantScope,
    k: Transaction<Database>,
    tenantId: string,
    ids: string[],
  ): Promise<Map<string, string>> {
    scope.require(tenantId);
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += IN_BATCH) {
      const rows = await k
        .selectFrom('assets')
        .select(['id', 'facts_hash'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids.slice(i, i + IN_BATCH))
        .execute();
      for (const r of rows) out.set(r.id, r.facts_hash);
    }
    return out;
  }

  /** Stored facts and source of the given assets that exist. */
  async stored(
    scope: TenantScope,
    k: Transaction<Database>,
    tenantId: string,
    ids: string[],
  ): Promise<Map<string, { facts: AssetFacts; source: string }>> {
    scope.require(tenantId);
    const out = new Map<string, { facts: AssetFacts; source: string }>();
    for (let i = 0; i < ids.length; i += IN_BATCH) {
      const rows = await k
        .selectFrom('assets')
        .select(['id', 'facts', 'source'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids.slice(i, i + IN_BATCH))
        .execute();
      for (const r of rows) out.set(r.id, { facts: JSON.parse(r.facts) as AssetFacts, source: r.source });
    }
    return out;
  }

  /**
   * Writes asset rows in bulk: one prepared statement (SQLite) or one UNNEST per 5,000 rows (PostgreSQL), not a
   * round trip per asset. created_at stays as first stored; the site changes only when `withSite`. Rows go in key
   * order, so row locks are always taken in the same order (no deadlocks between concurrent writers).
   */
  async upsert(
    scope: TenantScope,
    k: Transaction<Database>,
    tenantId: string,
    rows: Database['assets'][],
    withSite: boolean,
  ): Promise<void> {
    scope.require(tenantId);
    if (rows.some((r) => r.tenant_id !== tenantId)) throw new Error('asset rows of another tenant');
    rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    await this.bulk.upsert(
      k,
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

  /** Replaces the product index (asset_products) of the given assets. */
  async replaceProducts(
    scope: TenantScope,
    k: Transaction<Database>,
    tenantId: string,
    assetIds: string[],
    products: Database['asset_products'][],
  ): Promise<void> {
    scope.require(tenantId);
    for (let i = 0; i < assetIds.length; i += IN_BATCH) {
      await k
        .deleteFrom('asset_products')
        .where('tenant_id', '=', tenantId)
        .where('asset_id', 'in', assetIds.slice(i, i + IN_BATCH))
        .execute();
    }
    await this.bulk.upsert(
      k,
      { table: 'asset_products', columns: ['tenant_id', 'asset_id', 'product'] },
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
    await k.deleteFrom('assets').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }
}
