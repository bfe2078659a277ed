/** Tenant and site queries; every one goes through the caller's TenantScope. */
import type { Kysely } from 'kysely';
import type { Page, Site, Tenant, TenantListQuery } from '../../api/index.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import type { TenantScope } from '../scope.js';

export class TenantRepository {
  constructor(private readonly db: Db) {}

  /** The tenant, if the scope sees it; otherwise 404 whether or not it exists. */
  async require(scope: TenantScope, id: string, k: Kysely<Database> = this.db.kysely): Promise<Tenant> {
    scope.require(id);
    const row = await k.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`tenant ${id}`);
    return row;
  }

  async list(scope: TenantScope, q: TenantListQuery): Promise<Page<Tenant>> {
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(q.sort, ['id', 'name', 'created_at'] as const, 'id');
    let base = scope.filter(this.db.kysely.selectFrom('tenants'), 'id');
    if (q.q) {
      const like = `%${q.q.toLowerCase()}%`;
      base = base.where((eb) =>
        eb.or([eb(eb.fn('lower', ['id']), 'like', like), eb(eb.fn('lower', ['name']), 'like', like)]),
      );
    }
    const items = await base
      .selectAll()
      .orderBy(order.column, order.direction)
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute();
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { items, total: Number(total.n), limit, offset };
  }

  /** Whether a tenant id is taken (in any scope: ids are installation-wide). */
  async exists(scope: TenantScope, k: Kysely<Database>, id: string): Promise<boolean> {
    scope.requireAll('creating a tenant needs an operator account that sees every tenant');
    return !!(await k.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst());
  }

  async insert(scope: TenantScope, k: Kysely<Database>, row: Tenant): Promise<void> {
    scope.requireAll('creating a tenant needs an operator account that sees every tenant');
    await k.insertInto('tenants').values(row).execute();
  }

  async rename(scope: TenantScope, k: Kysely<Database>, id: string, name: string): Promise<void> {
    scope.require(id);
    await k.updateTable('tenants').set({ name }).where('id', '=', id).execute();
  }

  /** The tenant's asset ids in key order (the order rows are locked in). */
  async assetIds(scope: TenantScope, k: Kysely<Database>, id: string): Promise<string[]> {
    scope.require(id);
    const rows = await k
      .selectFrom('assets')
      .select('id')
      .where('tenant_id', '=', id)
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  }

  async remove(scope: TenantScope, k: Kysely<Database>, id: string): Promise<void> {
    scope.requireAll('deleting a tenant needs an operator account that sees every tenant');
    // Children first: SQLite and PostgreSQL cascade alike, but the exposure counters are not keyed to assets.
    await k.deleteFrom('exposure_counts').where('tenant_id', '=', id).execute();
    await k.deleteFrom('tenants').where('id', '=', id).execute();
  }

  // Sites

  async listSites(scope: TenantScope, tenantId: string): Promise<Site[]> {
    await this.require(scope, tenantId);
    return this.db.kysely
      .selectFrom('sites')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
  }

  async siteExists(
    scope: TenantScope,
    k: Kysely<Database>,
    tenantId: string,
    siteId: string,
  ): Promise<boolean> {
    scope.require(tenantId);
    const row = await k
      .selectFrom('sites')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', siteId)
      .executeTakeFirst();
    return !!row;
  }

  async insertSite(scope: TenantScope, k: Kysely<Database>, row: Site): Promise<void> {
    scope.require(row.tenant_id);
    await k.insertInto('sites').values(row).execute();
  }
}
