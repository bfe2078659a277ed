/**
 * Turns engine verdicts for a batch of assets into stored findings, writing only what changed: a finding per
 * asset and CVE (the most cautious verdict over every advisory naming the CVE, with the deciding provenance), its
 * event history, the per-advisory asset verdicts and the exposure counters — all in the caller's transaction,
 * with one `findings.changed` event per tenant whose findings changed (none when nothing changed, so re-judging
 * unchanged assets publishes nothing).
 *
 * Findings are never deleted while their asset exists: when a product disappears from an asset its findings are
 * judged not_affected, so history and event numbering stay whole.
 */
import type { AssetFacts, CveVerdict, ExposureEngine, Verdict } from '../../core/index.js';
import type { BulkWriter } from '../db/bulk.js';
import { type Database, FINDING_COLUMNS, FINDING_EVENT_COLUMNS, type FindingTable } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';
import { type EventInput, queueEvents } from '../events/index.js';
import { queueBoardDirty } from '../response/dirty.js';

export const CAUTION: Record<Verdict, number> = { affected: 3, unknown: 2, fixed: 1, not_affected: 0 };

export interface AssetToJudge {
  tenantId: string;
  assetId: string;
  facts: AssetFacts;
}

export interface WriteStats {
  assets: number;
  /** Finding rows inserted or changed. */
  findings: number;
  events: number;
}

const GONE = {
  rule: '-',
  fact: '-',
  comparison: 'the asset no longer reports this product',
};

const key = (...parts: string[]) => parts.join('\u0000');

/** Ids a findings.changed event lists at most; beyond that it carries the counts (and no asset ids). */
export const EVENT_MAX_IDS = 100;

/** One findings.changed event per tenant over the finding rows written: ids (bounded) and counts. */
export function queueFindingsChanged(batch: WriteBatch, upserts: FindingTable[]): void {
  const byTenant = new Map<string, { advisories: Set<string>; assets: Set<string>; findings: number }>();
  for (const f of upserts) {
    let t = byTenant.get(f.tenant_id);
    if (!t) {
      t = { advisories: new Set(), assets: new Set(), findings: 0 };
      byTenant.set(f.tenant_id, t);
    }
    t.advisories.add(f.advisory_id);
    t.assets.add(f.asset_id);
    t.findings++;
  }
  const events: EventInput[] = [];
  for (const [tenantId, t] of [...byTenant].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const assetIds = [...t.assets].sort();
    events.push({
      type: 'findings.changed',
      tenantId,
      subject: assetIds.length === 1 ? `asset:${assetIds[0]}` : `tenant:${tenantId}`,
      data: {
        advisory_ids: [...t.advisories].sort().slice(0, EVENT_MAX_IDS),
        ...(assetIds.length <= EVENT_MAX_IDS ? { asset_ids: assetIds } : {}),
        assets: assetIds.length,
        findings: t.findings,
      },
    });
  }
  queueEvents(batch, events);
}

/**
 * Patch tracking of a verdict change: `affected_at` is when the verdict last became affected (kept afterwards, the
 * record that it was affected); `patched_at` is when it became fixed after having been affected, null otherwise.
 */
function patchTracking(
  affectedAt: string | null,
  verdict: string,
  at: string,
): { affected_at: string | null; patched_at: string | null } {
  if (verdict === 'affected') return { affected_at: at, patched_at: null };
  return { affected_at: affectedAt, patched_at: verdict === 'fixed' && affectedAt !== null ? at : null };
}

/**
 * The most cautious verdict per CVE over an asset's verdicts; between equally cautious ones the advisory with the
 * smaller id, so the deciding provenance never depends on load order.
 */
function combineByCve(verdicts: CveVerdict[]): Map<string, CveVerdict> {
  const out = new Map<string, CveVerdict>();
  for (const v of verdicts) {
    const prev = out.get(v.cve);
    const a = CAUTION[v.verdict];
    const b = prev ? CAUTION[prev.verdict] : -1;
    if (!prev || a > b || (a === b && v.advisory < prev.advisory)) out.set(v.cve, v);
  }
  return out;
}

