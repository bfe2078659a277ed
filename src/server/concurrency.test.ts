/**
 * Concurrent writers of the same assets — facts pushes, finding status changes and an advisory run — on SQLite and
 * PostgreSQL: no request fails, every asset's findings match its final facts, event numbers stay gapless, and the
 * exposure counters equal a recount.
 */
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForJob } from './advisories/import.testkit.js';
import { openTestServer, type TestServer } from './app.testkit.js';
import { TEST_DIALECTS } from './db/db.testkit.js';

const PACK = new URL('../advisories/packs/proxylogon-2021-03.yaml', import.meta.url);
const AFFECTED = '15.1.2176.2';
const FIXED = '15.1.2176.9';
const asset = (id: string, version: string) => ({
  id,
  products: [{ product: 'microsoft:exchange_server', version }],
});

describe.each(TEST_DIALECTS)('concurrent writers on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect);
  });
  afterAll(async () => {
    await s?.dispose();
  });

  it('serialise per asset: findings follow the last facts, counters and history stay exact', async (ctx) => {
    if (!s) return ctx.skip();
    const t = s;
    await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'acme', name: 'ACME' } });
    const ids = Array.from({ length: 6 }, (_, i) => `c${i}`);
    const first = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets',
      payload: { assets: ids.map((id) => asset(id, AFFECTED)) },
    });
    expect(first.statusCode).toBe(200);

    const requests: Promise<{ statusCode: number; body: string }>[] = [];
    for (let round = 0; round < 6; round++) {
      for (const id of ids) {
        const version = (round + Number(id.slice(1))) % 2 === 0 ? FIXED : AFFECTED;
        requests.push(
          t.call(t.admin, {
            method: 'PUT',
            url: `/api/v1/tenants/acme/assets/${id}`,
            payload: asset(id, version),
          }),
        );
      }
      // A batch push of every asset in reverse order, status changes, and an advisory run, all at once.
      requests.push(
        t.call(t.admin, {
          method: 'POST',
          url: '/api/v1/tenants/acme/assets',
          payload: { assets: [...ids].reverse().map((id) => asset(id, round % 2 ? AFFECTED : FIXED)) },
        }),
      );
      requests.push(
        t.call(t.admin, {
          method: 'PATCH',
          url: `/api/v1/tenants/acme/assets/c${round}/findings/CVE-2021-26855`,
          payload: { status: round % 2 ? 'open' : 'acknowledged', reason: `round ${round}` },
        }),
      );
      if (round % 3 === 0) {
        requests.push(
          t.call(t.admin, {
            method: 'POST',
            url: '/api/v1/advisories/import',
            headers: { 'content-type': 'application/yaml' },
            payload: readFileSync(PACK, 'utf8'),
          }),
        );
      }
    }
    const results = await Promise.all(requests);
    for (const r of results) expect(r.statusCode, r.body.slice(0, 300)).toBeLessThan(300);
    // The imports answered with their recompute jobs: the end state is judged once every job finished.
    for (const r of results.filter((x) => x.statusCode === 202)) {
      expect((await waitForJob(t, JSON.parse(r.body).id)).state).toBe('succeeded');
    }

    const k = t.db.kysely;
    for (const id of ids) {
      const a = (
        await t.call(t.admin, { method: 'GET', url: `/api/v1/tenants/acme/assets/${id}/exposure` })
      ).json();
      const stored = await k
        .selectFrom('assets')
        .select('facts')
        .where('tenant_id', '=', 'acme')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const version = JSON.parse(stored.facts).products[0].version;
      const expected = version === AFFECTED ? 'affected' : 'fixed';
      expect(a.advisories[0].verdict, `${id} on ${version}`).toBe(expected);
      for (const f of a.findings) expect(f.verdict, `${id} ${f.cve}`).toBe(expected);
    }
    // Event numbers per finding are 1..events with no gap or repeat.
    const findings = await k.selectFrom('findings').select(['asset_id', 'cve', 'events']).execute();
    for (const f of findings) {
      const seqs = await k
        .selectFrom('finding_events')
        .select('seq')
        .where('asset_id', '=', f.asset_id)
        .where('cve', '=', f.cve)
        .orderBy('seq')
        .execute();
      expect(seqs.map((e) => Number(e.seq))).toEqual(
        Array.from({ length: Number(f.events) }, (_, i) => i + 1),
      );
    }
    const recount = await sql<{ advisory_id: string; verdict: string; n: number }>`
      select advisory_id, verdict, count(*) as n from asset_exposure where tenant_id = 'acme' group by advisory_id, verdict`.execute(
      k,
    );
    const counters = await k
      .selectFrom('exposure_counts')
      .select(['advisory_id', 'verdict', 'assets'])
      .where('tenant_id', '=', 'acme')
      .where('assets', '!=', 0)
      .execute();
    const key = (r: { advisory_id: string; verdict: string }) => `${r.advisory_id}/${r.verdict}`;
    expect(Object.fromEntries(counters.map((c) => [key(c), Number(c.assets)]))).toEqual(
      Object.fromEntries(recount.rows.map((r) => [key(r), Number(r.n)])),
    );
  });
});
