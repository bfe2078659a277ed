/**
 * Advisory use cases: listing and reading the loaded advisories, and importing a document in any supported feed
 * format — parsed, stored with its audit record and its recompute job in one transaction; the job (jobs.ts)
 * re-judges the findings it can change.
 */

import {
  applyKev,
  detectFormat,
  ImportError,
  importDocument,
  parseAdvisory,
} from '../../advisories/index.js';
import type { AdvisoryListQuery, AdvisorySummary, ImportFormat, Page } from '../../api/index.js';
import { MAX_IDEMPOTENCY_KEY } from '../../api/index.js';
import type { Job } from '../../api/jobs.js';
import { type Advisory, DataFileError } from '../../core/index.js';
import { appendAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../data/page.js';
import type { Db } from '../db/connect.js';
import { badRequest, notFound } from '../errors.js';
import { advisoryProducts, type ExposureService } from '../exposure/service.js';
import { type JobQueue, SCHEDULE_KEY_PREFIX } from '../jobs/index.js';
import type { TenantScope } from '../scope.js';
import { RECOMPUTE_JOB, type RecomputeParams } from './jobs.js';

/** An import document parsed into advisories, not yet stored. */
export interface ParsedImport {
  format: ImportFormat;
  advisories: Advisory[];
  warnings: { path: string; message: string }[];
}

function summary(a: Advisory): AdvisorySummary {
  return {
    id: a.id,
    title: a.title,
    cves: a.cves.map((c) => c.id),
    products: advisoryProducts(a),
    published: a.published ?? null,
    kev: a.cves.some((c) => !!c.kev),
  };
}

export class AdvisoryService {
  constructor(
    private readonly db: Db,
    private readonly exposure: ExposureService,
  ) {}

  list(q: AdvisoryListQuery): Page<AdvisorySummary> {
    let list = this.exposure.advisories().map(summary);
    if (q.q) {
      const needle = q.q.toLowerCase();
      list = list.filter(
        (a) => a.id.toLowerCase().includes(needle) || a.title.toLowerCase().includes(needle),
      );
    }
    const { product, cve } = q;
    if (product) list = list.filter((a) => a.products.includes(product));
    if (cve) list = list.filter((a) => a.cves.includes(cve.toUpperCase()));
    const desc = q.sort?.startsWith('-');
    const key = (q.sort ?? 'id').replace(/^[-+]/, '');
    if (key !== 'id' && key !== 'title' && key !== 'published') {
      throw badRequest(`sort: use one of id, title, published`);
    }
    list.sort((a, b) => String(a[key] ?? '').localeCompare(String(b[key] ?? '')) * (desc ? -1 : 1));
    const limit = Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const offset = q.offset ?? 0;
    return { items: list.slice(offset, offset + limit), total: list.length, limit, offset };
  }

  get(id: string): Advisory {
    const a = this.exposure.advisory(id);
    if (!a) throw notFound(`advisory ${id}`);
    return a;
  }

  /**
   * Parses an import document (a JSON body already parsed, or XML/YAML text); the format is told from the content
   * unless given. Bad documents are one 400 naming what is wrong.
   */
  parseImport(body: unknown, format?: ImportFormat): ParsedImport {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    if (!text || text === 'null') throw badRequest('body: send the advisory document');
    const chosen: ImportFormat = format ?? (detectFormat(text) as ImportFormat | undefined) ?? 'bulwark';
    try {
      if (chosen === 'bulwark')
        return { format: chosen, advisories: [parseAdvisory(text, 'body')], warnings: [] };
      const catalogs = this.exposure.catalogs;
      if (chosen === 'kev') {
        const imported = importDocument(text, { origin: 'api', catalogs, format: 'kev' });
        const { advisories: enriched, enriched: ids } = applyKev(this.exposure.advisories(), imported.kev);
        return {
          format: chosen,
          advisories: enriched.filter((a) => a.cves.some((c) => ids.includes(c.id))),
          warnings: imported.warnings,
        };
      }
      const imported = importDocument(text, { origin: 'api', catalogs, format: chosen });
      return { format: chosen, advisories: imported.advisories, warnings: imported.warnings };
    } catch (err) {
      if (err instanceof ImportError || err instanceof DataFileError) throw badRequest(err.message);
      throw err;
    }
  }

  /**
   * Imports an advisory document: stores its advisories, the audit record, the advisory.changed event and the
   * recompute job (`advisories.recompute`) in one transaction, and returns the job; its result, once it
   * succeeded, is what the import reports (ImportResult). A bad document is a 400 and stores nothing. With an
   * idempotency key already used, the job it named is returned and nothing is stored again. Advisories are shared
   * by every tenant and an import re-judges every tenant's assets, so it needs a scope that covers every tenant.
   */
  async import(
    scope: TenantScope,
    input: { body: unknown; format?: ImportFormat; idempotencyKey?: string },
    actor: Actor,
    queue: JobQueue,
  ): Promise<Job> {
    scope.requireAll('advisories are shared by every tenant; importing needs an operator account');
    const started = Date.now();
    const key = input.idempotencyKey;
    if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY))
      throw badRequest(`Idempotency-Key: must be 1 to ${MAX_IDEMPOTENCY_KEY} characters`);
    if (key?.startsWith(SCHEDULE_KEY_PREFIX))
      throw badRequest(
        `Idempotency-Key: keys starting with "${SCHEDULE_KEY_PREFIX}" are the server's own (scheduled jobs); choose another`,
      );
    const parsed = this.parseImport(input.body, input.format);
    const { job, changed, version } = await this.db.kysely.transaction().execute(async (trx) => {
      const enqueue = (params: RecomputeParams | Record<string, never>) =>
        queue.enqueue(trx, {
          kind: RECOMPUTE_JOB,
          tenantId: null,
          params,
          createdBy: actor.name,
          ...(key !== undefined ? { idempotencyKey: key } : {}),
        });
      if (key !== undefined) {
        const used = await trx
          .selectFrom('jobs')
          .select('id')
          .where('idempotency_key', '=', key)
          .executeTakeFirst();
        // The key's job (or a 409 when it names another kind of job); this document is not stored again.
        if (used) return { job: await enqueue({}), changed: [], version: undefined };
      }
      const stored = await this.exposure.storeAdvisories(trx, parsed.advisories, {
        source: `import:${parsed.format}`,
      });
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId: null,
        action: 'advisory.import',
        target:
          parsed.advisories
            .map((a) => `advisory:${a.id}`)
            .join(',')
            .slice(0, 500) || 'advisory:(none)',
        detail: {
          format: parsed.format,
          advisories: parsed.advisories.length,
          warnings: parsed.warnings.length,
        },
      });
      const job = await enqueue({
        advisoryIds: stored.changed.map((a) => a.id),
        products: stored.products,
        trigger: 'import',
        startedAt: started,
        format: parsed.format,
        warnings: parsed.warnings,
      });
      return { job, changed: stored.changed, version: stored.version };
    });
    this.exposure.adopt(changed, version);
    queue.wake();
    return job;
  }
}
