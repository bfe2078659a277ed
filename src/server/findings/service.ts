/**
 * Finding use cases: listing, a finding's history, and workflow status changes with their audit record and their
 * `findings.changed` event.
 */
import type {
  Finding,
  FindingHistoryEntry,
  FindingListQuery,
  FindingStatusChange,
  Page,
} from '../../api/index.js';
import type { AssetRepository } from '../assets/repository.js';
import { appendAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import type { Db } from '../db/connect.js';
import { notFound } from '../errors.js';
import { publishEvent } from '../events/index.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import { type FindingRepository, toFinding } from './repository.js';

export class FindingService {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly assets: AssetRepository,
    private readonly findings: FindingRepository,
  ) {}

  async list(scope: TenantScope, q: FindingListQuery): Promise<Page<Finding>> {
    if (q.tenant) await this.tenants.require(scope, q.tenant);
    return this.findings.list(scope, q);
  }

  /**
   * A finding's history, oldest first: its first judgement (from the finding itself: first_seen and the verdict
   * before any change), then every stored verdict and status change.
   */
  async history(
    scope: TenantScope,
    tenantId: string,
    assetId: string,
    cve: string,
  ): Promise<FindingHistoryEntry[]> {
    await this.assets.require(scope, tenantId, assetId);
    const key = { tenantId, assetId, cve: cve.toUpperCase() };
    const finding = await this.findings.find(scope, key);
    if (!finding) throw notFound(`finding ${key.cve} on asset ${assetId} in tenant ${tenantId}`);
    const events = await this.findings.events(scope, key);
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

  async setStatus(
    scope: TenantScope,
    tenantId: string,
    assetId: string,
    cve: string,
    input: FindingStatusChange,
    actor: Actor,
  ): Promise<Finding> {
    await this.tenants.require(scope, tenantId);
    const key = { tenantId, assetId, cve: cve.toUpperCase() };
    return this.db.kysely.transaction().execute(async (trx) => {
      // The asset's row lock orders this against recomputations of the same asset (event numbers stay unique).
      await this.assets.lock(scope, trx, tenantId, [assetId]);
      const row = await this.findings.find(scope, key, trx);
      if (!row) throw notFound(`finding ${key.cve} on asset ${assetId} in tenant ${tenantId}`);
      if (row.status === input.status) return toFinding(row);
      const at = new Date().toISOString();
      const seq = row.events + 1;
      await this.findings.setStatus(scope, trx, key, {
        seq,
        at,
        from: row.status,
        to: input.status,
        reason: input.reason,
        actor: actor.name,
      });
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'finding.status',
        target: `finding:${tenantId}/${assetId}/${key.cve}`,
        detail: { from: row.status, to: input.status, reason: input.reason },
      });
      await publishEvent(trx, {
        type: 'findings.changed',
        tenantId,
        subject: `asset:${assetId}`,
        data: { advisory_ids: [row.advisory_id], asset_ids: [assetId], assets: 1, findings: 1 },
      });
      return toFinding({ ...row, status: input.status, updated_at: at });
    });
  }
}
