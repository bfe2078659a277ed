/**
 * The exposure service: keeps the exposure engine in step with the stored advisories and recomputes findings
 * incrementally — when an asset's facts change (that asset only) and when advisories change (only assets running
 * a product those advisories name, or holding findings from them). The time from an advisory import to the last
 * finding written is the "time to know", kept per run and as a metric.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { loadBuiltinAdvisories, loadBuiltinCatalogs } from '../../advisories/index.js';
import {
  type Advisory,
  type AssetFacts,
  advisoryValidator,
  CatalogIndex,
  ExposureEngine,
} from '../../core/index.js';
import type { AssetRepository } from '../assets/repository.js';
import { canonicalJson } from '../audit/log.js';
import { type AssetKey, BulkWriter } from '../db/bulk.js';
import type { Db } from '../db/connect.js';
import type { Database, ExposureRunTable } from '../db/schema.js';
import { WriteBatch } from '../db/write-batch.js';
import { notFound } from '../errors.js';
import { publishEvent } from '../events/outbox.js';
import type { ServerMetrics } from '../metrics.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import { ExposureRepository } from './repository.js';
import { type AssetToJudge, type WriteStats, writeVerdicts } from './writer.js';

export interface JudgeContext {
  at: string;
  reason: string;
  actor: string;
}

/** Assets judged per transaction during an advisory run. */
const RUN_BATCH = 2000;
/** Batches in flight at once on PostgreSQL. */
const RUN_LANES = 3;

/** Orders (tenant, asset) keys by code unit, as the database's keyset would in C collation. */
function compareKeys(t1: string, a1: string, t2: string, a2: string): number {
  if (t1 !== t2) return t1 < t2 ? -1 : 1;
  return a1 < a2 ? -1 : a1 > a2 ? 1 : 0;
}

/** One advisory evaluation over every tenant's assets, as the API shows it. */
export type ExposureRun = Omit<ExposureRunTable, 'advisory_ids'> & { advisories: string[] };

/** SHA-256 of canonical JSON (sorted keys): equal content, equal hash, whatever order the fields came in. */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
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

/** Options of an advisory save; `inTransaction` runs in the transaction that stores them (e.g. its audit record). */
export interface SaveOptions {
  source: string;
  trigger: string;
  onlyChanged?: boolean;
  startedAt?: number;
  inTransaction?: (trx: Transaction<Database>) => Promise<void>;
}

/** One recompute: what to re-judge, and how the run is recorded. */
export interface RecomputeInput {
  /** The run's id in exposure_runs (an import job passes its job id, so a re-run replaces its record). */
  runId: string;
  advisoryIds: string[];
  /** Products whose assets are re-judged (the advisories' own and those of the documents they replaced). */
  products: string[];
  trigger: string;
  /** When the change was asked for (ms since the epoch): the time to know counts from here. */
  startedAt: number;
}

/** How a job drives a recompute: stop between batches, progress, and a check in every write transaction. */
export interface RecomputeControl {
  signal?: AbortSignal;
  progress?: (done: number, total: number) => void;
  guard?: (trx: Transaction<Database>) => Promise<void>;
  /** Assets judged per transaction (default 2000). */
  batchSize?: number;
}

/** Advisory ids listed in one advisory.changed event (its data stays small). */
const MAX_EVENT_IDS = 200;

export class ExposureService {
  /** Bulk writes on this database (statement cache shared by every request). */
  readonly bulk: BulkWriter;
  private readonly reads: ExposureRepository;
  /** The built-in product catalogs, read once: importers and the engine both use them. */
  readonly catalogs = loadBuiltinCatalogs();
  private readonly catalogIndex = new CatalogIndex(this.catalogs);
  private byId = new Map<string, Advisory>();
  /** Document hash per advisory the engine was compiled from. */
  private hashes = new Map<string, string>();
  /** The advisory_version the engine was compiled from; null when not known (the next write that judges reloads). */
  private version: number | null = null;
  /** The reload under way for a stored version: writes that find that version in the meantime share it. */
  private reloading: { version: number; engine: Promise<ExposureEngine> } | undefined;
  engine = new ExposureEngine([], this.catalogIndex);

