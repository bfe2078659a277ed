/**
 * Review tests: findings, their history, asset_exposure and the exposure counters after advisory replacements,
 * shared CVEs, duplicate products, deletions, no-op imports and concurrent writers, on SQLite and PostgreSQL.
 * Every scenario ends with the same invariants: counters equal a recount of asset_exposure, event numbers are
 * 1..events with no gap, and stored findings/asset_exposure equal a fresh evaluation of the stored facts.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AssetFacts } from '../core/index.js';
import { importAdvisories } from './advisories/import.testkit.js';
import { openTestServer, type TestServer } from './app.testkit.js';
import { TEST_DIALECTS } from './db/db.testkit.js';
import { CAUTION } from './exposure/writer.js';

interface AdvisoryOpts {
  id: string;
  title?: string;
  cves: string[];
  affected: { product: string; cves: string[]; fixed: string }[];
}

function advisory(o: AdvisoryOpts) {
  return {
    schema_version: 1,
    id: o.id,
    title: o.title ?? `Advisory ${o.id}`,
    summary: 'test advisory',
    published: '2024-01-01',
    cves: o.cves.map((id) => ({ id })),
    affected: o.affected.map((a) => ({
      product: a.product,
      scheme: 'semver',
      cves: a.cves,
      ranges: [{ introduced: '0', fixed: a.fixed }],
    })),
  };
}

const FOO = 'pkg:npm/foo';
/** An advisory with one CVE on FOO, fixed in `fixed`. */
const oneCve = (id: string, fixed: string) => ({
  id,
  cves: ['CVE-2099-0001'],
  affected: [{ product: FOO, cves: ['CVE-2099-0001'], fixed }],
});
const BAR = 'pkg:npm/bar';

/** Imports and waits for the recompute job; returns the import report (the job's result). */
async function importAdvisory(t: TestServer, o: AdvisoryOpts) {
  const { response, job, result } = await importAdvisories(t, advisory(o), { format: 'bulwark' });
  expect(response.statusCode, response.body).toBe(202);
  expect(job?.state, JSON.stringify(job)).toBe('succeeded');
  return result!;
}

async function tenant(t: TestServer, id: string) {
  const r = await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name: id } });
  expect(r.statusCode, r.body).toBe(201);
}

async function put(t: TestServer, tenantId: string, facts: object) {
  const id = (facts as { id: string }).id;
  const r = await t.call(t.admin, {
    method: 'PUT',
    url: `/api/v1/tenants/${tenantId}/assets/${id}`,
    payload: facts,
  });
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
}

