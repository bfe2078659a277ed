/** Finding queries and status writes; every one goes through the caller's TenantScope. */
import type { Kysely, Transaction } from 'kysely';
import type { Finding, FindingHistoryEntry, FindingListQuery, Page } from '../../api/index.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { Db } from '../db/connect.js';
import type { Database, FindingTable } from '../db/schema.js';
import type { TenantScope } from '../scope.js';

/** A stored finding row as the API shows it (provenance grouped, fixes parsed). */
export function toFinding(r: Omit<FindingTable, 'events'>): Finding {
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

export interface FindingKey {
  tenantId: string;
  assetId: string;
  /** Upper case. */
  cve: string;
}

export class FindingRepository {
  constructor(private readonly db: Db) {}

  /** Findings over the scope (and `q.tenant`, which the caller has checked is in it). */
  async list(scope: TenantScope, q: FindingListQuery): Promise<Page<Finding>> {
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(
      q.sort,
      ['tenant_id', 'asset_id', 'cve', 'verdict', 'updated_at', 'first_seen'] as const,
      'tenant_id',
    );
    let base = scope.filter(this.db.kysely.selectFrom('findings'), 'tenant_id');
    if (q.tenant) {
      scope.require(q.tenant);
      base = base.where('tenant_id', '=', q.tenant);
    }
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

  /** The stored finding row, or undefined. */
  async find(
    scope: TenantScope,
    key: FindingKey,
    k: Kysely<Database> = this.db.kysely,
  ): Promise<FindingTable | undefined> {
    scope.require(key.tenantId);
    return k
      .selectFrom('findings')
      .selectAll()
      .where('tenant_id', '=', key.tenantId)
      .where('asset_id', '=', key.assetId)
      .where('cve', '=', key.cve)
      .executeTakeFirst();
  }

  /** The finding's stored verdict and status changes, oldest first. */
  async events(scope: TenantScope, key: FindingKey): Promise<FindingHistoryEntry[]> {
    scope.require(key.tenantId);
    return this.db.kysely
      .selectFrom('finding_events')
      .select(['seq', 'at', 'kind', 'from_value', 'to_value', 'reason', 'actor'])
      .where('tenant_id', '=', key.tenantId)
      .where('asset_id', '=', key.assetId)
      .where('cve', '=', key.cve)
      .orderBy('seq')
      .execute();
  }

  /** Sets the status and appends its event (numbered after the finding's last one). */
  async setStatus(
    scope: TenantScope,
    trx: Transaction<Database>,
    key: FindingKey,
    change: { seq: number; at: string; from: string; to: string; reason: string; actor: string },
  ): Promise<void> {
    scope.require(key.tenantId);
    await trx
      .updateTable('findings')
      .set({ status: change.to, events: change.seq, updated_at: change.at })
      .where('tenant_id', '=', key.tenantId)
      .where('asset_id', '=', key.assetId)
      .where('cve', '=', key.cve)
      .execute();
    await trx
      .insertInto('finding_events')
      .values({
        tenant_id: key.tenantId,
        asset_id: key.assetId,
        cve: key.cve,
        seq: change.seq,
        at: change.at,
        kind: 'status',
        from_value: change.from,
        to_value: change.to,
        reason: change.reason,
        actor: change.actor,
      })
      .execute();
  }
}
