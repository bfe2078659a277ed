/**
 * Tenant and site use cases: each change with its audit record and its `tenant.changed` event in one transaction.
 */
import type { Page, Site, Tenant, TenantListQuery } from '../../api/index.js';
import { appendAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import type { Db } from '../db/connect.js';
import { badRequest, conflict } from '../errors.js';
import { publishEvent } from '../events/index.js';
import type { ExposureService } from '../exposure/service.js';
import { checkId } from '../ids.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from './repository.js';

export class TenantService {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly exposure: ExposureService,
  ) {}

  list(scope: TenantScope, q: TenantListQuery): Promise<Page<Tenant>> {
    return this.tenants.list(scope, q);
  }

  get(scope: TenantScope, id: string): Promise<Tenant> {
    return this.tenants.require(scope, id);
  }

  async create(scope: TenantScope, input: { id: string; name: string }, actor: Actor): Promise<Tenant> {
    scope.requireAll('creating a tenant needs an operator account that sees every tenant');
    checkId('id', input.id);
    const row = { id: input.id, name: input.name, created_at: new Date().toISOString() };
    return this.db.kysely.transaction().execute(async (trx) => {
      if (await this.tenants.exists(scope, trx, input.id))
        throw conflict(`tenant ${input.id} already exists`);
      await this.tenants.insert(scope, trx, row);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: row.id,
        action: 'tenant.create',
        target: `tenant:${row.id}`,
        detail: { name: row.name },
      });
      await publishEvent(trx, {
        type: 'tenant.changed',
        tenantId: row.id,
        subject: `tenant:${row.id}`,
        data: { action: 'created' },
      });
      return row;
    });
  }

  async rename(scope: TenantScope, id: string, input: { name: string }, actor: Actor): Promise<Tenant> {
    const tenant = await this.tenants.require(scope, id);
    return this.db.kysely.transaction().execute(async (trx) => {
      await this.tenants.rename(scope, trx, id, input.name);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: id,
        action: 'tenant.update',
        target: `tenant:${id}`,
        detail: { from: tenant.name, to: input.name },
      });
      await publishEvent(trx, {
        type: 'tenant.changed',
        tenantId: id,
        subject: `tenant:${id}`,
        data: { action: 'updated' },
      });
      return { ...tenant, name: input.name };
    });
  }

  /**
   * Deletes a tenant with its sites, assets, findings and history. `confirm` must repeat the tenant id, so a
   * mistyped or replayed URL deletes nothing.
   */
  async delete(scope: TenantScope, id: string, confirm: string | undefined, actor: Actor): Promise<void> {
    if (confirm !== id) {
      await this.tenants.require(scope, id);
      throw badRequest(
        `confirm: deleting tenant ${id} removes its sites, assets, findings and history for good; ` +
          `repeat its id to confirm: DELETE /api/v1/tenants/${id}?confirm=${id}`,
      );
    }
    scope.requireAll('deleting a tenant needs an operator account that sees every tenant');
    await this.tenants.require(scope, id);
    await this.db.kysely.transaction().execute(async (trx) => {
      // The tenant's asset rows first (key order), then counters: the lock order every writer uses.
      const assetIds = await this.tenants.assetIds(scope, trx, id);
      await this.exposure.bulk.lockAssets(
        trx,
        assetIds.map((a) => [id, a] as const),
      );
      await this.tenants.remove(scope, trx, id);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: id,
        action: 'tenant.delete',
        target: `tenant:${id}`,
      });
      await publishEvent(trx, {
        type: 'tenant.changed',
        tenantId: id,
        subject: `tenant:${id}`,
        data: { action: 'deleted' },
      });
    });
  }

  listSites(scope: TenantScope, tenantId: string): Promise<Site[]> {
    return this.tenants.listSites(scope, tenantId);
  }

  async createSite(
    scope: TenantScope,
    tenantId: string,
    input: { id: string; name: string },
    actor: Actor,
  ): Promise<Site> {
    await this.tenants.require(scope, tenantId);
    checkId('id', input.id);
    const row = { tenant_id: tenantId, id: input.id, name: input.name, created_at: new Date().toISOString() };
    return this.db.kysely.transaction().execute(async (trx) => {
      if (await this.tenants.siteExists(scope, trx, tenantId, input.id)) {
        throw conflict(`site ${input.id} already exists in tenant ${tenantId}`);
      }
      await this.tenants.insertSite(scope, trx, row);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'site.create',
        target: `site:${tenantId}/${input.id}`,
        detail: { name: input.name },
      });
      // A new site is a change of its tenant.
      await publishEvent(trx, {
        type: 'tenant.changed',
        tenantId,
        subject: `site:${tenantId}/${input.id}`,
        data: { action: 'updated' },
      });
      return row;
    });
  }
}