/** The invariants every write must keep. */
async function expectConsistent(t: TestServer) {
  const k = t.db.kysely;
  // 1. Counters equal a recount.
  const recount = await sql<{ tenant_id: string; advisory_id: string; verdict: string; n: number }>`
    select tenant_id, advisory_id, verdict, count(*) as n from asset_exposure group by tenant_id, advisory_id, verdict`.execute(
    k,
  );
  const counters = await k.selectFrom('exposure_counts').selectAll().where('assets', '!=', 0).execute();
  const ck = (r: { tenant_id: string; advisory_id: string; verdict: string }) =>
    `${r.tenant_id}/${r.advisory_id}/${r.verdict}`;
  expect(Object.fromEntries(counters.map((c) => [ck(c), Number(c.assets)])), 'counters vs recount').toEqual(
    Object.fromEntries(recount.rows.map((r) => [ck(r), Number(r.n)])),
  );
  // 2. Event numbers 1..events.
  const findings = await k.selectFrom('findings').selectAll().execute();
  const events = await k.selectFrom('finding_events').selectAll().execute();
  for (const f of findings) {
    const seqs = events
      .filter((e) => e.tenant_id === f.tenant_id && e.asset_id === f.asset_id && e.cve === f.cve)
      .map((e) => Number(e.seq))
      .sort((a, b) => a - b);
    expect(seqs, `events of ${f.tenant_id}/${f.asset_id}/${f.cve}`).toEqual(
      Array.from({ length: Number(f.events) }, (_, i) => i + 1),
    );
  }
  // 3. Stored verdicts equal a fresh evaluation of the stored facts.
  const assets = await k.selectFrom('assets').select(['tenant_id', 'id', 'facts']).execute();
  const exposure = await k.selectFrom('asset_exposure').selectAll().execute();
  for (const a of assets) {
    const verdicts = t.ctx.exposure.engine.evaluate(JSON.parse(a.facts) as AssetFacts).verdicts;
    const byCve = new Map<string, string>();
    const byAdvisory = new Map<string, string>();
    for (const v of verdicts) {
      const c = byCve.get(v.cve);
      if (!c || CAUTION[v.verdict] > CAUTION[c as keyof typeof CAUTION]) byCve.set(v.cve, v.verdict);
      const d = byAdvisory.get(v.advisory);
      if (!d || CAUTION[v.verdict] > CAUTION[d as keyof typeof CAUTION])
        byAdvisory.set(v.advisory, v.verdict);
    }
    const mine = findings.filter((f) => f.tenant_id === a.tenant_id && f.asset_id === a.id);
    const stored = Object.fromEntries(mine.map((f) => [f.cve, f.verdict]));
    const expected = Object.fromEntries(mine.map((f) => [f.cve, 'not_affected']));
    for (const [cve, v] of byCve) expected[cve] = v;
    expect(stored, `findings of ${a.tenant_id}/${a.id}`).toEqual(expected);
    const storedX = Object.fromEntries(
      exposure
        .filter((x) => x.tenant_id === a.tenant_id && x.asset_id === a.id)
        .map((x) => [x.advisory_id, x.verdict]),
    );
    const expectedX = Object.fromEntries(Object.keys(storedX).map((id) => [id, 'not_affected']));
    for (const [id, v] of byAdvisory) expectedX[id] = v;
    expect(storedX, `asset_exposure of ${a.tenant_id}/${a.id}`).toEqual(expectedX);
  }
}

/** PostgreSQL: waits until `n` sessions wait on a lock while running a statement that matches `like`. */
async function waitForLockWaiters(t: TestServer, n: number, like: string) {
  for (let i = 0; i < 200; i++) {
    const r = await sql<{ n: number }>`
      select count(*) as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and query like ${like}`.execute(
      t.db.kysely,
    );
    if (Number(r.rows[0]!.n) >= n) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`no ${n} lock waiters on ${like}`);
}