  constructor(
    private readonly db: Db,
    private readonly metrics: ServerMetrics,
    private readonly repos: { tenants: TenantRepository; assets: AssetRepository },
    bulk?: BulkWriter,
  ) {
    this.bulk = bulk ?? new BulkWriter(db);
    this.reads = new ExposureRepository(db);
  }

  /** Per advisory: assets by verdict over the scope, in total and per tenant. */
  async advisoryExposure(scope: TenantScope, advisoryId: string) {
    if (!this.advisory(advisoryId)) throw notFound(`advisory ${advisoryId}`);
    return this.reads.advisoryCounts(scope, advisoryId);
  }

  /** Per tenant: assets by verdict for every advisory that touches it. */
  async tenantExposure(scope: TenantScope, tenantId: string) {
    await this.repos.tenants.require(scope, tenantId);
    return this.reads.tenantCounts(scope, tenantId);
  }

  /** Per asset: the verdict per advisory and its findings. */
  async assetExposure(scope: TenantScope, tenantId: string, assetId: string) {
    await this.repos.assets.require(scope, tenantId, assetId);
    return this.reads.assetExposure(scope, tenantId, assetId);
  }

  /** Recent evaluation runs with their time to know, newest first (all-tenant scopes only). */
  runs(scope: TenantScope, limit: number): Promise<ExposureRun[]> {
    return this.reads.runs(scope, limit);
  }

  /** Writes that judge with a given engine and have not finished yet (see withEngine). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Advisory saves run one at a time: each builds the next engine from the one before. */
  private saving: Promise<unknown> = Promise.resolve();

