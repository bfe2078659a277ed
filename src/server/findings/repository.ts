/** Finding queries and status writes; every one goes through the caller's TenantScope. */
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Finding, FindingHistoryEntry, FindingListQuery, Page } from '../../api/index.js';
import { containsText } from '../data/like.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { Db } from '../db/connect.js';
import { type Database, FINDING_COLUMNS, FINDING_EVENT_COLUMNS, type FindingTable } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';
import type { TenantScope } from '../scope.js';

/**
 * A finding's version: a digest of everything a writer changes in it (status, verdict, provenance, fixes and the
 * time of the change), so any change to the finding gives another. It is the ETag of GET and PATCH on the finding.
 */
export function findingEtag(r: Omit<FindingTable, 'events'>): string {
  const parts = [
    r.status,
    r.verdict,
    r.advisory_id,
    r.product,
    r.version,
    r.rule,
    r.fact,
    r.comparison,
    r.fixes,
    r.updated_at,
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

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
    etag: findingEtag(r),
  };
}

/** The criteria of a bulk selection, checked (an empty one is refused before this); `cve` upper case. */
export interface FindingSelection {
  advisory?: string;
  cve?: string;
  verdict?: string;
  status?: string;
  /** Text in the asset id or name (case-insensitive). */
  assetQ?: string;
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

  /**
   * The tenant's findings a selection matches, in key order (asset, CVE), at most `limit` (ask one more than
   * allowed to learn that there are more).
   */
  async select(
    scope: TenantScope,
    k: Kysely<Database>,
    tenantId: string,
    sel: FindingSelection,
    limit: number,
  ): Promise<FindingTable[]> {
    scope.require(tenantId);
    let q = k.selectFrom('findings as f').where('f.tenant_id', '=', tenantId);
    if (sel.advisory) q = q.where('f.advisory_id', '=', sel.advisory);
    if (sel.cve) q = q.where('f.cve', '=', sel.cve);
    if (sel.verdict) q = q.where('f.verdict', '=', sel.verdict);
    if (sel.status) q = q.where('f.status', '=', sel.status);
    if (sel.assetQ) {
      const text = sel.assetQ;
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom('assets as a')
            .select('a.id')
            .whereRef('a.tenant_id', '=', 'f.tenant_id')
            .whereRef('a.id', '=', 'f.asset_id')
            .where((w) => w.or([containsText(w.ref('a.id'), text), containsText(w.ref('a.name'), text)])),
        ),
      );
    }
    const rows = await q.selectAll('f').orderBy('f.asset_id').orderBy('f.cve').limit(limit).execute();
    return rows.map((r) => ({ ...r, events: Number(r.events) }));
  }

  /**
   * Queues status changes of findings read in this transaction (the caller holds their assets' locks): each
   * finding gets the new status and its history event, numbered after its last one.
   */
  queueStatusChanges(
    scope: TenantScope,
    batch: WriteBatch,
    tenantId: string,
    rows: readonly FindingTable[],
    change: { at: string; to: string; reason: string; actor: string },
  ): FindingTable[] {
    scope.require(tenantId);
    if (rows.some((r) => r.tenant_id !== tenantId)) throw new Error('finding rows of another tenant');
    const updated = rows.map((r) => ({
      ...r,
      status: change.to,
      events: r.events + 1,
      updated_at: change.at,
    }));
    batch.upsert(
      {
        table: 'findings',
        columns: FINDING_COLUMNS,
        key: ['tenant_id', 'asset_id', 'cve'],
        replace: ['status', 'events', 'updated_at'],
        ints: ['events'],
      },
      updated,
    );
    batch.upsert(
      {
        table: 'finding_events',
        columns: FINDING_EVENT_COLUMNS,
        ints: ['seq'],
      },
      rows.map((r) => ({
        tenant_id: r.tenant_id,
        asset_id: r.asset_id,
        cve: r.cve,
        seq: r.events + 1,
        at: change.at,
        kind: 'status',
        from_value: r.status,
        to_value: change.to,
        reason: change.reason,
        actor: change.actor,
      })),
    );
    return updated;
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
