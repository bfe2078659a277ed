/**
 * Fleet exposure: keeps the exposure engine in step with the stored advisories and recomputes findings
 * incrementally — when an asset's facts change (that asset only) and when advisories change (only assets running
 * a product those advisories name, or holding findings from them). The time from an advisory import to the last
 * finding written is the "time to know", kept per run and as a metric.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { loadBuiltinAdvisories, loadBuiltinCatalogs } from '../../advisories/index.js';
import {
  type Advisory,
  type AssetFacts,
  advisorySchema,
  CatalogIndex,
  ExposureEngine,
} from '../../core/index.js';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import type { ServerMetrics } from '../metrics.js';
import { type AssetToJudge, writeVerdicts } from './writer.js';

/** Assets judged per transaction during an advisory run. */
const RUN_BATCH = 2000;

export interface ExposureRun {
  id: string;
  advisories: string[];
  trigger: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  assets_evaluated: number;
  findings_written: number;
}

export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** Product ids an advisory has rules for. */
export function advisoryProducts(advisory: Advisory): string[] {
  return [...new Set(advisory.affected.map((a) => a.product))].sort();
}

/** Product ids an asset runs. */
export function assetProducts(facts: AssetFacts): string[] {
  const ids = facts.products.map((p) => p.product);
  if (facts.os) ids.push(facts.os.product);
  return [...new Set(ids)].sort();
}

export class FleetExposure {
  private readonly catalogIndex = new CatalogIndex(loadBuiltinCatalogs());
  private byId = new Map<string, Advisory>();
  engine = new ExposureEngine([], this.catalogIndex);

  constructor(
    private readonly db: Db,
    private readonly metrics: ServerMetrics,
  ) {}

  get kysely(): Kysely<Database> {
    return this.db.kysely;
  }

  advisories(): Advisory[] {
    return [...this.byId.values()];
  }

  advisory(id: string): Advisory | undefined {
    return this.byId.get(id);
  }

  /** Reads the stored advisories and compiles the engine. */
  async load(): Promise<void> {
    const rows = await this.kysely.selectFrom('advisories').select(['id', 'document']).execute();
    const byId = new Map<string, Advisory>();
    for (const row of rows) byId.set(row.id, advisorySchema.parse(JSON.parse(row.document)));
    this.setAdvisories(byId);
  }

  private setAdvisories(byId: Map<string, Advisory>): void {
    this.engine = new ExposureEngine([...byId.values()], this.catalogIndex);
    this.byId = byId;
  }

  /** Stores the built-in packs that are new or changed since the last start, then recomputes for them. */
  async syncBuiltins(): Promise<ExposureRun | undefined> {
    const builtins = loadBuiltinAdvisories().map((l) => l.advisory);
    return this.saveAdvisories(builtins, { source: 'built-in', trigger: 'built-in', onlyChanged: true });
  }

