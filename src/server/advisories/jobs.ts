/**
 * The advisory recompute job (`advisories.recompute`): after an import stored advisories, re-judge the assets they
 * can change, batch by batch, on whichever worker claims the job. Installation-wide (tenant_id null).
 *
 * Re-runs are safe: the writer writes (and publishes) only what changed, so an attempt that starts again after a
 * crash, a lost lease or a failure ends with the same findings, counts and events as one uninterrupted run. Every
 * batch's transaction first checks that this worker still holds the job (on PostgreSQL with FOR KEY SHARE on the
 * job's row, so no other worker can claim it while the batch writes); a worker that lost the job writes nothing.
 */
import type { Transaction } from 'kysely';
import { ADVISORY_RECOMPUTE_JOB, type ImportResult } from '../../api/index.js';
import type { Database } from '../db/schema.js';
import { isPostgres } from '../events/outbox.js';
import type { ExposureService } from '../exposure/service.js';
import { type Jobs, LeaseLostError } from '../jobs/index.js';

export const RECOMPUTE_JOB = ADVISORY_RECOMPUTE_JOB;

/** What an import hands its recompute job. */
export interface RecomputeParams {
  /** Advisories stored by the import, in the order the document gave them. */
  advisoryIds: string[];
  /** Products whose assets are re-judged. */
  products: string[];
  /** `import` (an API import). */
  trigger: string;
  /** When the import request arrived (ms since the epoch): the time to know counts from here. */
  startedAt: number;
  /** The import's format and warnings, returned in the job's result as the import reports them. */
  format: string;
  warnings: { path: string; message: string }[];
}

/** Registers the advisory job handlers on the process's worker (before the worker starts). */
export function registerAdvisoryJobs(jobs: Pick<Jobs, 'worker'>, ctx: { exposure: ExposureService }): void {
  jobs.worker.register(RECOMPUTE_JOB, async (job, jc): Promise<ImportResult> => {
    const params = recomputeParams(job.params);
    const guard = leaseGuard(job.id, jc.owner);
    const run = params.advisoryIds.length
      ? await ctx.exposure.recompute(
          {
            runId: job.id,
            advisoryIds: params.advisoryIds,
            products: params.products,
            trigger: params.trigger,
            startedAt: params.startedAt,
          },
          { signal: jc.signal, progress: (done, total) => jc.progress(done, total), guard },
        )
      : null;
    if (!run) jc.progress(0, 0);
    return { format: params.format, imported: params.advisoryIds, warnings: params.warnings, run };
  });
}

/** Throws LeaseLostError inside `trx` unless `owner` still runs job `id`; on PostgreSQL holds the row until commit. */
export function leaseGuard(id: string, owner: string): (trx: Transaction<Database>) => Promise<void> {
  return async (trx) => {
    const held = await trx
      .selectFrom('jobs')
      .select('id')
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      // KEY SHARE: the worker's own progress and heartbeat updates go on; a claim (FOR UPDATE) waits or skips.
      .$if(isPostgres(trx), (q) => q.forKeyShare())
      .executeTakeFirst();
    if (!held) throw new LeaseLostError(id);
  };
}

function recomputeParams(value: unknown): RecomputeParams {
  const p = (value ?? {}) as Partial<RecomputeParams>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!strings(p.advisoryIds) || !strings(p.products) || typeof p.startedAt !== 'number')
    throw new Error(`${RECOMPUTE_JOB}: params need advisoryIds, products and startedAt`);
  return {
    advisoryIds: p.advisoryIds,
    products: p.products,
    trigger: typeof p.trigger === 'string' ? p.trigger : 'import',
    startedAt: p.startedAt,
    format: typeof p.format === 'string' ? p.format : 'bulwark',
    warnings: Array.isArray(p.warnings) ? p.warnings : [],
  };
}