  /**
   * Runs a write that judges assets (a facts push); `judge` judges with the advisories stored as its transaction
   * sees them (see engineAt). An advisory save in this process waits for such writes before choosing which assets
   * to re-judge.
   */
  withEngine<T>(
    write: (
      judge: (batch: WriteBatch, assets: AssetToJudge[], context: JudgeContext) => Promise<WriteStats>,
    ) => Promise<T>,
  ): Promise<T> {
    const p = write(async (batch, assets, context) =>
      assets.length
        ? writeVerdicts(batch, this.bulk, await this.engineAt(batch.trx), assets, context)
        : { assets: 0, findings: 0, events: 0 },
    );
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /** A write batch for a transaction on this database (db/write-batch.ts). */
  batch(trx: Transaction<Database>): WriteBatch {
    return new WriteBatch(this.bulk, trx, this.db.dialect);
  }

  /**
   * The engine to judge with inside `trx`: this process's engine when it was compiled from the stored version of
   * the advisories, else one compiled now from the advisories `trx` reads (it becomes this process's engine). A
   * replica thus never judges with advisories older than those stored, whether or not the advisory.changed event
   * of another replica's import reached it yet.
   *
   * The version is read in `trx` and, on PostgreSQL, its row stays locked FOR SHARE until `trx` ends, while a
   * transaction storing advisories raises it (an exclusive row lock). So a concurrent import either commits before
   * the read — the new version is read and the new advisories are judged with — or its commit waits for `trx`'s.
   * In the second case its recompute job, enqueued in its transaction, starts only after that commit: it picks its
   * candidate assets (asset_products, asset_exposure) and reads their facts from committed rows, `trx`'s included,
   * and re-judges them with the new advisories. SQLite has one writer at a time: the two never interleave.
   */
  private async engineAt(trx: Transaction<Database>): Promise<ExposureEngine> {
    const version = await this.storedVersion(trx);
    if (version === this.version) return this.engine;
    const shared = this.reloading;
    if (shared?.version === version) {
      // Compiled in another write's transaction under the same version, so from the same advisories.
      const engine = await shared.engine.catch(() => undefined);
      if (engine) return engine;
    }
    const engine = this.loadFrom(trx, version);
    this.reloading = { version, engine };
    const done = () => {
      if (this.reloading?.engine === engine) this.reloading = undefined;
    };
    engine.then(done, done);
    return engine;
  }

  /** The stored advisories' version as `trx` reads it; on PostgreSQL its row locked FOR SHARE (see engineAt). */
  private async storedVersion(trx: Kysely<Database>): Promise<number> {
    const query = trx.selectFrom('advisory_version').select('version').where('id', '=', 1);
    const row = await (this.db.dialect === 'postgres' ? query.forShare() : query).executeTakeFirstOrThrow();
    return Number(row.version);
  }

  get kysely(): Kysely<Database> {
    return this.db.kysely;
  }

  advisories(): Advisory[] {
    return [...this.byId.values()];
  }

  advisory(id: string): Advisory | undefined {
    return this.byId.get(id);
  }

  /** Reads the stored advisories and compiles the engine (idempotent: every replica calls it on advisory.changed). */
  async load(): Promise<void> {
    await this.kysely.transaction().execute((trx) => this.loadFrom(trx));
  }

  /**
   * Compiles the engine from the advisories stored as `trx` sees them, tagged with their version (`version` when
   * the caller read it in `trx`): under the version's row lock (storedVersion) the advisories `trx` reads are
   * those of that version.
   */
  private async loadFrom(trx: Kysely<Database>, version?: number): Promise<ExposureEngine> {
    const stored = version ?? (await this.storedVersion(trx));
    // In id order: the engine's rule order (and so tie-breaking) must not depend on how the table was scanned.
    const rows = await trx
      .selectFrom('advisories')
      .select(['id', 'document', 'document_hash'])
      .orderBy('id')
      .execute();
    const byId = new Map<string, Advisory>();
    const hashes = new Map<string, string>();
    for (const row of rows) {
      byId.set(row.id, advisoryValidator.parse(JSON.parse(row.document)));
      hashes.set(row.id, row.document_hash);
    }
    return this.setAdvisories(byId, hashes, stored);
  }

  private setAdvisories(
    byId: Map<string, Advisory>,
    hashes: Map<string, string>,
    version: number | null,
  ): ExposureEngine {
    const engine = new ExposureEngine([...byId.values()], this.catalogIndex);
    this.engine = engine;
    this.byId = byId;
    this.hashes = hashes;
    this.version = version;
    return engine;
  }

  /**
   * The engine for the advisories stored as `trx` sees them: the current one when its advisories are exactly
   * those (same ids, same document hashes), else one compiled from the stored documents. A batch that judges
   * with it inside `trx` never judges with advisories another replica replaced or added meanwhile.
   */
  private async engineFor(trx: Kysely<Database>): Promise<ExposureEngine> {
    const rows = await trx.selectFrom('advisories').select(['id', 'document_hash']).execute();
    const engine = this.engine;
    const hashes = this.hashes;
    if (rows.length === hashes.size && rows.every((r) => hashes.get(r.id) === r.document_hash)) return engine;
    return this.loadFrom(trx);
  }

  /** Stores the built-in packs that are new or changed since the last start, then recomputes for them. */
  async syncBuiltins(): Promise<ExposureRun | undefined> {
    const builtins = loadBuiltinAdvisories().map((l) => l.advisory);
    return this.saveAdvisories(builtins, { source: 'built-in', trigger: 'built-in', onlyChanged: true });
  }

  /**
   * Stores advisories (replacing any with the same id) and recomputes the findings they can change, in this call
   * (the start-up synchronisation of the built-in packs; imports run the recompute as a job). Returns the run, or
   * undefined when nothing changed.
   */
  saveAdvisories(advisories: Advisory[], options: SaveOptions): Promise<ExposureRun | undefined> {
    const run = this.saving.then(() => this.saveAdvisoriesNow(advisories, options));
    this.saving = run.catch(() => {});
    return run;
  }

  private async saveAdvisoriesNow(
    advisories: Advisory[],
    options: SaveOptions,
  ): Promise<ExposureRun | undefined> {
    const started = options.startedAt ?? Date.now();
    const stored = await this.kysely.transaction().execute(async (trx) => {
      const out = await this.storeAdvisories(trx, advisories, options);
      await options.inTransaction?.(trx);
      return out;
    });
    if (!stored.changed.length) return undefined;
    this.adopt(stored.changed, stored.version);
    return this.recompute({
      runId: randomUUID(),
      advisoryIds: stored.changed.map((a) => a.id),
      products: stored.products,
      trigger: options.trigger,
      startedAt: started,
    });
  }

  /**
   * Stores advisories in the caller's transaction (replacing any with the same id), raises the stored advisories'
   * version and publishes advisory.changed for them. Returns the advisories stored, the products whose assets they
   * can change (the new documents' and the replaced ones') and the new version (undefined when nothing was
   * stored). With `onlyChanged`, advisories stored with the same content are left out; otherwise every given
   * advisory counts as changed (an import re-judges what it names).
   */
  async storeAdvisories(
    trx: Transaction<Database>,
    advisories: Advisory[],
    options: { source: string; onlyChanged?: boolean },
  ): Promise<{ changed: Advisory[]; products: string[]; version?: number }> {
    const at = new Date().toISOString();
    const ids = advisories.map((a) => a.id);
    const existing = new Map(
      (ids.length
        ? await trx
            .selectFrom('advisories')
            .select(['id', 'document_hash', 'products'])
            .where('id', 'in', ids)
            .execute()
        : []
      ).map((r) => [r.id, r]),
    );
    const changed: Advisory[] = [];
    const products = new Set<string>();
    for (const advisory of advisories) {
      const hash = canonicalHash(advisory);
      const old = existing.get(advisory.id);
      if (old && old.document_hash === hash && options.onlyChanged) continue;
      changed.push(advisory);
      if (old) for (const p of JSON.parse(old.products) as string[]) products.add(p);
      for (const p of advisoryProducts(advisory)) products.add(p);
    }
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
    let version: number | undefined;
    if (changed.length) {
      // Held until commit on PostgreSQL: a write that judges meanwhile waits for this commit (see engineAt).
      const raised = await trx
        .updateTable('advisory_version')
        .set((eb) => ({ version: eb('version', '+', 1) }))
        .where('id', '=', 1)
        .returning('version')
        .executeTakeFirstOrThrow();
      version = Number(raised.version);
      await publishEvent(trx, {
        type: 'advisory.changed',
        tenantId: null,
        subject: changed.length === 1 ? `advisory:${changed[0]!.id}` : 'advisories',
        data: {
          advisory_ids: changed.slice(0, MAX_EVENT_IDS).map((a) => a.id),
          action: options.source === 'built-in' ? 'updated' : 'imported',
        },
      });
    }
    return { changed, products: [...products].sort(), ...(version !== undefined ? { version } : {}) };
  }

  /**
   * Makes advisories just committed part of this process's engine at once (other replicas reload on the event).
   * `version` is the one storeAdvisories returned: the engine takes it when it was compiled from the version just
   * before; otherwise its version is unknown and the next write that judges reloads.
   */
  adopt(changed: Advisory[], version?: number): void {
    if (!changed.length) return;
    const byId = new Map(this.byId);
    const hashes = new Map(this.hashes);
    for (const advisory of changed) {
      byId.set(advisory.id, advisory);
      hashes.set(advisory.id, canonicalHash(advisory));
    }
    const follows = version !== undefined && this.version !== null && version === this.version + 1;
    this.setAdvisories(byId, hashes, follows ? version : null);
  }

  /**
   * Re-judges every asset that runs one of `products` or holds findings of `advisoryIds`, batch by batch, each
   * batch in one transaction with the engine of the advisories stored at that moment. The writer writes only
   * what changed, so running it again (a retried or reclaimed job) ends in the same state and adds no events.
   * Between batches: `signal` stops the run (the batches written stay, each whole); `progress` gets the assets
   * judged so far out of the candidates; `guard` runs first in every batch's transaction and throws to refuse
   * the write (a job whose lease this worker lost). The run is recorded under `runId` (replaced if it exists).
   */
  async recompute(input: RecomputeInput, control: RecomputeControl = {}): Promise<ExposureRun> {
    const { advisoryIds, products, trigger, startedAt: started } = input;
    const k = this.kysely;
    const at = new Date(started).toISOString();
    const reason = `advisory ${advisoryIds.join(', ')} ${trigger === 'built-in' ? 'updated' : 'imported'}`;
    // Pushes in this process that started with an older engine finish (and commit) before the candidates are
    // chosen.
    await Promise.allSettled([...this.inFlight]);
    // The candidates' keys in one query (small: two short strings per asset), then facts batch by batch.
    const candidates = await k
      .selectFrom('asset_products')
      .select(['tenant_id', 'asset_id'])
      .where('product', 'in', products.length ? products : ['\u0000'])
      .union(
        k
          .selectFrom('asset_exposure')
          .select(['tenant_id', 'asset_id'])
          .where('advisory_id', 'in', advisoryIds.length ? advisoryIds : ['\u0000']),
      )
      .execute();
    candidates.sort((a, b) => compareKeys(a.tenant_id, a.asset_id, b.tenant_id, b.asset_id));
    const batches: AssetKey[][] = [];
    const size = control.batchSize ?? RUN_BATCH;
    for (let i = 0; i < candidates.length; i += size) {
      batches.push(candidates.slice(i, i + size).map((c) => [c.tenant_id, c.asset_id] as const));
    }
    const total = candidates.length;
    control.progress?.(0, total);
    let assetsEvaluated = 0;
    let findingsWritten = 0;
    const runBatch = async (keys: AssetKey[]) => {
      // Facts are read (and, on PostgreSQL, the asset rows locked) inside the writing transaction: a facts push that
      // commits meanwhile is either seen here or waits for this batch, never overwritten with stale findings.
      const stats = await k.transaction().execute(async (trx) => {
        await control.guard?.(trx);
        control.signal?.throwIfAborted();
        const rows = await this.bulk.selectByAssets<{ tenant_id: string; id: string; facts: string }>(
          trx,
          'assets',
          'id',
          ['tenant_id', 'id', 'facts'],
          keys,
          true,
        );
        const engine = await this.engineFor(trx);
        const batch: AssetToJudge[] = rows.map((r) => ({
          tenantId: r.tenant_id,
          assetId: r.id,
          facts: JSON.parse(r.facts) as AssetFacts,
        }));
        const writes = this.batch(trx);
        const stats = await writeVerdicts(writes, this.bulk, engine, batch, { at, reason, actor: 'system' });
        await writes.flush();
        return stats;
      });
      assetsEvaluated += stats.assets;
      findingsWritten += stats.findings;
      control.progress?.(assetsEvaluated, total);
    };
    // PostgreSQL writes several batches at once on separate connections (while one waits on the database, the
    // next is judged); SQLite has one writer, so one batch at a time. A stop is honoured between batches.
    const lanes = this.db.dialect === 'postgres' ? RUN_LANES : 1;
    // A lane that fails (or sees the stop) ends the others at their next batch; the run ends once every lane did,
    // so no batch commits after the caller was told the run ended.
    let next = 0;
    let failed = false;
    const outcomes = await Promise.allSettled(
      Array.from({ length: Math.min(lanes, batches.length) }, async () => {
        try {
          while (next < batches.length && !failed) {
            control.signal?.throwIfAborted();
            await runBatch(batches[next++]!);
            // SQLite answers synchronously: without a turn of the event loop between batches the process would
            // serve no request, write no progress and renew no lease until the whole run ended.
            await new Promise((resolve) => setImmediate(resolve));
          }
        } catch (err) {
          failed = true;
          throw err;
        }
      }),
    );
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
    control.signal?.throwIfAborted();
    const finished = Date.now();
    const run: ExposureRun = {
      id: input.runId,
      advisories: advisoryIds,
      trigger,
      started_at: at,
      finished_at: new Date(finished).toISOString(),
      duration_ms: finished - started,
      assets_evaluated: assetsEvaluated,
      findings_written: findingsWritten,
    };
    const { advisories, ...row } = run;
    const values = { ...row, advisory_ids: JSON.stringify(advisories) };
    await k.transaction().execute(async (trx) => {
      await control.guard?.(trx);
      await trx
        .insertInto('exposure_runs')
        .values(values)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({
            finished_at: values.finished_at,
            duration_ms: values.duration_ms,
            assets_evaluated: values.assets_evaluated,
            findings_written: values.findings_written,
          }),
        )
        .execute();
    });
    this.metrics.timeToKnow.observe({ trigger }, run.duration_ms / 1000);
    this.metrics.lastTimeToKnow.set(run.duration_ms / 1000);
    this.metrics.assetsJudged.inc({ trigger }, assetsEvaluated);
    return run;
  }
}
