/**
 * The data-access layer for customer data. A ScopedData is built per request from the principal's tenant scope;
 * every query on customer data goes through it and is filtered by that scope here, in one place, so no route can
 * forget. A tenant outside the scope reads exactly like one that does not exist (404), so ids do not leak.
 */
import { type AssetFacts, assetFactsSchema, formatPath } from '../../core/index.js';
import { appendAudit } from '../audit.js';
import { inScope, type TenantScope } from '../auth/principal.js';
import type { Db } from '../db/connect.js';
import type { Database, FindingTable } from '../db/schema.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import { assetProducts, canonicalHash, type FleetExposure } from '../exposure/service.js';
import { CAUTION } from '../exposure/writer.js';
import { mergeObserved } from './observed.js';
import { type Page, type PageQuery, pageBounds, sortOrder } from './page.js';

export const VERDICTS = ['affected', 'unknown', 'fixed', 'not_affected'] as const;
export const FINDING_STATUSES = ['open', 'acknowledged', 'accepted_risk'] as const;

export interface Tenant {
  id: string;
  name: string;
  created_at: string;
}

export interface Site {
  tenant_id: string;
  id: string;
  name: string;
  created_at: string;
}

export interface AssetSummary {
  tenant_id: string;
  id: string;
  site_id: string | null;
  name: string | null;
  source: string;
  created_at: string;
  updated_at: string;
}

export interface Asset extends AssetSummary {
  facts: AssetFacts;
}

export interface Finding {
  tenant_id: string;
  asset_id: string;
  cve: string;
  advisory_id: string;
  product: string;
  version: string;
  verdict: string;
  provenance: { advisory: string; rule: string; fact: string; comparison: string };
  fixes: string[];
  status: string;
  first_seen: string;
  updated_at: string;
}

export type VerdictCounts = Record<(typeof VERDICTS)[number], number>;

export interface PutAssetResult {
  id: string;
  outcome: 'created' | 'updated' | 'unchanged';
}

/** Ids for tenants, sites and assets: safe in URLs and file names, never ambiguous. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const ID_RE = new RegExp(ID_PATTERN);

export const MAX_ASSETS_PER_PUSH = 1000;

const emptyCounts = (): VerdictCounts => ({ affected: 0, unknown: 0, fixed: 0, not_affected: 0 });

function toFinding(r: Omit<FindingTable, 'events'>): Finding {
  return {
    tenant_id: r.tenant_id,
    asset_id: r.asset_id,
    cve: r.cve,
    advisory_id: r.advisory_id,
    product: r.product,
    version: r.version,
    verdict: r.verdict,
    provenance: { advisory: r.advisory_id, rule: r.rule, fact: r.fact, comparison: r.comparison },
    fixes: JSON.parse(r.fixes) as string[],
    status: r.status,
    first_seen: r.first_seen,
    updated_at: r.updated_at,
  };
}

export interface Actor {
  /** As it appears in the audit log and finding history. */
  name: string;
}

export class ScopedData {
  constructor(
    private readonly db: Db,
    readonly scope: TenantScope,
    private readonly fleet: FleetExposure,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  /** The tenant, if the scope sees it; otherwise 404 whether or not it exists. */
  async requireTenant(id: string): Promise<Tenant> {
    if (!inScope(this.scope, id)) throw notFound(`tenant ${id}`);
    const row = await this.k.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`tenant ${id}`);
    return row;
  }

  private requireAllTenants(what: string): void {
    if (!this.scope.all) throw forbidden(`${what} needs an operator account that sees every tenant`);
  }

  // Tenants

