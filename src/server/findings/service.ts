/**
 * Finding use cases: listing, one finding, a finding's history, and workflow status changes — one finding at a
 * time (If-Match: only if unchanged) or in bulk, in two steps (preview: the count and a confirmation; commit:
 * exactly the findings counted, or 409) — each with its audit record and its `findings.changed` event in the
 * same transaction.
 */
import {
  BULK_CONFIRMATION_SECONDS,
  type BulkCommitResult,
  type BulkFilter,
  type BulkPreview,
  type BulkPreviewBody,
  type Finding,
  type FindingHistoryEntry,
  type FindingListQuery,
  type FindingStatusChange,
  MAX_BULK_FINDINGS,
  type Page,
} from '../../api/index.js';
import type { AssetRepository } from '../assets/repository.js';
import { appendAudit, queueAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import type { BulkWriter } from '../db/bulk.js';
import type { Db } from '../db/connect.js';
import { WriteBatch } from '../db/write-batch.js';
import { ApiError, badRequest, conflict, notFound } from '../errors.js';
import { publishEvent } from '../events/index.js';
import { queueFindingsChanged } from '../exposure/writer.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import {
  type ConfirmationClaims,
  confirmationKey,
  matchDigest,
  newConfirmationId,
  openConfirmation,
  signConfirmation,
} from './bulk.js';
import { type FindingRepository, type FindingSelection, findingEtag, toFinding } from './repository.js';

/** Who asks, for bulk confirmations: the principal (`user:<id>`, `token:<id>`) and how it appears in the audit log. */
export interface Requester {
  principal: string;
  actor: Actor;
}

const STALE = 'stale: preview again';

/** Whether an If-Match header (`"v"`, `W/"v"`, a list of them, or `*`) names the finding's version. */
export function ifMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header
    .split(',')
    .map((v) =>
      v
        .trim()
        .replace(/^W\//, '')
        .replace(/^"(.*)"$/, '$1'),
    )
    .includes(etag);
}

/** The filter's criteria, checked: an empty filter is refused unless `all: true` says every finding, alone. */
export function selectionOf(filter: BulkFilter): FindingSelection {
  const sel: FindingSelection = {
    ...(filter.advisory ? { advisory: filter.advisory } : {}),
    ...(filter.cve ? { cve: filter.cve.toUpperCase() } : {}),
    ...(filter.verdict ? { verdict: filter.verdict } : {}),
    ...(filter.status ? { status: filter.status } : {}),
    ...(filter.asset_q ? { assetQ: filter.asset_q } : {}),
  };
  const criteria = Object.keys(sel).length;
  if (filter.all === true && criteria > 0)
    throw badRequest(
      'filter.all: true selects every finding of the tenant; leave out the other criteria or all',
    );
  if (filter.all !== true && criteria === 0)
    throw badRequest(
      'filter: an empty filter selects nothing; give advisory, cve, verdict, status or asset_q, or "all": true for every finding of the tenant',
    );
  return sel;
}

