/**
 * Asset use cases: registering and updating assets from their facts (one, or a pushed batch), which re-judges
 * exactly the assets whose facts changed, and removing an asset — each in one transaction with its audit record
 * and its events: `asset.changed` for every asset a push created or updated (a push holds at most
 * MAX_ASSETS_PER_PUSH assets, so at most that many events; unchanged assets publish none), `asset.deleted`, and the
 * `findings.changed` the exposure writer publishes when verdicts change.
 */
import {
  type Asset,
  type AssetListQuery,
  type AssetSummary,
  type CursorPage,
  MAX_ASSETS_PER_PUSH,
  type PutResult,
} from '../../api/index.js';
import { type AssetFacts, assetFactsValidator, formatPath } from '../../core/index.js';
import { appendAudit, queueAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import type { Db } from '../db/connect.js';
import { isForeignKeyViolation } from '../db/errors.js';
import type { Database } from '../db/schema.js';
import { badRequest } from '../errors.js';
import { publishEvent, queueEvents } from '../events/index.js';
import { assetProducts, canonicalHash, type ExposureService } from '../exposure/service.js';
import { checkId } from '../ids.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import { mergeObserved } from './observed.js';
import type { AssetRepository } from './repository.js';

export interface PutOptions {
  source: string;
  /** The site every asset of this write moves to; undefined leaves each asset's site as it is. */
  site?: string | null;
  /** The facts are observations of existing assets, merged into their stored facts (assets/observed.ts). */
  merge?: boolean;
}

export class AssetService {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly assets: AssetRepository,
    private readonly exposure: ExposureService,
  ) {}

  list(scope: TenantScope, tenantId: string, q: AssetListQuery): Promise<CursorPage<AssetSummary>> {
    return this.assets.list(scope, tenantId, q);
  }

  get(scope: TenantScope, tenantId: string, id: string): Promise<Asset> {
    return this.assets.require(scope, tenantId, id);
  }

  /** Validates pushed facts: one 400 naming the asset's index and the field. */
  private parse(tenantId: string, inputs: unknown[]): AssetFacts[] {
    if (inputs.length > MAX_ASSETS_PER_PUSH) {
      throw badRequest(`assets: at most ${MAX_ASSETS_PER_PUSH} per request; split the push`);
    }
    const facts: AssetFacts[] = [];
    const ids = new Set<string>();
    inputs.forEach((input, i) => {
      const parsed = assetFactsValidator.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.issues[0]!;
        throw badRequest(`assets[${i}].${formatPath(issue.path)}: ${issue.message}`, {
          index: i,
          path: issue.path,
        });
      }
      const f = parsed.data;
      checkId(`assets[${i}].id`, f.id);
      if (f.tenant !== undefined && f.tenant !== tenantId) {
        throw badRequest(
          `assets[${i}].tenant: "${f.tenant}" does not match the tenant in the URL (${tenantId})`,
        );
      }
      if (ids.has(f.id)) throw badRequest(`assets[${i}].id: "${f.id}" appears twice in this push`);
      ids.add(f.id);
      facts.push({ ...f, tenant: tenantId });
    });
    return facts;
  }

  /**
   * Registers or updates assets from their facts and re-judges exactly the assets whose facts changed, in one
   * transaction with the audit record.
   */
  async put(
    scope: TenantScope,
    tenantId: string,
    inputs: unknown[],
    options: PutOptions,
    actor: Actor,
  ): Promise<PutResult> {
    // The tenant is not read here: a write to a tenant that does not exist fails on the assets' foreign key, and
    // a write that writes nothing asks afterwards (see below). One round trip less on every write.
    scope.require(tenantId);
    const facts = this.parse(tenantId, inputs);
    if (options.site && !(await this.tenants.siteExists(scope, this.db.kysely, tenantId, options.site))) {
      await this.tenants.require(scope, tenantId);
      throw badRequest(`site: ${options.site} does not exist in tenant ${tenantId}; create it first`);
    }
    const ids = facts.map((f) => f.id);
    const at = new Date().toISOString();
    let result: PutResult & { wrote: boolean };
    try {
      result = await this.exposure.withEngine((judge) =>
        this.db.kysely.transaction().execute(async (trx) => {
          // Reads first (the stored hashes, with the rows locked on PostgreSQL, and for observations the stored
          // facts to merge into), then every write queued on one batch and sent together.
          const existing = await this.assets.current(scope, trx, tenantId, ids, { facts: !!options.merge });
          const storedSource = new Map<string, string>();
          if (options.merge) {
            facts.forEach((f, k) => {
              const row = existing.get(f.id);
              if (!row?.facts) return;
              facts[k] = mergeObserved(row.facts, f, options.source);
              storedSource.set(f.id, row.source!);
            });
          }
          const results: PutResult['results'] = [];
          const changed: AssetFacts[] = [];
          const rows: Database['assets'][] = [];
          const products: Database['asset_products'][] = [];
          for (const f of facts) {
            const hash = canonicalHash(f);
            const old = existing.get(f.id)?.hash;
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
          const batch = this.exposure.batch(trx);
          this.assets.queueUpsert(scope, batch, tenantId, rows, options.site !== undefined);
          this.assets.queueProducts(
            scope,
            batch,
            tenantId,
            changed.map((f) => f.id),
            products,
          );
          const stats = await judge(
            batch,
            changed.map((f) => ({ tenantId, assetId: f.id, facts: f })),
            { at, reason: 'facts updated', actor: actor.name },
          );
          if (changed.length || options.site !== undefined) {
            queueAudit(batch, {
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
          queueEvents(
            batch,
            rows.map((row) => ({
              type: 'asset.changed' as const,
              tenantId,
              subject: `asset:${row.id}`,
              data: { asset_id: row.id },
            })),
          );
          await batch.flush();
          return { results, findings_written: stats.findings, wrote: rows.length > 0 };
        }),
      );
    } catch (err) {
      if (isForeignKeyViolation(err)) await this.tenants.require(scope, tenantId);
      throw err;
    }
    // Nothing written, so no foreign key was checked: the tenant must still exist for the answer to be true.
    if (!result.wrote) await this.tenants.require(scope, tenantId);
    return { results: result.results, findings_written: result.findings_written };
  }

  async delete(scope: TenantScope, tenantId: string, id: string, actor: Actor): Promise<void> {
    await this.assets.require(scope, tenantId, id);
    await this.db.kysely.transaction().execute(async (trx) => {
      // Asset lock first, then counters: the order every writer uses.
      await this.assets.lock(scope, trx, tenantId, [id]);
      await this.assets.remove(scope, trx, tenantId, id);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'asset.delete',
        target: `asset:${tenantId}/${id}`,
      });
      await publishEvent(trx, {
        type: 'asset.deleted',
        tenantId,
        subject: `asset:${id}`,
        data: { asset_id: id },
      });
    });
  }
}