  async listTenants(q: PageQuery & { q?: string }): Promise<Page<Tenant>> {
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(q.sort, ['id', 'name', 'created_at'] as const, 'id');
    let base = this.k.selectFrom('tenants');
    if (!this.scope.all) base = base.where('id', '=', this.scope.tenantId);
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

  async createTenant(input: { id: string; name: string }, actor: Actor): Promise<Tenant> {
    this.requireAllTenants('creating a tenant');
    if (!ID_RE.test(input.id)) throw badRequest(`id: "${input.id}" must match ${ID_PATTERN}`);
    const row = { id: input.id, name: input.name, created_at: new Date().toISOString() };
    return this.k.transaction().execute(async (trx) => {
      const exists = await trx
        .selectFrom('tenants')
        .select('id')
        .where('id', '=', input.id)
        .executeTakeFirst();
      if (exists) throw conflict(`tenant ${input.id} already exists`);
      await trx.insertInto('tenants').values(row).execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: row.id,
        action: 'tenant.create',
        target: `tenant:${row.id}`,
        detail: { name: row.name },
      });
      return row;
    });
  }

  async updateTenant(id: string, input: { name: string }, actor: Actor): Promise<Tenant> {
    const tenant = await this.requireTenant(id);
    return this.k.transaction().execute(async (trx) => {
      await trx.updateTable('tenants').set({ name: input.name }).where('id', '=', id).execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: id,
        action: 'tenant.update',
        target: `tenant:${id}`,
        detail: { from: tenant.name, to: input.name },
      });
      return { ...tenant, name: input.name };
    });
  }

  async deleteTenant(id: string, actor: Actor): Promise<void> {
    this.requireAllTenants('deleting a tenant');
    await this.requireTenant(id);
    await this.k.transaction().execute(async (trx) => {
      // The tenant's asset rows first (key order), then counters: the lock order every writer uses.
      const assetIds = await trx
        .selectFrom('assets')
        .select('id')
        .where('tenant_id', '=', id)
        .orderBy('id')
        .execute();
      await this.fleet.bulk.lockAssets(
        trx,
        assetIds.map((a) => [id, a.id] as const),
      );
      // Children first: SQLite and PostgreSQL cascade alike, but the exposure counters are not keyed to assets.
      await trx.deleteFrom('exposure_counts').where('tenant_id', '=', id).execute();
      await trx.deleteFrom('tenants').where('id', '=', id).execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: id,
        action: 'tenant.delete',
        target: `tenant:${id}`,
      });
    });
  }

  // Sites

  async listSites(tenantId: string): Promise<Site[]> {
    await this.requireTenant(tenantId);
    return this.k.selectFrom('sites').selectAll().where('tenant_id', '=', tenantId).orderBy('id').execute();
  }

  async createSite(tenantId: string, input: { id: string; name: string }, actor: Actor): Promise<Site> {
    await this.requireTenant(tenantId);
    if (!ID_RE.test(input.id)) throw badRequest(`id: "${input.id}" must match ${ID_PATTERN}`);
    const row = { tenant_id: tenantId, id: input.id, name: input.name, created_at: new Date().toISOString() };
    return this.k.transaction().execute(async (trx) => {
      const exists = await trx
        .selectFrom('sites')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', input.id)
        .executeTakeFirst();
      if (exists) throw conflict(`site ${input.id} already exists in tenant ${tenantId}`);
      await trx.insertInto('sites').values(row).execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'site.create',
        target: `site:${tenantId}/${input.id}`,
        detail: { name: input.name },
      });
      return row;
    });
  }

  // Assets

  async listAssets(
    tenantId: string,
    q: PageQuery & { q?: string; product?: string; site?: string; verdict?: string; advisory?: string },
  ): Promise<Page<AssetSummary>> {
    await this.requireTenant(tenantId);
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(q.sort, ['id', 'name', 'created_at', 'updated_at'] as const, 'id');
    let base = this.k.selectFrom('assets as a').where('a.tenant_id', '=', tenantId);
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

  async getAsset(tenantId: string, id: string): Promise<Asset> {
    await this.requireTenant(tenantId);
    const row = await this.k
      .selectFrom('assets')
      .select(['tenant_id', 'id', 'site_id', 'name', 'source', 'created_at', 'updated_at', 'facts'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound(`asset ${id} in tenant ${tenantId}`);
    return { ...row, facts: JSON.parse(row.facts) as AssetFacts };
  }

  /**
   * Registers or updates assets from their facts (one, or a pushed batch) and re-judges exactly the assets whose
   * facts changed, in one transaction with the audit record.
   */
  async putAssets(
    tenantId: string,
    inputs: unknown[],
    /** `merge`: the facts are observations of existing assets, merged into their stored facts (data/observed.ts). */
    options: { source: string; site?: string | null; merge?: boolean },
    actor: Actor,
  ): Promise<{ results: PutAssetResult[]; findings_written: number }> {
    await this.requireTenant(tenantId);
    if (inputs.length > MAX_ASSETS_PER_PUSH) {
      throw badRequest(`assets: at most ${MAX_ASSETS_PER_PUSH} per request; split the push`);
    }
    const facts: AssetFacts[] = [];
    const ids = new Set<string>();
    inputs.forEach((input, i) => {
      const parsed = assetFactsSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw badRequest(`assets[${i}].${formatPath(issue.path as (string | number)[])}: ${issue.message}`, {
          index: i,
          path: issue.path,
        });
      }
      const f = parsed.data;
      if (!ID_RE.test(f.id)) throw badRequest(`assets[${i}].id: "${f.id}" must match ${ID_PATTERN}`);
      if (f.tenant !== undefined && f.tenant !== tenantId) {
        throw badRequest(
          `assets[${i}].tenant: "${f.tenant}" does not match the tenant in the URL (${tenantId})`,
        );
      }
      if (ids.has(f.id)) throw badRequest(`assets[${i}].id: "${f.id}" appears twice in this push`);
      ids.add(f.id);
      facts.push({ ...f, tenant: tenantId });
    });
    if (options.site) {
      const site = await this.k
        .selectFrom('sites')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', options.site)
        .executeTakeFirst();
      if (!site)
        throw badRequest(`site: ${options.site} does not exist in tenant ${tenantId}; create it first`);
    }
    const at = new Date().toISOString();
    return this.fleet.withEngine((judge) =>
      this.k.transaction().execute(async (trx) => {
        // PostgreSQL: lock the pushed assets that exist (in key order, as every writer does) before reading their
        // hashes, so concurrent pushes of one asset apply one after the other, last writer wins.
        const sortedIds = [...ids].sort();
        await this.fleet.bulk.lockAssets(
          trx,
          sortedIds.map((id) => [tenantId, id] as const),
        );
        const existing = new Map<string, string>();
        const idList = [...ids];
        for (let i = 0; i < idList.length; i += 400) {
          const rows = await trx
            .selectFrom('assets')
            .select(['id', 'facts_hash'])
            .where('tenant_id', '=', tenantId)
            .where('id', 'in', idList.slice(i, i + 400))
            .execute();
          for (const r of rows) existing.set(r.id, r.facts_hash);
        }
        // Observations: read the stored facts (under the lock taken above) and merge into them; the asset keeps
        // the source that registered it.
        const storedSource = new Map<string, string>();
        if (options.merge) {
          for (let i = 0; i < facts.length; i += 400) {
            const rows = await trx
              .selectFrom('assets')
              .select(['id', 'facts', 'source'])
              .where('tenant_id', '=', tenantId)
              .where(
                'id',
                'in',
                facts.slice(i, i + 400).map((f) => f.id),
              )
              .execute();
            const byId = new Map(rows.map((r) => [r.id, r]));
            for (let k = i; k < Math.min(i + 400, facts.length); k++) {
              const row = byId.get(facts[k]!.id);
              if (!row) continue;
              facts[k] = mergeObserved(JSON.parse(row.facts) as AssetFacts, facts[k]!, options.source);
              storedSource.set(row.id, row.source);
            }
          }
        }
        const results: PutAssetResult[] = [];
        const changed: AssetFacts[] = [];
        const rows: Database['assets'][] = [];
        const products: Database['asset_products'][] = [];
        for (const f of facts) {
          const hash = canonicalHash(f);
          const old = existing.get(f.id);
          if (old === hash && options.site === undefined) {
            results.push({ id: f.id, outcome: 'unchanged' });
            continue;
          }
          rows.push({
            tenant_id: tenantId,
            id: f.id,
            site_id: options.site ?? null,
            name: f.name ?? null,
            facts: JSON.stringify(f),
            facts_hash: hash,
            source: storedSource.get(f.id) ?? options.source,
            created_at: at,
            updated_at: at,
          });
          if (old !== hash) {
            changed.push(f);
            for (const product of assetProducts(f))
              products.push({ tenant_id: tenantId, asset_id: f.id, product });
          }
          results.push({ id: f.id, outcome: old === undefined ? 'created' : 'updated' });
        }
        // In bulk: one prepared statement (SQLite) or one UNNEST per 5,000 rows (PostgreSQL), not a round trip per
        // asset. created_at stays as first stored; the site changes only when the push names one. Key order, so row
        // locks are always taken in the same order (no deadlocks between concurrent writers).
        rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        await this.fleet.bulk.upsert(
          trx,
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
            replace: [
              'name',
              'facts',
              'facts_hash',
              'source',
              'updated_at',
              ...(options.site !== undefined ? ['site_id'] : []),
            ],
          },
          rows,
        );
        const changedIds = changed.map((f) => f.id);
        for (let i = 0; i < changedIds.length; i += 400) {
          await trx
            .deleteFrom('asset_products')
            .where('tenant_id', '=', tenantId)
            .where('asset_id', 'in', changedIds.slice(i, i + 400))
            .execute();
        }
        await this.fleet.bulk.upsert(
          trx,
          { table: 'asset_products', columns: ['tenant_id', 'asset_id', 'product'] },
          products,
        );
        const stats = await judge(
          trx,
          changed.map((f) => ({ tenantId, assetId: f.id, facts: f })),
          { at, reason: 'facts updated', actor: actor.name },
        );
        if (changed.length || options.site !== undefined) {
          await appendAudit(trx, this.db.dialect, {
            actor: actor.name,
            tenantId,
            action: 'assets.put',
            target: `tenant:${tenantId}`,
            detail: {
              source: options.source,
              ...(options.merge ? { merge: 'observed' } : {}),
              created: results.filter((r) => r.outcome === 'created').length,
              updated: results.filter((r) => r.outcome === 'updated').length,
              assets: changed.slice(0, 20).map((f) => f.id),
            },
          });
        }
        return { results, findings_written: stats.findings };
      }),
    );
  }

  async deleteAsset(tenantId: string, id: string, actor: Actor): Promise<void> {
    await this.getAsset(tenantId, id);
    await this.k.transaction().execute(async (trx) => {
      // Asset lock first, then counters: the order every writer uses.
      await this.fleet.bulk.lockAssets(trx, [[tenantId, id]]);
      const exposure = await trx
        .selectFrom('asset_exposure')
        .select(['advisory_id', 'verdict'])
        .where('tenant_id', '=', tenantId)
        .where('asset_id', '=', id)
        .orderBy('advisory_id')
        .orderBy('verdict')
        .execute();
      // Counter rows in key order, as the writer updates them.
      for (const e of exposure) {
        await trx
          .updateTable('exposure_counts')
          .set((eb) => ({ assets: eb('assets', '-', 1) }))
          .where('tenant_id', '=', tenantId)
          .where('advisory_id', '=', e.advisory_id)
          .where('verdict', '=', e.verdict)
          .execute();
      }
      await trx.deleteFrom('assets').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'asset.delete',
        target: `asset:${tenantId}/${id}`,
      });
    });
  }

  // Findings

  async listFindings(
    q: PageQuery & {
      tenant?: string;
      asset?: string;
      advisory?: string;
      cve?: string;
      verdict?: string;
      status?: string;
    },
  ): Promise<Page<Finding>> {
    if (q.tenant) await this.requireTenant(q.tenant);
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(
      q.sort,
      ['tenant_id', 'asset_id', 'cve', 'verdict', 'updated_at', 'first_seen'] as const,
      'tenant_id',
    );
    let base = this.k.selectFrom('findings');
    if (!this.scope.all) base = base.where('tenant_id', '=', this.scope.tenantId);
    if (q.tenant) base = base.where('tenant_id', '=', q.tenant);
    if (q.asset) base = base.where('asset_id', '=', q.asset);
    if (q.advisory) base = base.where('advisory_id', '=', q.advisory);
    if (q.cve) base = base.where('cve', '=', q.cve.toUpperCase());
    if (q.verdict) base = base.where('verdict', '=', q.verdict);
    if (q.status) base = base.where('status', '=', q.status);
    const rows = await base
      .selectAll()
      .orderBy(order.column, order.direction)
      .orderBy('tenant_id')
      .orderBy('asset_id')
      .orderBy('cve')
      .limit(limit)
      .offset(offset)
      .execute();
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { items: rows.map(toFinding), total: Number(total.n), limit, offset };
  }

  /**
   * A finding's history, oldest first: its first judgement (from the finding itself: first_seen and the verdict
   * before any change), then every stored verdict and status change.
   */
  async findingHistory(tenantId: string, assetId: string, cve: string) {
    await this.getAsset(tenantId, assetId);
    const upper = cve.toUpperCase();
    const finding = await this.k
      .selectFrom('findings')
      .select(['verdict', 'first_seen'])
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .where('cve', '=', upper)
      .executeTakeFirst();
    if (!finding) throw notFound(`finding ${upper} on asset ${assetId} in tenant ${tenantId}`);
    const events = await this.k
      .selectFrom('finding_events')
      .select(['seq', 'at', 'kind', 'from_value', 'to_value', 'reason', 'actor'])
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .where('cve', '=', upper)
      .orderBy('seq')
      .execute();
    const firstVerdict = events.find((e) => e.kind === 'verdict')?.from_value ?? finding.verdict;
    return [
      {
        seq: 0,
        at: finding.first_seen,
        kind: 'verdict',
        from_value: null,
        to_value: firstVerdict,
        reason: 'first judged',
        actor: 'system',
      },
      ...events,
    ];
  }

  async setFindingStatus(
    tenantId: string,
    assetId: string,
    cve: string,
    input: { status: string; reason: string },
    actor: Actor,
  ): Promise<Finding> {
    await this.requireTenant(tenantId);
    const upper = cve.toUpperCase();
    return this.k.transaction().execute(async (trx) => {
      // The asset's row lock orders this against recomputations of the same asset (event numbers stay unique).
      await this.fleet.bulk.lockAssets(trx, [[tenantId, assetId]]);
      const row = await trx
        .selectFrom('findings')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('asset_id', '=', assetId)
        .where('cve', '=', upper)
        .executeTakeFirst();
      if (!row) throw notFound(`finding ${upper} on asset ${assetId} in tenant ${tenantId}`);
      if (row.status === input.status) return toFinding(row);
      const at = new Date().toISOString();
      const seq = row.events + 1;
      await trx
        .updateTable('findings')
        .set({ status: input.status, events: seq, updated_at: at })
        .where('tenant_id', '=', tenantId)
        .where('asset_id', '=', assetId)
        .where('cve', '=', upper)
        .execute();
      await trx
        .insertInto('finding_events')
        .values({
          tenant_id: tenantId,
          asset_id: assetId,
          cve: upper,
          seq,
          at,
          kind: 'status',
          from_value: row.status,
          to_value: input.status,
          reason: input.reason,
          actor: actor.name,
        })
        .execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'finding.status',
        target: `finding:${tenantId}/${assetId}/${upper}`,
        detail: { from: row.status, to: input.status, reason: input.reason },
      });
      return toFinding({ ...row, status: input.status, updated_at: at });
    });
  }

  // Exposure

  /** Per advisory: assets by verdict over the scope, and per tenant. */
  async advisoryExposure(advisoryId: string): Promise<{
    advisory: string;
    totals: VerdictCounts;
    tenants: { tenant: string; counts: VerdictCounts }[];
  }> {
    if (!this.fleet.advisory(advisoryId)) throw notFound(`advisory ${advisoryId}`);
    let q = this.k
      .selectFrom('exposure_counts')
      .select(['tenant_id', 'verdict', 'assets'])
      .where('advisory_id', '=', advisoryId)
      .where('assets', '>', 0);
    if (!this.scope.all) q = q.where('tenant_id', '=', this.scope.tenantId);
    const rows = await q.orderBy('tenant_id').execute();
    const totals = emptyCounts();
    const byTenant = new Map<string, VerdictCounts>();
    for (const r of rows) {
      const verdict = r.verdict as keyof VerdictCounts;
      if (!(verdict in totals)) continue;
      totals[verdict] += Number(r.assets);
      let counts = byTenant.get(r.tenant_id);
      if (!counts) {
        counts = emptyCounts();
        byTenant.set(r.tenant_id, counts);
      }
      counts[verdict] += Number(r.assets);
    }
    const tenants = [...byTenant]
      .map(([tenant, counts]) => ({ tenant, counts }))
      .sort((a, b) => b.counts.affected - a.counts.affected || a.tenant.localeCompare(b.tenant));
    return { advisory: advisoryId, totals, tenants };
  }

  /** Per tenant: assets by verdict for every advisory that touches it. */
  async tenantExposure(
    tenantId: string,
  ): Promise<{ tenant: string; advisories: { advisory: string; counts: VerdictCounts }[] }> {
    await this.requireTenant(tenantId);
    const rows = await this.k
      .selectFrom('exposure_counts')
      .select(['advisory_id', 'verdict', 'assets'])
      .where('tenant_id', '=', tenantId)
      .where('assets', '>', 0)
      .execute();
    const byAdvisory = new Map<string, VerdictCounts>();
    for (const r of rows) {
      let counts = byAdvisory.get(r.advisory_id);
      if (!counts) {
        counts = emptyCounts();
        byAdvisory.set(r.advisory_id, counts);
      }
      if (r.verdict in counts) counts[r.verdict as keyof VerdictCounts] += Number(r.assets);
    }
    return {
      tenant: tenantId,
      advisories: [...byAdvisory]
        .map(([advisory, counts]) => ({ advisory, counts }))
        .sort((a, b) => b.counts.affected - a.counts.affected || a.advisory.localeCompare(b.advisory)),
    };
  }

  /** Per asset: the verdict per advisory and its findings. */
  async assetExposure(tenantId: string, assetId: string) {
    await this.getAsset(tenantId, assetId);
    const advisories = await this.k
      .selectFrom('asset_exposure')
      .select(['advisory_id', 'verdict', 'updated_at'])
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .execute();
    advisories.sort(
      (a, b) =>
        CAUTION[b.verdict as keyof typeof CAUTION] - CAUTION[a.verdict as keyof typeof CAUTION] ||
        a.advisory_id.localeCompare(b.advisory_id),
    );
    const findings = await this.k
      .selectFrom('findings')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .orderBy('cve')
      .execute();
    return { tenant: tenantId, asset: assetId, advisories, findings: findings.map(toFinding) };
  }
}
