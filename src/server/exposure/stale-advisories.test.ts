/**
 * A replica never judges with advisories older than those stored, on SQLite and PostgreSQL. Replica A is the test
 * server; replica B is a second context over the same database whose event bus never runs, so no advisory.changed
 * reaches it (as while the event is on its way). An advisory replaced through A (fixed in 1.0.0, then in 2.0.0) is
 * what facts pushed through B are judged with: 1.5.0 is affected, not fixed. On PostgreSQL, an import whose
 * transaction would commit between a push's judging and the push's commit waits for that commit, and its
 * recompute job re-judges the pushed asset.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../api/jobs.js';
import { importAdvisories, waitForJob } from '../advisories/import.testkit.js';
import { createContext } from '../app.js';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { loadServerConfig } from '../config.js';
import type { AppContext } from '../context.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import { createMetrics } from '../metrics.js';
import { TenantScope } from '../scope.js';

const FOO = 'pkg:npm/foo';
const CVE = 'CVE-2099-0451';

/** The advisory `adv-stale`: CVE on FOO, fixed in `fixed`. */
function advisory(fixed: string) {
  return {
    schema_version: 1,
    id: 'adv-stale',
    title: `foo fixed in ${fixed}`,
    summary: 'test advisory',
    published: '2024-01-01',
    cves: [{ id: CVE }],
    affected: [{ product: FOO, scheme: 'semver', cves: [CVE], ranges: [{ introduced: '0', fixed }] }],
  };
}

const facts = (id: string, version: string) => ({ id, products: [{ product: FOO, version }] });

async function importThroughA(t: TestServer, fixed: string): Promise<void> {
  const { response, job } = await importAdvisories(t, advisory(fixed), { format: 'bulwark' });
  expect(response.statusCode, response.body).toBe(202);
  expect(job?.state, JSON.stringify(job)).toBe('succeeded');
}

/** The stored verdict of adv-stale and of its CVE's finding for an asset of tenant acme. */
async function stored(t: TestServer, assetId: string) {
  const k = t.db.kysely;
  const exposure = await k
    .selectFrom('asset_exposure')
    .select('verdict')
    .where('tenant_id', '=', 'acme')
    .where('asset_id', '=', assetId)
    .where('advisory_id', '=', 'adv-stale')
    .executeTakeFirst();
  const finding = await k
    .selectFrom('findings')
    .select('verdict')
    .where('tenant_id', '=', 'acme')
    .where('asset_id', '=', assetId)
    .where('cve', '=', CVE)
    .executeTakeFirst();
  return { exposure: exposure?.verdict, finding: finding?.verdict };
}

/** PostgreSQL: waits until a session waits on a lock while running a statement that matches `like`. */
async function waitForLockWaiter(t: TestServer, like: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await sql<{ n: number }>`
      select count(*) as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and query like ${like}`.execute(
      t.db.kysely,
    );
    if (Number(r.rows[0]!.n) >= 1) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`no lock waiter on ${like}`);
}

describe.each(TEST_DIALECTS)('judging with the stored advisories on a second replica (%s)', (dialect) => {
  let t: TestServer | undefined;
  let b: AppContext;
  beforeEach(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    const r = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: 'acme', name: 'Acme' },
    });
    expect(r.statusCode, r.body).toBe(201);
    await importThroughA(t, '1.0.0');
    const config = loadServerConfig({ overrides: { data_dir: t.db.dataDir, log_level: 'silent' } });
    // Replica B: its services over the same database, its bus, jobs and audit chainer never started.
    b = createContext(t.db, config, createMetrics());
    await b.exposure.load();
  });
  afterEach(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!t) ctx.skip();
    return t!;
  };
  const pushThroughB = (items: object[]) =>
    b.assets.put(TenantScope.everyTenant, 'acme', items, { source: 'test' }, { name: 'replica-b' });
  const fixedIn = (ctx: AppContext) =>
    ctx.exposure.advisory('adv-stale')?.affected[0]?.ranges[0]?.fixed ?? 'none';

  it('a push after an import B has not heard of is judged with the imported advisory', async (ctx) => {
    const a = server(ctx);
    await pushThroughB([facts('old1', '0.5.0')]);
    expect(await stored(a, 'old1')).toEqual({ exposure: 'affected', finding: 'affected' });
    await importThroughA(a, '2.0.0');
    // The import's job is done (it judged old1 at 0.5.0); B's engine still has the advisory it loaded.
    expect(fixedIn(b)).toBe('1.0.0');
    const out = await pushThroughB([facts('old1', '1.5.0'), facts('new1', '1.5.0')]);
    expect(out.results.map((r) => r.outcome)).toEqual(['updated', 'created']);
    // Under the stored advisory 1.5.0 is affected (under B's old one it would be fixed).
    expect(await stored(a, 'old1')).toEqual({ exposure: 'affected', finding: 'affected' });
    expect(await stored(a, 'new1')).toEqual({ exposure: 'affected', finding: 'affected' });
    expect(fixedIn(b)).toBe('2.0.0');
  });

  it('pushes at once after such an import all judge with it', async (ctx) => {
    const a = server(ctx);
    await importThroughA(a, '2.0.0');
    expect(fixedIn(b)).toBe('1.0.0');
    await Promise.all(Array.from({ length: 6 }, (_, i) => pushThroughB([facts(`p${i}`, '1.5.0')])));
    for (let i = 0; i < 6; i++) {
      expect(await stored(a, `p${i}`), `p${i}`).toEqual({ exposure: 'affected', finding: 'affected' });
    }
  });

  it('an import committing while a push is judged waits for it, and its job re-judges the pushed asset', async (ctx) => {
    const a = server(ctx);
    const importDoc = async (): Promise<Job> => {
      const res = await a.call(a.admin, {
        method: 'POST',
        url: '/api/v1/advisories/import?format=bulwark',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(advisory('2.0.0')),
      });
      expect(res.statusCode, res.body).toBe(202);
      return waitForJob(a, (res.json() as Job).id);
    };
    let job: Job;
    if (dialect === 'postgres') {
      // Hold audit_pending in EXCLUSIVE mode (reads pass, inserts wait): B's push judges (with the advisory fixed
      // in 1.0.0, the version stored then) and waits to insert its audit record, its transaction open.
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let locked!: () => void;
      const haveLock = new Promise<void>((r) => {
        locked = r;
      });
      const holder = a.db.kysely.transaction().execute(async (trx) => {
        await sql`lock table audit_pending in exclusive mode`.execute(trx);
        locked();
        await gate;
      });
      await haveLock;
      const push = pushThroughB([facts('new1', '1.5.0')]);
      // The push's writes go as one statement (db/write-batch.ts), its audit record among them.
      await waitForLockWaiter(a, 'with w0 as (%');
      // The import stores the new advisory, then waits to raise the version until the push has committed.
      const imported = importDoc();
      await waitForLockWaiter(a, '%update "advisory_version"%');
      release();
      await holder;
      await push;
      job = await imported;
    } else {
      // One writer at a time: the push and the import commit one after the other, in either order.
      [, job] = await Promise.all([pushThroughB([facts('new1', '1.5.0')]), importDoc()]);
    }
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(await stored(a, 'new1')).toEqual({ exposure: 'affected', finding: 'affected' });
  });
});
