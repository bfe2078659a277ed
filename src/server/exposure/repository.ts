/** Exposure reads: the per-tenant counters, an asset's verdicts and the evaluation runs, through the TenantScope. */
import type { Counts, ExposureRun } from '../../api/index.js';
import type { Db } from '../db/connect.js';
import type { FindingTable } from '../db/schema.js';
import { toFinding } from '../findings/repository.js';
import type { TenantScope } from '../scope.js';
import { CAUTION } from './writer.js';

const emptyCounts = (): Counts => ({ affected: 0, unknown: 0, fixed: 0, not_affected: 0 });

export class ExposureRepository {
  constructor(private readonly db: Db) {}

  /** Assets by verdict for one advisory over the scope, in total and per tenant (most affected first). */
  async advisoryCounts(scope: TenantScope, advisoryId: string) {
    const q = this.db.kysely
      .selectFrom('exposure_counts')
      .select(['tenant_id', 'verdict', 'assets'])
      .where('advisory_id', '=', advisoryId)
      .where('assets', '>', 0);
    const rows = await scope.filter(q, 'tenant_id').orderBy('tenant_id').execute();
    const totals = emptyCounts();
    const byTenant = new Map<string, Counts>();
    for (const r of rows) {
      const verdict = r.verdict as keyof Counts;
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

  /** Assets by verdict for every advisory that touches the tenant (most affected first). */
  async tenantCounts(scope: TenantScope, tenantId: string) {
    scope.require(tenantId);
    const rows = await this.db.kysely
      .selectFrom('exposure_counts')
      .select(['advisory_id', 'verdict', 'assets'])
      .where('tenant_id', '=', tenantId)
      .where('assets', '>', 0)
      .execute();
    const byAdvisory = new Map<string, Counts>();
    for (const r of rows) {
      let counts = byAdvisory.get(r.advisory_id);
      if (!counts) {
        counts = emptyCounts();
        byAdvisory.set(r.advisory_id, counts);
      }
      if (r.verdict in counts) counts[r.verdict as keyof Counts] += Number(r.assets);
    }
    return {
      tenant: tenantId,
      advisories: [...byAdvisory]
        .map(([advisory, counts]) => ({ advisory, counts }))
        .sort((a, b) => b.counts.affected - a.counts.affected || a.advisory.localeCompare(b.advisory)),
    };
  }

  /** An asset's verdict per advisory (most cautious first) and its findings. */
  async assetExposure(scope: TenantScope, tenantId: string, assetId: string) {
    scope.require(tenantId);
    const k = this.db.kysely;
    const advisories = await k
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
    const findings: FindingTable[] = await k
      .selectFrom('findings')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('asset_id', '=', assetId)
      .orderBy('cve')
      .execute();
    return { tenant: tenantId, asset: assetId, advisories, findings: findings.map(toFinding) };
  }

  /** Recent evaluation runs, newest first. Runs count assets over every tenant: all-tenant scopes only. */
  async runs(scope: TenantScope, limit: number): Promise<ExposureRun[]> {
    scope.requireAll('evaluation runs cover every tenant; operators only');
    const rows = await this.db.kysely
      .selectFrom('exposure_runs')
      .selectAll()
      .orderBy('started_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(({ advisory_ids, ...r }) => ({
      ...r,
      advisories: JSON.parse(advisory_ids) as string[],
    }));
  }
}
