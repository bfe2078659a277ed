/**
 * Response use cases: recording observations (shield, compromise, patch) and hunt reports, each request in one
 * transaction with its observations, the changed current answers, its audit record and one `response.changed`
 * event for the tenant; and the board reads (counts per tenant, an asset list worst first, one asset's answers
 * with their history).
 */
import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import {
  type AssetResponseDetail,
  type Board,
  type BoardAssets,
  type BoardAssetsQuery,
  type BoardCounts,
  type BoardQuery,
  type BoardSort,
  type BoardTenant,
  DEFAULT_LIMIT,
  type HuntReportsBody,
  type HuntReportsResult,
  MAX_OBSERVATIONS_PER_REQUEST,
  MAX_OBSERVATIONS_SHOWN,
  OBSERVATION_VALUES,
  type Observation,
  type ObservationKind,
  type ObservationsResult,
} from '../../api/index.js';
import type { AssetRepository } from '../assets/repository.js';
import { queueAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import { type CursorScope, decodeCursor, encodeCursor, type KeyValue } from '../data/cursor.js';
import type { Db } from '../db/connect.js';
import type { AssetResponseTable, Database, ObservationTable } from '../db/schema.js';
import { badRequest, notFound } from '../errors.js';
import { queueEvents } from '../events/index.js';
import type { ExposureService } from '../exposure/service.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import { assetResponse, toStoredObservation } from './answers.js';
import { queueBoardDirty } from './dirty.js';
import { endpointHost, HostMatcher } from './hosts.js';
import { type BoardRow, emptyCounts, type ResponseRepository } from './repository.js';

/** How far in the future an observation's time may be (clock skew); a later time would stay "newest" too long. */
const MAX_FUTURE_MS = 60 * 60_000;
/** Ids a response.changed event lists at most. */
const EVENT_MAX_IDS = 100;

let lastMs = 0;
let sequence = 0;

/** Observation ids sort by recording time, then a counter within the millisecond, then random. */
function newObservationId(nowMs: number): string {
  if (nowMs <= lastMs) sequence++;
  else {
    lastMs = nowMs;
    sequence = 0;
  }
  const ms = Math.max(nowMs, lastMs);
  return `obs_${ms.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomBytes(5).toString('hex')}`;
}

/** An ISO time normalised to UTC milliseconds (so times compare as text), or a 400 naming the field. */
function isoTime(field: string, value: string, nowMs: number): string {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw badRequest(`${field}: "${value}" is not an ISO-8601 date-time`);
  if (ms > nowMs + MAX_FUTURE_MS) throw badRequest(`${field}: ${value} is in the future`);
  return new Date(ms).toISOString();
}

/** An observation checked beyond its schema: its kind's value, its times normalised. */
interface Checked {
  asset_id: string;
  advisory_id: string;
  kind: ObservationKind;
  value: string;
  source: string;
  observed_at: string;
  window_from: string | null;
  window_to: string | null;
  summary: string | null;
}

function check(o: Observation, field: string, nowMs: number): Checked {
  const allowed = OBSERVATION_VALUES[o.kind];
  if (!allowed.includes(o.value))
    throw badRequest(`${field}.value: "${o.value}" is not a ${o.kind} value (one of ${allowed.join(', ')})`, {
      field: `${field}.value`,
    });
  const from = o.window?.from ? isoTime(`${field}.window.from`, o.window.from, nowMs) : null;
  const to = o.window?.to ? isoTime(`${field}.window.to`, o.window.to, nowMs) : null;
  if (from && to && from > to) throw badRequest(`${field}.window: from (${from}) is after to (${to})`);
  return {
    asset_id: o.asset_id,
    advisory_id: o.advisory_id,
    kind: o.kind,
    value: o.value,
    source: o.source,
    observed_at: isoTime(`${field}.observed_at`, o.observed_at, nowMs),
    window_from: from,
    window_to: to,
    summary: o.summary ? JSON.stringify(o.summary) : null,
  };
}

const blankRow = (
  tenant_id: string,
  asset_id: string,
  advisory_id: string,
  at: string,
): AssetResponseTable => ({
  tenant_id,
  asset_id,
  advisory_id,
  shield: null,
  shield_at: null,
  shield_source: null,
  shield_id: null,
  compromise: null,
  compromise_at: null,
  compromise_source: null,
  compromise_id: null,
  patch: null,
  patch_at: null,
  patch_source: null,
  patch_id: null,
  updated_at: at,
});

// --- keyset cursors (data/cursor.ts): bound to the list, its sort and its filters; keys checked before use ---

type Key = KeyValue[];

function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

/** A tenant's sort key: ascending, counts negated for "most first", the tenant id last. */
function tenantKey(sort: BoardSort, t: BoardTenant): Key {
  const c = t.counts;
  switch (sort) {
    case 'worst':
      return [-c.compromised, -c.unshielded, -c.exposed, t.tenant_id];
    case 'name':
      return [t.name, t.tenant_id];
    default:
      return [-c[sort], t.tenant_id];
  }
}

const TENANT_KEY_TYPES: Record<BoardSort, CursorScope['keyTypes']> = {
  worst: ['integer', 'integer', 'integer', 'string'],
  name: ['string', 'string'],
  exposed: ['integer', 'string'],
  compromised: ['integer', 'string'],
  patched: ['integer', 'string'],
};

/** The worst-first rank of an asset (repository.ts RANK) is 0 to 4. */
const MAX_RANK = 4;

/** The board's cursors go forward only: one that says otherwise was not given out here. */
function forward(raw: string, scope: CursorScope): Key {
  const cursor = decodeCursor(raw, scope);
  if (cursor.direction !== 'after')
    throw badRequest(
      'cursor: is not a cursor this list gave out; leave cursor out to start again from the first page',
    );
  return cursor.key;
}

export class ResponseService {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly assets: AssetRepository,
    private readonly repo: ResponseRepository,
    private readonly exposure: ExposureService,
  ) {}

  /** Checks every observation (400 naming the index and field) and that their advisories exist. */
  private async checkAll(observations: readonly Observation[], nowMs: number, field = 'observations') {
    if (observations.length > MAX_OBSERVATIONS_PER_REQUEST)
      throw badRequest(`${field}: at most ${MAX_OBSERVATIONS_PER_REQUEST} per request; split them`);
    const checked = observations.map((o, i) => check(o, `${field}[${i}]`, nowMs));
    const known = await this.repo.existingAdvisories([...new Set(checked.map((c) => c.advisory_id))]);
    checked.forEach((c, i) => {
      if (!known.has(c.advisory_id))
        throw badRequest(`${field}[${i}].advisory_id: advisory "${c.advisory_id}" does not exist`, {
          index: i,
          field: 'advisory_id',
        });
    });
    return checked;
  }

  async record(
    scope: TenantScope,
    tenantId: string,
    observations: readonly Observation[],
    actor: Actor,
  ): Promise<ObservationsResult> {
    scope.require(tenantId);
    const checked = await this.checkAll(observations, Date.now());
    return this.db.kysely.transaction().execute(async (trx) => {
      await this.tenants.require(scope, tenantId, trx);
      const out = await this.write(scope, trx, tenantId, checked, actor, 'observations.record', {});
      return { recorded: out.recorded, unknown_assets: out.unknownAssets };
    });
  }

  async huntReports(
    scope: TenantScope,
    tenantId: string,
    body: HuntReportsBody,
    actor: Actor,
  ): Promise<HuntReportsResult> {
    scope.require(tenantId);
    const nowMs = Date.now();
    if (body.reports.length > MAX_OBSERVATIONS_PER_REQUEST)
      throw badRequest(`reports: at most ${MAX_OBSERVATIONS_PER_REQUEST} per request; split them`);
    if (!(await this.repo.advisoryTitle(body.advisory_id)))
      throw badRequest(`advisory_id: advisory "${body.advisory_id}" does not exist`);
    const observedAt = body.observed_at
      ? isoTime('observed_at', body.observed_at, nowMs)
      : new Date(nowMs).toISOString();
    // Every report checked before any is matched: a bad one is a 400 whether or not its host matches.
    const reports = body.reports.map((report, i) =>
      check(
        {
          asset_id: '',
          advisory_id: body.advisory_id,
          kind: 'compromise',
          value: report.verdict,
          source: 'hunt',
          observed_at: observedAt,
          window: report.window,
          summary: report.summary,
        },
        `reports[${i}]`,
        nowMs,
      ),
    );
    return this.db.kysely.transaction().execute(async (trx) => {
      await this.tenants.require(scope, tenantId, trx);
      const matcher = await this.matcher(scope, trx, tenantId, body);
      const matched: HuntReportsResult['matched'] = [];
      const unmatched: HuntReportsResult['unmatched'] = [];
      const checked: Checked[] = [];
      body.reports.forEach((report, i) => {
        const m = matcher.match(report.host, report.addresses ?? []);
        if ('reason' in m) {
          unmatched.push({ host: report.host, reason: m.reason });
          return;
        }
        matched.push({ host: report.host, asset_id: m.assetId });
        checked.push({ ...reports[i]!, asset_id: m.assetId });
      });
      await this.write(scope, trx, tenantId, checked, actor, 'hunt_reports.record', {
        matched: matched.length,
        unmatched: unmatched.length,
      });
      return { matched, unmatched };
    });
  }

  /** The tenant's assets as a hunt host matcher; endpoint addresses are read only when id and name do not settle. */
  private async matcher(
    scope: TenantScope,
    trx: Transaction<Database>,
    tenantId: string,
    body: HuntReportsBody,
  ) {
    const plain = await this.repo.assetsForMatching(scope, trx, tenantId, false);
    const byIdOrName = new HostMatcher(plain);
    if (body.reports.every((r) => byIdOrName.settledByIdOrName(r.host))) return byIdOrName;
    const full = await this.repo.assetsForMatching(scope, trx, tenantId, true);
    return new HostMatcher(
      full.map((a) => {
        let endpoints: unknown = [];
        try {
          endpoints = (JSON.parse(a.facts ?? '{}') as { endpoints?: unknown }).endpoints ?? [];
        } catch {
          endpoints = [];
        }
        const list = Array.isArray(endpoints)
          ? endpoints.filter((e): e is string => typeof e === 'string')
          : [];
        return { id: a.id, name: a.name, addresses: list.map(endpointHost) };
      }),
    );
  }

  /**
   * Records checked observations of the tenant in the transaction: the assets are locked (the order every writer
   * uses), observations of assets the tenant does not have are left out and named, and an answer changes only
   * when the observation is newer than the current one (observed_at, then id).
   */
  private async write(
    scope: TenantScope,
    trx: Transaction<Database>,
    tenantId: string,
    checked: readonly Checked[],
    actor: Actor,
    action: string,
    detail: Record<string, unknown>,
  ): Promise<{ recorded: number; unknownAssets: string[] }> {
    const ids = [...new Set(checked.map((c) => c.asset_id))].sort();
    await this.assets.lock(scope, trx, tenantId, ids);
    const existing = await this.repo.existingAssets(scope, trx, tenantId, ids);
    const known = ids.filter((id) => existing.has(id));
    const current = new Map<string, AssetResponseTable>();
    for (const row of await this.repo.current(scope, trx, tenantId, known))
      current.set(`${row.asset_id}\u0000${row.advisory_id}`, row);
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const rows: ObservationTable[] = [];
    const changed = new Map<string, AssetResponseTable>();
    for (const c of checked) {
      if (!existing.has(c.asset_id)) continue;
      const row: ObservationTable = {
        tenant_id: tenantId,
        ...c,
        id: newObservationId(nowMs),
        actor: actor.name,
        recorded_at: now,
      };
      rows.push(row);
      const k = `${c.asset_id}\u0000${c.advisory_id}`;
      const state = changed.get(k) ?? {
        ...(current.get(k) ?? blankRow(tenantId, c.asset_id, c.advisory_id, now)),
      };
      const at = state[`${c.kind}_at` as const];
      const id = state[`${c.kind}_id` as const];
      if (at === null || c.observed_at > at || (c.observed_at === at && row.id > (id ?? ''))) {
        state[c.kind] = c.value;
        state[`${c.kind}_at` as const] = c.observed_at;
        state[`${c.kind}_source` as const] = c.source;
        state[`${c.kind}_id` as const] = row.id;
        state.updated_at = now;
        changed.set(k, state);
      }
    }
    const unknownAssets = ids.filter((id) => !existing.has(id));
    const batch = this.exposure.batch(trx);
    this.repo.queueWrites(scope, batch, tenantId, rows, [...changed.values()]);
    queueBoardDirty(
      batch,
      [...changed.values()].map((r) => ({ tenantId, advisoryId: r.advisory_id })),
    );
    const assets = [...new Set(rows.map((r) => r.asset_id))].sort();
    const advisories = [...new Set(rows.map((r) => r.advisory_id))].sort();
    queueAudit(batch, {
      actor: actor.name,
      tenantId,
      action,
      target: `tenant:${tenantId}`,
      detail: {
        ...detail,
        recorded: rows.length,
        unknown_assets: unknownAssets.length,
        advisories: advisories.slice(0, 20),
        assets: assets.slice(0, 20),
      },
    });
    if (rows.length) {
      queueEvents(batch, [
        {
          type: 'response.changed',
          tenantId,
          subject: assets.length === 1 ? `asset:${assets[0]}` : `tenant:${tenantId}`,
          data: {
            advisory_ids: advisories.slice(0, EVENT_MAX_IDS),
            ...(assets.length <= EVENT_MAX_IDS ? { asset_ids: assets } : {}),
            assets: assets.length,
          },
        },
      ]);
    }
    await batch.flush();
    return { recorded: rows.length, unknownAssets };
  }

  private async requireAdvisory(advisoryId: string): Promise<string> {
    const title = await this.repo.advisoryTitle(advisoryId);
    if (title === undefined) throw notFound(`advisory ${advisoryId}`);
    return title;
  }

  /** The board of an advisory: totals over the scope's tenants and a page of tenants with their counts. */
  async board(scope: TenantScope, advisoryId: string, q: BoardQuery): Promise<Board> {
    const title = await this.requireAdvisory(advisoryId);
    const sort = q.sort ?? 'worst';
    const cursorScope: CursorScope = {
      sort,
      filters: { board: advisoryId, q: q.q },
      keyTypes: TENANT_KEY_TYPES[sort],
    };
    const after = q.cursor === undefined ? undefined : forward(q.cursor, cursorScope);
    const [tenants, counts] = await Promise.all([
      this.repo.tenants(scope),
      this.repo.counts(scope, advisoryId),
    ]);
    const totals = emptyCounts();
    const all: BoardTenant[] = tenants.map((t) => {
      const c = counts.get(t.id) ?? emptyCounts();
      for (const key of Object.keys(totals) as (keyof BoardCounts)[]) totals[key] += c[key];
      return { tenant_id: t.id, name: t.name, counts: c };
    });
    const text = q.q?.toLowerCase();
    const keyed = all
      .filter((t) => !text || t.tenant_id.toLowerCase().includes(text) || t.name.toLowerCase().includes(text))
      .map((t) => ({ t, key: tenantKey(sort, t) }))
      .filter((x) => !after || compareKeys(x.key, after) > 0)
      .sort((a, b) => compareKeys(a.key, b.key));
    const limit = q.limit ?? DEFAULT_LIMIT;
    const page = keyed.slice(0, limit);
    return {
      advisory_id: advisoryId,
      title,
      totals,
      tenants: {
        items: page.map((x) => x.t),
        next_cursor:
          keyed.length > limit
            ? encodeCursor(cursorScope, { direction: 'after', key: page[page.length - 1]!.key })
            : null,
      },
    };
  }

  /** One tenant's assets on the board, worst first, a keyset page at a time. */
  async boardAssets(
    scope: TenantScope,
    advisoryId: string,
    tenantId: string,
    q: BoardAssetsQuery,
  ): Promise<BoardAssets> {
    await this.tenants.require(scope, tenantId);
    await this.requireAdvisory(advisoryId);
    const limit = q.limit ?? DEFAULT_LIMIT;
    const cursorScope: CursorScope = {
      sort: 'worst',
      filters: { board: advisoryId, tenant: tenantId, state: q.state, q: q.q },
      keyTypes: ['integer', 'string'],
    };
    const after = q.cursor === undefined ? undefined : forward(q.cursor, cursorScope);
    if (after && ((after[0] as number) < 0 || (after[0] as number) > MAX_RANK))
      throw badRequest(
        'cursor: is not a cursor this list gave out; leave cursor out to start again from the first page',
      );
    const rows = await this.repo.boardAssets(scope, advisoryId, tenantId, {
      ...(q.state ? { state: q.state } : {}),
      ...(q.q ? { q: q.q } : {}),
      limit: limit + 1,
      ...(after ? { after: { worst: after[0] as number, id: after[1] as string } } : {}),
    });
    const page = rows.slice(0, limit);
    const observations = await this.repo.observationsByIds(scope, tenantId, advisoryId, pointedTo(page));
    const last = page[page.length - 1];
    return {
      items: page.map((r) => assetResponse(r, advisoryId, observations)),
      next_cursor:
        rows.length > limit && last
          ? encodeCursor(cursorScope, { direction: 'after', key: [last.worst, last.asset_id] })
          : null,
    };
  }

  /** An asset's answers for one advisory, or for every advisory with a verdict or observations, and history. */
  async assetResponse(
    scope: TenantScope,
    tenantId: string,
    assetId: string,
    advisoryId?: string,
  ): Promise<AssetResponseDetail> {
    const asset = await this.assets.require(scope, tenantId, assetId);
    if (advisoryId !== undefined) await this.requireAdvisory(advisoryId);
    const rows = await this.repo.assetRows(scope, tenantId, assetId, advisoryId);
    if (advisoryId !== undefined && !rows.length)
      rows.push({ ...unjudged(tenantId, assetId, asset.name ?? null), advisory_id: advisoryId });
    const items: AssetResponseDetail['items'] = [];
    for (const row of rows) {
      const history = await this.repo.history(
        scope,
        tenantId,
        assetId,
        row.advisory_id,
        MAX_OBSERVATIONS_SHOWN,
      );
      const observations = await this.repo.observationsByIds(
        scope,
        tenantId,
        row.advisory_id,
        pointedTo([row]),
      );
      items.push({
        ...assetResponse(row, row.advisory_id, observations),
        observations: history.map(toStoredObservation),
      });
    }
    return { items };
  }
}

/** The observations current answers point to. */
function pointedTo(rows: readonly BoardRow[]): { assetId: string; id: string }[] {
  const out: { assetId: string; id: string }[] = [];
  for (const r of rows)
    for (const id of [r.shield_id, r.compromise_id, r.patch_id])
      if (id) out.push({ assetId: r.asset_id, id });
  return out;
}

function unjudged(tenantId: string, assetId: string, name: string | null): BoardRow {
  return {
    tenant_id: tenantId,
    asset_id: assetId,
    name,
    verdict: null,
    exposure_at: null,
    affected_at: null,
    patched_at: null,
    shield: null,
    shield_at: null,
    shield_source: null,
    shield_id: null,
    compromise: null,
    compromise_at: null,
    compromise_source: null,
    compromise_id: null,
    patch: null,
    patch_at: null,
    patch_source: null,
    patch_id: null,
    patch_state: 'unknown',
    worst: 3,
  };
}