describe.each(TEST_DIALECTS)('review: findings and exposure on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeEach(async () => {
    s = await openTestServer(dialect);
  });
  afterEach(async () => {
    await s?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };

  it('regression: an advisory replaced by a version that drops a product and a CVE', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    await importAdvisory(t, {
      id: 'adv-a',
      cves: ['CVE-2099-0001', 'CVE-2099-0002'],
      affected: [
        { product: FOO, cves: ['CVE-2099-0001', 'CVE-2099-0002'], fixed: '2.0.0' },
        { product: BAR, cves: ['CVE-2099-0001'], fixed: '2.0.0' },
      ],
    });
    await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '1.0.0' }] });
    await put(t, 'acme', { id: 'h2', products: [{ product: BAR, version: '1.0.0' }] });
    await expectConsistent(t);
    const run = await importAdvisory(t, oneCve('adv-a', '2.0.0'));
    expect(run.run?.assets_evaluated).toBe(2);
    await expectConsistent(t);
    const exp = (await t.call(t.admin, { method: 'GET', url: '/api/v1/advisories/adv-a/exposure' })).json();
    expect(exp.totals).toEqual({ affected: 1, unknown: 0, fixed: 0, not_affected: 1 });
  });

  it('regression: two advisories naming one CVE, one of them withdrawn from the product', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    await importAdvisory(t, oneCve('adv-a', '2.0.0'));
    await importAdvisory(t, oneCve('adv-b', '1.5.0'));
    await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '1.6.0' }] });
    await expectConsistent(t);
    await importAdvisory(t, {
      id: 'adv-a',
      cves: ['CVE-2099-0001'],
      affected: [{ product: BAR, cves: ['CVE-2099-0001'], fixed: '2.0.0' }],
    });
    await expectConsistent(t);
    const f = (
      await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/h1/exposure' })
    ).json();
    expect(f.findings[0]).toMatchObject({ cve: 'CVE-2099-0001', verdict: 'fixed', advisory_id: 'adv-b' });
  });

  it('regression: an asset listing one product twice, then deleted and registered again', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    await importAdvisory(t, oneCve('adv-a', '2.0.0'));
    await put(t, 'acme', {
      id: 'h1',
      products: [
        { product: FOO, version: '3.0.0' },
        { product: FOO, version: '1.0.0' },
      ],
    });
    await put(t, 'acme', { id: 'h2', products: [{ product: FOO, version: '1.0.0' }] });
    await expectConsistent(t);
    const del = await t.call(t.admin, { method: 'DELETE', url: '/api/v1/tenants/acme/assets/h1' });
    expect(del.statusCode).toBe(204);
    await expectConsistent(t);
    await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '3.0.0' }] });
    await expectConsistent(t);
    const h = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/acme/assets/h1/findings/CVE-2099-0001/history',
    });
    expect(h.json()).toHaveLength(1);
    await tenant(t, 'globex');
    await put(t, 'globex', { id: 'g1', products: [{ product: FOO, version: '1.0.0' }] });
    const delT = await t.call(t.admin, { method: 'DELETE', url: '/api/v1/tenants/acme?confirm=acme' });
    expect(delT.statusCode).toBe(204);
    await expectConsistent(t);
    await tenant(t, 'acme');
    await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '1.0.0' }] });
    await expectConsistent(t);
    const exp = (await t.call(t.admin, { method: 'GET', url: '/api/v1/advisories/adv-a/exposure' })).json();
    expect(exp.totals).toEqual({ affected: 2, unknown: 0, fixed: 0, not_affected: 0 });
  });

  it('regression: an import that changes nothing writes nothing, across tenants', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    await tenant(t, 'globex');
    const a = oneCve('adv-a', '2.0.0');
    await importAdvisory(t, a);
    await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '1.0.0' }] });
    await put(t, 'globex', { id: 'h1', products: [{ product: FOO, version: '3.0.0' }] });
    const again = await importAdvisory(t, a);
    expect(again.run).toMatchObject({ assets_evaluated: 2, findings_written: 0 });
    await expectConsistent(t);
  });

  it('fixed: an asset pushed while an advisory import runs is judged with the imported version', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    const v1 = oneCve('adv-a', '1.0.0');
    const v2 = { ...v1, affected: [{ product: FOO, cves: ['CVE-2099-0001'], fixed: '2.0.0' }] };
    await importAdvisory(t, v1); // 1.5.0 is fixed under v1, affected under v2
    const facts = { id: 'new1', products: [{ product: FOO, version: '1.5.0' }] };
    if (dialect === 'postgres') {
      // Hold audit_pending in EXCLUSIVE mode (reads pass, inserts wait): a facts push inserts its audit record
      // there after judging (inside its transaction), an import after its run. The push is judged with v1 and
      // waits; the import then stores v2 and runs while the push is uncommitted, so its candidates
      // (asset_products) do not include the new asset.
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let locked!: () => void;
      const haveLock = new Promise<void>((r) => {
        locked = r;
      });
      const holder = t.db.kysely.transaction().execute(async (trx) => {
        await sql`lock table audit_pending in exclusive mode`.execute(trx);
        locked();
        await gate;
      });
      await haveLock;
      const push = put(t, 'acme', facts);
      // The push's writes go as one statement (db/write-batch.ts), its audit record among them.
      await waitForLockWaiters(t, 1, 'with w0 as (%');
      const imp = importAdvisory(t, v2);
      // The import waits for the push before choosing its candidates. Give it time to get as far as it can,
      // then let the push commit.
      await new Promise((r) => setTimeout(r, 500));
      release();
      await holder;
      await push;
      await imp;
    } else {
      await Promise.all([put(t, 'acme', facts), importAdvisory(t, v2)]);
    }
    const f = (
      await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/new1/exposure' })
    ).json();
    expect(f.findings.map((x: { verdict: string }) => x.verdict)).toEqual(['affected']);
    await expectConsistent(t);
  });

  it('fixed: a tie between two advisories naming one CVE keeps its provenance across a restart', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    const a = oneCve('adv-a', '2.0.0');
    const b = { ...a, id: 'adv-b' };
    await importAdvisory(t, a);
    await importAdvisory(t, b);
    await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '1.0.0' }] });
    const before = (
      await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/h1/exposure' })
    ).json();
    // A new title for adv-a: nothing about verdicts changes.
    const retitled = await importAdvisory(t, { ...a, title: 'Advisory A, retitled' });
    expect(retitled.run?.findings_written).toBe(0);
    // A restart: the server reads the stored advisories again (as on every start).
    await t.ctx.exposure.load();
    // Re-importing adv-b unchanged must still change nothing.
    const again = await importAdvisory(t, b);
    const after = (
      await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/h1/exposure' })
    ).json();
    expect(after.findings[0].advisory_id).toBe(before.findings[0].advisory_id);
    expect(again.run?.findings_written).toBe(0);
  });

  it('fixed: pushing the same facts again, once with the tenant field, is "unchanged"', async (ctx) => {
    const t = server(ctx);
    await tenant(t, 'acme');
    const facts = { id: 'h1', products: [{ product: FOO, version: '1.0.0' }] };
    expect((await put(t, 'acme', facts)).results[0].outcome).toBe('created');
    const same = await put(t, 'acme', { ...facts, tenant: 'acme' });
    expect(same).toEqual({ results: [{ id: 'h1', outcome: 'unchanged' }], findings_written: 0 });
  });

  // Row locks and deadlocks are PostgreSQL's (SQLite has one writer at a time): the test exists on that run only.
  const onPostgres = dialect === 'postgres' ? it : () => {};
  onPostgres(
    'regression: deleting an asset takes exposure counters in key order (no deadlock with a sorted writer)',
    async (ctx) => {
      const t = server(ctx);
      await tenant(t, 'acme');
      // adv-b first: the asset's asset_exposure rows are stored b, a.
      for (const id of ['adv-b', 'adv-a']) {
        await importAdvisory(t, {
          id,
          cves: ['CVE-2099-0001'],
          affected: [{ product: FOO, cves: ['CVE-2099-0001'], fixed: '2.0.0' }],
        });
      }
      await put(t, 'acme', { id: 'h1', products: [{ product: FOO, version: '1.0.0' }] });
      await put(t, 'acme', { id: 'h2', products: [{ product: FOO, version: '1.0.0' }] });
      // Another writer (as writeVerdicts does for h2) takes the counters in key order: adv-a, then adv-b.
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let locked!: () => void;
      const haveLock = new Promise<void>((r) => {
        locked = r;
      });
      const writer = t.db.kysely
        .transaction()
        .execute(async (trx) => {
          await sql`select assets from exposure_counts where tenant_id = 'acme' and advisory_id = 'adv-a' for update`.execute(
            trx,
          );
          locked();
          await gate;
          await sql`update exposure_counts set assets = assets where tenant_id = 'acme' and advisory_id = 'adv-b'`.execute(
            trx,
          );
        })
        .then(
          () => 'ok',
          (e: Error) => e.message,
        );
      await haveLock;
      const del = t.call(t.admin, { method: 'DELETE', url: '/api/v1/tenants/acme/assets/h1' });
      await waitForLockWaiters(t, 1, '%exposure_counts%');
      release();
      const [res, w] = await Promise.all([del, writer]);
      expect({ delete: res.statusCode, writer: w }).toEqual({ delete: 204, writer: 'ok' });
    },
  );
});