  /**
   * Stores advisories (replacing any with the same id) and recomputes the findings they can change. Returns the
   * run, or undefined when nothing changed.
   */
  async saveAdvisories(
    advisories: Advisory[],
    options: { source: string; trigger: string; onlyChanged?: boolean; startedAt?: number },
  ): Promise<ExposureRun | undefined> {
    const started = options.startedAt ?? Date.now();
    const at = new Date().toISOString();
    const existing = new Map(
      (await this.kysely.selectFrom('advisories').select(['id', 'document_hash', 'products']).execute()).map(
        (r) => [r.id, r],
      ),
    );
    const changed: Advisory[] = [];
    const products = new Set<string>();
    for (const advisory of advisories) {
      const hash = canonicalHash(advisory);
      const old = existing.get(advisory.id);
      if (old && old.document_hash === hash && options.onlyChanged) continue;
      if (old && old.document_hash === hash) {
        changed.push(advisory);
        for (const p of JSON.parse(old.products) as string[]) products.add(p);
        continue;
      }
      changed.push(advisory);
      if (old) for (const p of JSON.parse(old.products) as string[]) products.add(p);
      for (const p of advisoryProducts(advisory)) products.add(p);
    }
    if (!changed.length) return undefined;
    await this.kysely.transaction().execute(async (trx) => {
      for (const advisory of changed) {
        const row = {
          id: advisory.id,
          title: advisory.title,
          source: options.source,
          document: JSON.stringify(advisory),
          document_hash: canonicalHash(advisory),
          products: JSON.stringify(advisoryProducts(advisory)),
          published: advisory.published ?? null,
          imported_at: at,
        };
        await trx
          .insertInto('advisories')
          .values(row)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet({
              title: row.title,
              source: row.source,
              document: row.document,
              document_hash: row.document_hash,
              products: row.products,
              published: row.published,
              imported_at: row.imported_at,
            }),
          )
          .execute();
      }
    });
    const byId = new Map(this.byId);
    for (const advisory of changed) byId.set(advisory.id, advisory);
    this.setAdvisories(byId);
    return this.recompute(
      changed.map((a) => a.id),
      [...products],
      options.trigger,
      started,
    );
  }

  /** Re-judges every asset that runs one of `products` or holds findings of `advisoryIds`, batch by batch. */
  private async recompute(
    advisoryIds: string[],
    products: string[],
    trigger: string,
    started: number,
  ): Promise<ExposureRun> {
    const k = this.kysely;
    let after: [string, string] | undefined;
    let assetsEvaluated = 0;
    let findingsWritten = 0;
    const at = new Date(started).toISOString();
    const reason = `advisory ${advisoryIds.join(', ')} ${trigger === 'built-in' ? 'updated' : 'imported'}`;
    for (;;) {
      let q = k
        .selectFrom('assets as a')
        .select(['a.tenant_id', 'a.id', 'a.facts'])
        .where((eb) =>
          eb.or([
            eb.exists(
              eb
                .selectFrom('asset_products as p')
                .select(sql`1`.as('one'))
                .whereRef('p.tenant_id', '=', 'a.tenant_id')
                .whereRef('p.asset_id', '=', 'a.id')
                .where('p.product', 'in', products.length ? products : ['\u0000']),
            ),
            eb.exists(
              eb
                .selectFrom('asset_exposure as x')
                .select(sql`1`.as('one'))
                .whereRef('x.tenant_id', '=', 'a.tenant_id')
                .whereRef('x.asset_id', '=', 'a.id')
                .where('x.advisory_id', 'in', advisoryIds),
            ),
          ]),
        )
        .orderBy('a.tenant_id')
        .orderBy('a.id')
        .limit(RUN_BATCH);
      if (after) {
        const [t, id] = after;
        q = q.where((eb) => eb(eb.refTuple('a.tenant_id', 'a.id'), '>', eb.tuple(t, id)));
      }
      const rows = await q.execute();
      if (!rows.length) break;
      const batch: AssetToJudge[] = rows.map((r) => ({
        tenantId: r.tenant_id,
        assetId: r.id,
        facts: JSON.parse(r.facts) as AssetFacts,
      }));
      const stats = await k
        .transaction()
        .execute((trx) => writeVerdicts(trx, this.engine, batch, { at, reason, actor: 'system' }));
      assetsEvaluated += stats.assets;
      findingsWritten += stats.findings;
      const last = rows[rows.length - 1]!;
      after = [last.tenant_id, last.id];
      if (rows.length < RUN_BATCH) break;
    }
    const finished = Date.now();
    const run: ExposureRun = {
      id: randomUUID(),
      advisories: advisoryIds,
      trigger,
      started_at: at,
      finished_at: new Date(finished).toISOString(),
      duration_ms: finished - started,
      assets_evaluated: assetsEvaluated,
      findings_written: findingsWritten,
    };
    const { advisories, ...row } = run;
    await k
      .insertInto('exposure_runs')
      .values({ ...row, advisory_ids: JSON.stringify(advisories) })
      .execute();
    this.metrics.timeToKnow.observe({ trigger }, run.duration_ms / 1000);
    this.metrics.lastTimeToKnow.set(run.duration_ms / 1000);
    this.metrics.assetsJudged.inc({ trigger }, assetsEvaluated);
    return run;
  }
}