export class FindingService {
  private key: Promise<string> | undefined;

  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly assets: AssetRepository,
    private readonly findings: FindingRepository,
    private readonly bulk: BulkWriter,
  ) {}

  private confirmationKey(): Promise<string> {
    this.key ??= confirmationKey(this.db.kysely).catch((err) => {
      this.key = undefined;
      throw err;
    });
    return this.key;
  }

  /** One finding as the API shows it (its `etag` is the version If-Match compares). */
  async get(scope: TenantScope, tenantId: string, assetId: string, cve: string): Promise<Finding> {
    await this.assets.require(scope, tenantId, assetId);
    const key = { tenantId, assetId, cve: cve.toUpperCase() };
    const row = await this.findings.find(scope, key);
    if (!row) throw notFound(`finding ${key.cve} on asset ${assetId} in tenant ${tenantId}`);
    return toFinding(row);
  }

  /**
   * Step one of a bulk status change: how many of the tenant's findings the filter selects now, and the
   * confirmation to commit exactly those with (single use, for this principal and tenant, for
   * BULK_CONFIRMATION_SECONDS). Nothing changes.
   */
  async bulkPreview(
    scope: TenantScope,
    tenantId: string,
    body: BulkPreviewBody,
    who: Requester,
  ): Promise<BulkPreview> {
    await this.tenants.require(scope, tenantId);
    const sel = selectionOf(body.filter);
    const rows = await this.findings.select(scope, this.db.kysely, tenantId, sel, MAX_BULK_FINDINGS + 1);
    if (rows.length > MAX_BULK_FINDINGS)
      throw badRequest(
        `filter: selects more than ${MAX_BULK_FINDINGS} findings, more than one bulk change may touch; narrow it`,
      );
    const expires = Date.now() + BULK_CONFIRMATION_SECONDS * 1000;
    const claims: ConfirmationClaims = {
      id: newConfirmationId(),
      tenant: tenantId,
      principal: who.principal,
      filter: body.filter,
      status: body.status,
      reason: body.reason,
      digest: matchDigest(rows),
      expires,
    };
    return {
      matches: rows.length,
      already: rows.filter((r) => r.status === body.status).length,
      token: signConfirmation(await this.confirmationKey(), claims),
      expires_at: new Date(expires).toISOString(),
    };
  }

  /**
   * Step two: applies the preview's change to exactly the findings it matched, when the filter still matches
   * exactly those, each in the version the preview saw; otherwise 409 and nothing changes. The status changes,
   * their history, the audit record and the findings.changed event commit together, and the confirmation is
   * spent with them.
   */
  async bulkCommit(
    scope: TenantScope,
    tenantId: string,
    token: string,
    who: Requester,
  ): Promise<BulkCommitResult> {
    await this.tenants.require(scope, tenantId);
    const claims = openConfirmation(await this.confirmationKey(), token, {
      tenant: tenantId,
      principal: who.principal,
    });
    if (Date.now() > claims.expires)
      throw conflict(`${STALE}: the confirmation expired at ${new Date(claims.expires).toISOString()}`);
    const sel = selectionOf(claims.filter);
    const at = new Date().toISOString();
    return this.db.kysely.transaction().execute(async (trx) => {
      // Spent first: a second commit of the same confirmation waits for this one and then finds it used.
      const spent = await trx
        .insertInto('bulk_confirmations_used')
        .values({
          tenant_id: tenantId,
          id: claims.id,
          expires_at: new Date(claims.expires).toISOString(),
          used_at: at,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!spent) throw conflict(`${STALE}: this confirmation was already committed`);
      await trx
        .deleteFrom('bulk_confirmations_used')
        .where('tenant_id', '=', tenantId)
        .where('expires_at', '<', at)
        .execute();
      const unchanged = (rows: { length: number }, digest: string) => {
        if (digest !== claims.digest)
          throw conflict(
            `${STALE}: the findings this filter selects changed since the preview (${rows.length} match now); nothing was changed`,
          );
      };
      let rows = await this.findings.select(scope, trx, tenantId, sel, MAX_BULK_FINDINGS + 1);
      unchanged(rows, matchDigest(rows));
      // The assets' row locks (the order every writer takes them), then the set again under them.
      const assetIds = [...new Set(rows.map((r) => r.asset_id))];
      await this.assets.lock(scope, trx, tenantId, assetIds);
      if (this.db.dialect === 'postgres') {
        rows = await this.findings.select(scope, trx, tenantId, sel, MAX_BULK_FINDINGS + 1);
        unchanged(rows, matchDigest(rows));
      }
      const changing = rows.filter((r) => r.status !== claims.status);
      const batch = new WriteBatch(this.bulk, trx, this.db.dialect);
      const written = this.findings.queueStatusChanges(scope, batch, tenantId, changing, {
        at,
        to: claims.status,
        reason: claims.reason,
        actor: who.actor.name,
      });
      queueAudit(batch, {
        actor: who.actor.name,
        tenantId,
        action: 'findings.bulk_status',
        target: `tenant:${tenantId}`,
        detail: {
          filter: claims.filter,
          to: claims.status,
          reason: claims.reason,
          matches: rows.length,
          changed: changing.length,
          confirmation: claims.id,
        },
      });
      queueFindingsChanged(batch, written);
      await batch.flush();
      return { matches: rows.length, changed: changing.length, status: claims.status };
    });
  }

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

  /**
   * Sets one finding's status with its reason. With `ifMatch` (the If-Match header) the change applies only when
   * the finding is still in that version; otherwise 412 and nothing changes.
   */
  async setStatus(
    scope: TenantScope,
    tenantId: string,
    assetId: string,
    cve: string,
    input: FindingStatusChange,
    actor: Actor,
    ifMatch?: string,
  ): Promise<Finding> {
    await this.tenants.require(scope, tenantId);
    const key = { tenantId, assetId, cve: cve.toUpperCase() };
    return this.db.kysely.transaction().execute(async (trx) => {
      // The asset's row lock orders this against recomputations of the same asset (event numbers stay unique).
      await this.assets.lock(scope, trx, tenantId, [assetId]);
      const row = await this.findings.find(scope, key, trx);
      if (!row) throw notFound(`finding ${key.cve} on asset ${assetId} in tenant ${tenantId}`);
      if (ifMatch !== undefined && !ifMatches(ifMatch, findingEtag(row)))
        throw new ApiError(
          412,
          'precondition_failed',
          `If-Match: finding ${key.cve} changed since you read it (its version is now "${findingEtag(row)}"); read it again`,
        );
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
