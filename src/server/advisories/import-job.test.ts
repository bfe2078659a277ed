/**
 * The advisory import as a durable job, on SQLite and PostgreSQL through the real HTTP routes: 202 with the job,
 * progress to the number of assets judged, the former import report as the job's result, the same findings as the
 * synchronous path, idempotency keys, nothing stored for a bad document, a failed attempt retried, and a cancel that
 * stops between batches with exposure counts equal to a recount of what is stored.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../api/jobs.js';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import type { ExposureService, RecomputeControl, RecomputeInput } from '../exposure/service.js';
import { importAdvisories, waitForJob } from './import.testkit.js';

const GIN = 'pkg:golang/github.com/gin-gonic/gin';
const ASSETS = 600;

/** An OSV record for gin before 1.6.0 under a given id (each test imports its own advisory). */
const osv = (id: string, cve: string) => ({
  schema_version: '1.3.1',
  id,
  modified: '2024-05-20T16:03:47Z',
  published: '2021-04-14T20:04:52Z',
  aliases: [cve],
  summary: 'Log line injection in github.com/gin-gonic/gin',
  affected: [
    {
      package: { name: 'github.com/gin-gonic/gin', ecosystem: 'Go' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.6.0' }] }],
    },
  ],
});

/** Two tenants, ASSETS gin assets: two thirds before the fix (affected), one third after (fixed). */
async function seed(t: TestServer): Promise<void> {
  for (const tenant of ['acme', 'globex']) {
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: tenant, name: tenant },
    });
    expect(res.statusCode, res.body).toBe(201);
  }
  for (const [tenant, from, to] of [
    ['acme', 0, ASSETS / 2],
    ['globex', ASSETS / 2, ASSETS],
  ] as const) {
    const assets = [];
    for (let i = from; i < to; i++)
      assets.push({ id: `web-${i}`, products: [{ product: GIN, version: i % 3 === 2 ? '1.7.0' : '1.5.0' }] });
    const res = await t.call(t.admin, {
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/assets?source=scan`,
      payload: { assets },
    });
    expect(res.statusCode, res.body).toBe(200);
  }
}

/** exposure_counts (non-zero) beside a recount of asset_exposure: equal when the counters are consistent. */
async function counts(t: TestServer) {
  const k = t.ctx.db.kysely;
  const stored = await k
    .selectFrom('exposure_counts')
    .select(['tenant_id', 'advisory_id', 'verdict', 'assets'])
    .where('assets', '!=', 0)
    .execute();
  const recount = await k
    .selectFrom('asset_exposure')
    .select(['tenant_id', 'advisory_id', 'verdict', (eb) => eb.fn.countAll<number>().as('assets')])
    .groupBy(['tenant_id', 'advisory_id', 'verdict'])
    .execute();
  const norm = (rows: { tenant_id: string; advisory_id: string; verdict: string; assets: unknown }[]) =>
    rows.map((r) => `${r.tenant_id} ${r.advisory_id} ${r.verdict} ${Number(r.assets)}`).sort();
  return { stored: norm(stored), recount: norm(recount) };
}

async function findingsOf(t: TestServer, advisoryId: string) {
  const rows = await t.ctx.db.kysely
    .selectFrom('findings')
    .select([
      'tenant_id',
      'asset_id',
      'cve',
      'advisory_id',
      'verdict',
      'rule',
      'fact',
      'comparison',
      'fixes',
      'events',
    ])
    .where('advisory_id', '=', advisoryId)
    .execute();
  return rows.map((r) => JSON.stringify({ ...r, events: Number(r.events) })).sort();
}

async function exposureOf(t: TestServer, advisoryId: string) {
  const rows = await t.ctx.db.kysely
    .selectFrom('asset_exposure')
    .select(['tenant_id', 'asset_id', 'verdict'])
    .where('advisory_id', '=', advisoryId)
    .execute();
  return rows.map((r) => `${r.tenant_id} ${r.asset_id} ${r.verdict}`).sort();
}

async function countRows(t: TestServer, table: 'jobs' | 'advisories' | 'events'): Promise<number> {
  const r = await t.ctx.db.kysely
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Replaces the exposure service's recompute with `wrap` around the real one. */
function wrapRecompute(
  exposure: ExposureService,
  wrap: (
    real: (input: RecomputeInput, control?: RecomputeControl) => ReturnType<ExposureService['recompute']>,
    input: RecomputeInput,
    control: RecomputeControl,
  ) => ReturnType<ExposureService['recompute']>,
) {
  const real = exposure.recompute.bind(exposure);
  return vi
    .spyOn(exposure, 'recompute')
    .mockImplementation((input, control = {}) => wrap(real, input, control));
}

describe.each(TEST_DIALECTS)('advisory import as a job on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect);
    if (s) await seed(s);
  }, 120_000);
  afterAll(async () => {
    await s?.dispose();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };

  it('answers 202 with the job; the job succeeds with the import report and progress up to the assets judged', async (ctx) => {
    const t = server(ctx);
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(osv('GO-2020-0001', 'CVE-2020-36567')),
    });
    expect(res.statusCode, res.body).toBe(202);
    const accepted = res.json() as Job;
    expect(res.headers.location).toBe(`/api/v1/jobs/${accepted.id}`);
    expect(accepted).toMatchObject({ kind: 'advisories.recompute', tenant_id: null, state: 'queued' });
    // Stored before the answer: this replica reads the advisory at once.
    expect(
      (await t.call(t.admin, { method: 'GET', url: '/api/v1/advisories/go-2020-0001' })).statusCode,
    ).toBe(200);
    const job = await waitForJob(t, accepted.id);
    expect(job.state, job.error ?? '').toBe('succeeded');
    expect(job.progress).toEqual({ done: ASSETS, total: ASSETS });
    expect(job.result).toMatchObject({
      format: 'osv',
      imported: ['go-2020-0001'],
      warnings: [],
      run: {
        id: job.id,
        advisories: ['go-2020-0001'],
        trigger: 'import',
        assets_evaluated: ASSETS,
        findings_written: ASSETS,
      },
    });
    const run = (job.result as { run: { duration_ms: number } }).run;
    expect(run.duration_ms).toBeGreaterThanOrEqual(0);
    const exp = await t.call(t.admin, { method: 'GET', url: '/api/v1/advisories/go-2020-0001/exposure' });
    expect(exp.json().totals).toEqual({
      affected: ASSETS * (2 / 3),
      unknown: 0,
      fixed: ASSETS / 3,
      not_affected: 0,
    });
    const c = await counts(t);
    expect(c.stored).toEqual(c.recount);

    // The same document again: a new job that re-judges the same assets and writes nothing.
    const again = await importAdvisories(t, osv('GO-2020-0001', 'CVE-2020-36567'));
    expect(again.job?.state).toBe('succeeded');
    expect(again.result?.run).toMatchObject({ assets_evaluated: ASSETS, findings_written: 0 });
  });

  it('writes the same findings as the synchronous recompute of the same document', async (ctx) => {
    const t = server(ctx);
    const twin = await openTestServer(dialect);
    try {
      await seed(twin!);
      const doc = osv('GO-2020-0002', 'CVE-2020-90002');
      const viaJob = await importAdvisories(t, doc);
      expect(viaJob.job?.state, viaJob.job?.error ?? '').toBe('succeeded');
      const parsed = twin!.ctx.advisories.parseImport(doc);
      const run = await twin!.ctx.exposure.saveAdvisories(parsed.advisories, {
        source: 'import:osv',
        trigger: 'import',
      });
      expect(run).toMatchObject({ assets_evaluated: ASSETS, findings_written: ASSETS });
      expect(await findingsOf(t, 'go-2020-0002')).toEqual(await findingsOf(twin!, 'go-2020-0002'));
      expect(await exposureOf(t, 'go-2020-0002')).toEqual(await exposureOf(twin!, 'go-2020-0002'));
      expect((await findingsOf(t, 'go-2020-0002')).length).toBe(ASSETS);
    } finally {
      await twin?.dispose();
    }
  });

  it('an Idempotency-Key names one job: the same key answers that job and stores nothing again', async (ctx) => {
    const t = server(ctx);
    const key = `import-${dialect}-1`;
    const doc = osv('GO-2020-0003', 'CVE-2020-90003');
    const first = await importAdvisories(t, doc, { headers: { 'idempotency-key': key } });
    expect(first.job?.state).toBe('succeeded');
    expect(first.job?.idempotency_key).toBe(key);
    const jobs = await countRows(t, 'jobs');
    const events = await countRows(t, 'events');
    const second = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      payload: JSON.stringify(doc),
    });
    expect(second.statusCode, second.body).toBe(202);
    expect(second.json()).toMatchObject({ id: first.job!.id, state: 'succeeded' });
    expect(second.headers.location).toBe(`/api/v1/jobs/${first.job!.id}`);
    expect(await countRows(t, 'jobs')).toBe(jobs);
    expect(await countRows(t, 'events')).toBe(events);
    await t.ctx.audit.flush();
    const audit = await t.ctx.db.kysely
      .selectFrom('audit_log')
      .select('target')
      .where('action', '=', 'advisory.import')
      .where('target', '=', 'advisory:go-2020-0003')
      .execute();
    expect(audit).toHaveLength(1);

    const long = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(301) },
      payload: JSON.stringify(doc),
    });
    expect(long.statusCode).toBe(400);
    expect(long.json().message).toMatch(/idempotency-key/i);
  });

  it('a bad document is a 400 naming what is wrong; no job, no advisory, no event is stored', async (ctx) => {
    const t = server(ctx);
    const before = {
      jobs: await countRows(t, 'jobs'),
      advisories: await countRows(t, 'advisories'),
      events: await countRows(t, 'events'),
    };
    // Not a known feed format, so read as a Bulwark advisory: which misses its required fields.
    const bad = { id: 'bad-1', title: 'Bad', cves: 'CVE-2020-90004', affected: [] };
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(bad),
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().message).toMatch(/schema_version: required field is missing/);
    expect({
      jobs: await countRows(t, 'jobs'),
      advisories: await countRows(t, 'advisories'),
      events: await countRows(t, 'events'),
    }).toEqual(before);
  });

  it('a failed attempt is retried and the job then succeeds', async (ctx) => {
    const t = server(ctx);
    let calls = 0;
    wrapRecompute(t.ctx.exposure, (real, input, control) => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('database went away'));
      return real(input, control);
    });
    const out = await importAdvisories(t, osv('GO-2020-0005', 'CVE-2020-90005'), { timeoutMs: 20_000 });
    expect(out.job?.state, out.job?.error ?? '').toBe('succeeded');
    expect(out.job?.attempts).toBe(2);
    expect(out.job?.error).toBeNull();
    expect(out.result?.run).toMatchObject({ assets_evaluated: ASSETS, findings_written: ASSETS });
    expect(calls).toBe(2);
    const c = await counts(t);
    expect(c.stored).toEqual(c.recount);
  }, 30_000);

  it('a cancel stops the run between batches; what is stored is consistent, and a new import completes it', async (ctx) => {
    const t = server(ctx);
    let cancel: Promise<unknown> | undefined;
    let jobId = '';
    wrapRecompute(t.ctx.exposure, (real, input, control) => {
      jobId = input.runId;
      return real(input, {
        ...control,
        batchSize: 50,
        progress: (done, total) => {
          control.progress?.(done, total);
          if (done > 0 && !cancel)
            cancel = t.call(t.admin, { method: 'POST', url: `/api/v1/jobs/${jobId}/cancel` });
        },
        // Slow batches, so the cancel lands while the run is under way.
        guard: async (trx) => {
          await control.guard?.(trx);
          await new Promise((r) => setTimeout(r, 20));
        },
      });
    });
    const doc = osv('GO-2020-0006', 'CVE-2020-90006');
    const out = await importAdvisories(t, doc);
    expect((await cancel) as { statusCode: number }).toMatchObject({ statusCode: 200 });
    const job = out.job!;
    expect(job.state).toBe('cancelled');
    expect(job.progress.total).toBe(ASSETS);
    expect(job.progress.done).toBeGreaterThan(0);
    expect(job.progress.done).toBeLessThan(ASSETS);
    expect(job.progress.done % 50).toBe(0);
    // Whole batches only: every asset judged has its verdict, the others none, and the counters agree.
    expect((await exposureOf(t, 'go-2020-0006')).length).toBe(job.progress.done);
    const c = await counts(t);
    expect(c.stored).toEqual(c.recount);

    vi.restoreAllMocks();
    const rerun = await importAdvisories(t, doc);
    expect(rerun.job?.state).toBe('succeeded');
    expect(rerun.result?.run).toMatchObject({
      assets_evaluated: ASSETS,
      findings_written: ASSETS - job.progress.done,
    });
    expect((await exposureOf(t, 'go-2020-0006')).length).toBe(ASSETS);
    const after = await counts(t);
    expect(after.stored).toEqual(after.recount);
  });

  it('a worker that lost the job writes nothing more; the worker that takes it over finishes it once', async (ctx) => {
    const t = server(ctx);
    const k = t.ctx.db.kysely;
    let stolen: Promise<unknown> | undefined;
    wrapRecompute(t.ctx.exposure, (real, input, control) =>
      real(input, {
        ...control,
        batchSize: 50,
        progress: (done, total) => {
          control.progress?.(done, total);
          // Another worker takes the job over after the first batch (as after this one's lease ran out).
          if (done > 0 && !stolen && input.runId)
            stolen = k
              .updateTable('jobs')
              .set({ lease_owner: 'other-worker', lease_until: new Date(Date.now() + 60_000).toISOString() })
              .where('id', '=', input.runId)
              .execute();
        },
        guard: async (trx) => {
          await control.guard?.(trx);
          await new Promise((r) => setTimeout(r, 20));
        },
      }),
    );
    const doc = osv('GO-2020-0007', 'CVE-2020-90007');
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(doc),
    });
    expect(res.statusCode, res.body).toBe(202);
    const id = (res.json() as Job).id;
    const end = Date.now() + 20_000;
    while ((!stolen || t.ctx.jobs.worker.runningJobs().includes(id)) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    await stolen;
    expect(t.ctx.jobs.worker.runningJobs()).not.toContain(id);
    const row = await k.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'running', lease_owner: 'other-worker' });
    const written = (await exposureOf(t, 'go-2020-0007')).length;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(ASSETS);
    let c = await counts(t);
    expect(c.stored).toEqual(c.recount);

    // The other worker "dies": its lease runs out, this process's worker claims the job as its next attempt and
    // runs it to the end, with no finding written or event added twice.
    vi.restoreAllMocks();
    await k
      .updateTable('jobs')
      .set({ lease_until: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', id)
      .execute();
    t.ctx.jobs.worker.wake();
    const job = await waitForJob(t, id);
    expect(job.state, job.error ?? '').toBe('succeeded');
    expect(job.attempts).toBe(2);
    expect(job.progress).toEqual({ done: ASSETS, total: ASSETS });
    expect(job.result).toMatchObject({
      run: { assets_evaluated: ASSETS, findings_written: ASSETS - written },
    });
    expect((await exposureOf(t, 'go-2020-0007')).length).toBe(ASSETS);
    expect((await findingsOf(t, 'go-2020-0007')).length).toBe(ASSETS);
    const events = await k
      .selectFrom('finding_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('cve', '=', 'CVE-2020-90007')
      .executeTakeFirstOrThrow();
    // New findings are their own first history entry: no verdict changed, so no finding events at all.
    expect(Number(events.n)).toBe(0);
    c = await counts(t);
    expect(c.stored).toEqual(c.recount);
  }, 40_000);
});