function worstByAdvisory(verdicts: CveVerdict[]): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  for (const v of verdicts) {
    const prev = out.get(v.advisory);
    if (!prev || CAUTION[v.verdict] > CAUTION[prev]) out.set(v.advisory, v.verdict);
  }
  return out;
}

/**
 * Reads what is stored for the assets (in the batch's transaction), judges them and queues the writes on `batch`;
 * the caller flushes it.
 */
export async function writeVerdicts(
  batch: WriteBatch,
  bulk: BulkWriter,
  engine: ExposureEngine,
  assets: AssetToJudge[],
  context: { at: string; reason: string; actor: string },
): Promise<WriteStats> {
  const stats: WriteStats = { assets: assets.length, findings: 0, events: 0 };
  if (!assets.length) return stats;
  const { at, reason, actor } = context;
  const db = batch.trx;

  // What is stored now, per asset: findings by CVE and verdicts by advisory.
  const oldFindings = new Map<string, Map<string, FindingTable>>();
  const oldExposure = new Map<string, Map<string, { verdict: string; affected_at: string | null }>>();
  const slot = <V>(m: Map<string, Map<string, V>>, k: string) => {
    let inner = m.get(k);
    if (!inner) {
      inner = new Map();
      m.set(k, inner);
    }
    return inner;
  };
  const keys = assets.map((a) => [a.tenantId, a.assetId] as const);
  const storedFindings = await bulk.selectByAssets<FindingTable>(
    db,
    'findings',
    'asset_id',
    FINDING_COLUMNS,
    keys,
  );
  for (const r of storedFindings) slot(oldFindings, key(r.tenant_id, r.asset_id)).set(r.cve, r);
  const exposure = await bulk.selectByAssets<{
    tenant_id: string;
    asset_id: string;
    advisory_id: string;
    verdict: string;
    affected_at: string | null;
  }>(
    db,
    'asset_exposure',
    'asset_id',
    ['tenant_id', 'asset_id', 'advisory_id', 'verdict', 'affected_at'],
    keys,
  );
  for (const r of exposure) slot(oldExposure, key(r.tenant_id, r.asset_id)).set(r.advisory_id, r);

  const upserts: FindingTable[] = [];
  const events: Database['finding_events'][] = [];
  const exposureUpserts: Database['asset_exposure'][] = [];
  const countDelta = new Map<string, number>();
  const bump = (tenant: string, advisory: string, verdict: string, by: number) => {
    const k = key(tenant, advisory, verdict);
    countDelta.set(k, (countDelta.get(k) ?? 0) + by);
  };

  for (const asset of assets) {
    const verdicts = engine.evaluate(asset.facts).verdicts;
    const byCve = combineByCve(verdicts);
    const assetKey = key(asset.tenantId, asset.assetId);
    const stored = oldFindings.get(assetKey);
    for (const [cve, v] of byCve) {
      const old = stored?.get(cve);
      const fixes = JSON.stringify(v.fixes);
      const p = v.provenance;
      if (
        old &&
        old.verdict === v.verdict &&
        old.advisory_id === v.advisory &&
        old.version === v.version &&
        old.rule === p.rule &&
        old.fact === p.fact &&
        old.comparison === p.comparison &&
        old.fixes === fixes
      )
        continue;
      // A new finding is its own first history entry (first_seen, its verdict); events record changes only,
      // which keeps an advisory run over a whole fleet to one row per finding.
      const verdictChanged = !!old && old.verdict !== v.verdict;
      const eventCount = (old?.events ?? 0) + (verdictChanged ? 1 : 0);
      upserts.push({
        tenant_id: asset.tenantId,
        asset_id: asset.assetId,
        cve,
        advisory_id: v.advisory,
        product: v.product,
        version: v.version,
        verdict: v.verdict,
        rule: p.rule,
        fact: p.fact,
        comparison: p.comparison,
        fixes,
        status: old?.status ?? 'open',
        events: eventCount,
        first_seen: old?.first_seen ?? at,
        updated_at: at,
      });
      if (verdictChanged) {
        events.push({
          tenant_id: asset.tenantId,
          asset_id: asset.assetId,
          cve,
          seq: eventCount,
          at,
          kind: 'verdict',
          from_value: old!.verdict,
          to_value: v.verdict,
          reason,
          actor,
        });
      }
    }
    // Findings of this asset the engine no longer produces: the product is gone (or an advisory dropped it).
    for (const [cve, old] of stored ?? []) {
      if (byCve.has(cve)) continue;
      if (old.verdict === 'not_affected' && old.rule === GONE.rule) continue;
      const verdictChanged = old.verdict !== 'not_affected';
      const eventCount = old.events + (verdictChanged ? 1 : 0);
      upserts.push({
        ...old,
        verdict: 'not_affected',
        ...GONE,
        fixes: '[]',
        events: eventCount,
        updated_at: at,
      });
      if (verdictChanged) {
        events.push({
          tenant_id: old.tenant_id,
          asset_id: old.asset_id,
          cve: old.cve,
          seq: eventCount,
          at,
          kind: 'verdict',
          from_value: old.verdict,
          to_value: 'not_affected',
          reason,
          actor,
        });
      }
    }

    const worst = worstByAdvisory(verdicts);
    const storedExposure = oldExposure.get(assetKey);
    for (const [advisory, verdict] of worst) {
      const stored = storedExposure?.get(advisory);
      const old = stored?.verdict;
      if (old === verdict) continue;
      exposureUpserts.push({
        tenant_id: asset.tenantId,
        asset_id: asset.assetId,
        advisory_id: advisory,
        verdict,
        updated_at: at,
        ...patchTracking(stored?.affected_at ?? null, verdict, at),
      });
      if (old) bump(asset.tenantId, advisory, old, -1);
      bump(asset.tenantId, advisory, verdict, 1);
    }
    for (const [advisory, stored] of storedExposure ?? []) {
      const old = stored.verdict;
      if (worst.has(advisory) || old === 'not_affected') continue;
      exposureUpserts.push({
        tenant_id: asset.tenantId,
        asset_id: asset.assetId,
        advisory_id: advisory,
        verdict: 'not_affected',
        updated_at: at,
        ...patchTracking(stored.affected_at, 'not_affected', at),
      });
      bump(asset.tenantId, advisory, old, -1);
      bump(asset.tenantId, advisory, 'not_affected', 1);
    }
  }

  batch.upsert(
    {
      table: 'findings',
      columns: FINDING_COLUMNS,
      key: ['tenant_id', 'asset_id', 'cve'],
      // status and first_seen belong to the stored row: never replaced by a recomputation.
      replace: FINDING_COLUMNS.filter(
        (c) => !['tenant_id', 'asset_id', 'cve', 'status', 'first_seen'].includes(c),
      ),
      ints: ['events'],
    },
    upserts,
  );
  batch.upsert(
    {
      table: 'finding_events',
      columns: FINDING_EVENT_COLUMNS,
      ints: ['seq'],
    },
    events,
  );
  batch.upsert(
    {
      table: 'asset_exposure',
      columns: ['tenant_id', 'asset_id', 'advisory_id', 'verdict', 'updated_at', 'affected_at', 'patched_at'],
      key: ['tenant_id', 'asset_id', 'advisory_id'],
      replace: ['verdict', 'updated_at', 'affected_at', 'patched_at'],
    },
    exposureUpserts,
  );
  queueBoardDirty(
    batch,
    exposureUpserts.map((e) => ({ tenantId: e.tenant_id, advisoryId: e.advisory_id })),
  );
  // Sorted, so concurrent runs lock counter rows in one order (no deadlocks on PostgreSQL).
  const counts = [...countDelta]
    .filter(([, n]) => n !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, n]) => {
      const [tenant_id, advisory_id, verdict] = k.split('\u0000') as [string, string, string];
      return { tenant_id, advisory_id, verdict, assets: n };
    });
  batch.upsert(
    {
      table: 'exposure_counts',
      columns: ['tenant_id', 'advisory_id', 'verdict', 'assets'],
      key: ['tenant_id', 'advisory_id', 'verdict'],
      add: ['assets'],
      ints: ['assets'],
    },
    counts,
  );
  queueFindingsChanged(batch, upserts);
  stats.findings = upserts.length;
  stats.events = events.length;
  return stats;
}
