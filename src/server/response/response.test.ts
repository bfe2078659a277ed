/**
 * Response state end to end on SQLite and PostgreSQL through the real app: observations of each kind and how the
 * newest wins, patch tracking from verdict changes, hunt-report host matching, refusals that name the field, the
 * board's counts against a recount from the raw tables for generated fleets, keyset paging, tenant scope, and the
 * typed client over real HTTP on 127.0.0.1.
 */
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClientOptions,
  assetResponse,
  type BoardCounts,
  board,
  boardAssets,
  type Observation,
  pushHuntReports,
  recordObservations,
} from '../../api/index.js';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';

const ADVISORY = 'proxylogon-2021-03';
const EXCHANGE = 'microsoft:exchange_server';
const AFFECTED = '15.1.2176.2';
const FIXED = '15.1.2176.9';

const exchange = (id: string, version: string, extra: Record<string, unknown> = {}) => ({
  id,
  products: [{ product: EXCHANGE, version }],
  ...extra,
});

const iso = (ms: number) => new Date(ms).toISOString();

describe.each(TEST_DIALECTS)('response state (%s)', (dialect) => {
  let t: TestServer | undefined;
  let admin: Caller;
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    admin = t.admin;
    for (const [id, name] of [
      ['acme', 'ACME'],
      ['globex', 'Globex'],
    ])
      expect(
        (await t.call(admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name } })).statusCode,
      ).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!t) ctx.skip();
    return t!;
  };

  const api = async (s: TestServer, method: string, url: string, payload?: object, who: Caller = admin) => {
    const res = await s.call(who, { method: method as 'GET', url, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
  const push = async (s: TestServer, tenant: string, assets: object[]) => {
    const res = await api(s, 'POST', `/api/v1/tenants/${tenant}/assets`, { assets });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };
  const observe = async (s: TestServer, tenant: string, observations: object[], who: Caller = admin) =>
    api(s, 'POST', `/api/v1/tenants/${tenant}/observations`, { observations }, who);
  const answerOf = async (s: TestServer, tenant: string, asset: string) => {
    const res = await api(
      s,
      'GET',
      `/api/v1/tenants/${tenant}/assets/${asset}/response?advisory=${ADVISORY}`,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.items[0];
  };
  const obs = (asset: string, kind: string, value: string, source: string, at: string, extra = {}) => ({
    asset_id: asset,
    advisory_id: ADVISORY,
    kind,
    value,
    source,
    observed_at: at,
    ...extra,
  });

  it('records each kind and shows it with its source, time, window and summary', async (ctx) => {
    const s = server(ctx);
    await push(s, 'acme', [exchange('k-mail01', AFFECTED, { name: 'K Mail' })]);
    const before = await answerOf(s, 'acme', 'k-mail01');
    expect(before).toMatchObject({
      exposure: { verdict: 'affected' },
      shield: { state: 'unknown', at: null, source: null },
      compromise: { state: 'unknown', at: null, source: null },
      patch: { state: 'unpatched', source: 'exposure' },
    });
    const res = await observe(s, 'acme', [
      obs('k-mail01', 'shield', 'shielded', 'scan', '2026-03-01T10:00:00Z', {
        summary: { text: 'request aborted', check: 'proxylogon-ssrf' },
      }),
      obs('k-mail01', 'compromise', 'probed', 'hunt', '2026-03-01T11:00:00+01:00', {
        window: { from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' },
        summary: { text: '3 probes', attacker_ips: ['203.0.113.9'], counts: { probes: 3 } },
      }),
      obs('k-mail01', 'patch', 'patched', 'scan', iso(Date.now() + 60_000)),
      obs('k-nothere', 'shield', 'shielded', 'scan', '2026-03-01T10:00:00Z'),
    ]);
    expect(res).toEqual({ status: 200, body: { recorded: 3, unknown_assets: ['k-nothere'] } });
    const after = await answerOf(s, 'acme', 'k-mail01');
    expect(after).toMatchObject({
      tenant_id: 'acme',
      asset_id: 'k-mail01',
      name: 'K Mail',
      shield: {
        state: 'shielded',
        at: '2026-03-01T10:00:00.000Z',
        source: 'scan',
        summary: { text: 'request aborted', check: 'proxylogon-ssrf' },
      },
      compromise: {
        state: 'probed',
        at: '2026-03-01T10:00:00.000Z',
        source: 'hunt',
        window: { from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' },
        summary: { counts: { probes: 3 } },
      },
      patch: { state: 'patched', source: 'scan' },
    });
    // Newest first; the shield and compromise observations share a time, the later recorded comes first.
    expect(after.observations.map((o: { kind: string }) => o.kind)).toEqual([
      'patch',
      'compromise',
      'shield',
    ]);
    expect(after.observations[0]).toMatchObject({
      actor: expect.any(String),
      id: expect.stringMatching(/^obs_/),
    });
    // One event and one audit record for the request.
    const events = await s.db.kysely
      .selectFrom('events')
      .selectAll()
      .where('type', '=', 'response.changed')
      .execute();
    expect(events.map((e) => JSON.parse(e.data))).toContainEqual({
      advisory_ids: [ADVISORY],
      asset_ids: ['k-mail01'],
      assets: 1,
    });
    await s.ctx.audit.flush();
    const audit = await s.db.kysely
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'observations.record')
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ recorded: 3, unknown_assets: 1 });
  });

  it('answers with the newest observation of a kind, whatever its source; ties go to the later recorded', async (ctx) => {
    const s = server(ctx);
    await push(s, 'acme', [exchange('n-mail01', AFFECTED)]);
    const shieldOf = async () => (await answerOf(s, 'acme', 'n-mail01')).shield;
    await observe(s, 'acme', [obs('n-mail01', 'shield', 'shielded', 'gateway', '2026-04-01T12:00:00Z')]);
    expect(await shieldOf()).toMatchObject({ state: 'shielded', source: 'gateway' });
    await observe(s, 'acme', [obs('n-mail01', 'shield', 'unshielded', 'scan', '2026-04-01T11:00:00Z')]);
    expect(await shieldOf()).toMatchObject({ state: 'shielded', source: 'gateway' });
    await observe(s, 'acme', [obs('n-mail01', 'shield', 'unshielded', 'mitigation', '2026-04-01T13:00:00Z')]);
    expect(await shieldOf()).toMatchObject({ state: 'unshielded', source: 'mitigation' });
    // Same time: the one recorded later wins, in one request and across requests.
    await observe(s, 'acme', [
      obs('n-mail01', 'shield', 'shielded', 'scan', '2026-04-01T13:00:00Z'),
      obs('n-mail01', 'shield', 'unknown', 'gateway', '2026-04-01T13:00:00Z'),
    ]);
    expect(await shieldOf()).toMatchObject({ state: 'unknown', source: 'gateway' });
    await observe(s, 'acme', [obs('n-mail01', 'shield', 'shielded', 'scan', '2026-04-01T13:00:00Z')]);
    expect(await shieldOf()).toMatchObject({ state: 'shielded', source: 'scan' });
  });

  it('shows patched once the verdict goes affected → fixed, and unpatched again when it is affected again', async (ctx) => {
    const s = server(ctx);
    const boardOf = async () =>
      (await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board?q=globex`)).body.tenants.items[0].counts;
    await push(s, 'globex', [exchange('p-mail01', FIXED)]);
    // Fixed without having been affected on record: not known to be patched.
    expect((await answerOf(s, 'globex', 'p-mail01')).patch).toMatchObject({ state: 'unknown' });
    await push(s, 'globex', [exchange('p-mail01', AFFECTED)]);
    expect((await answerOf(s, 'globex', 'p-mail01')).patch).toMatchObject({
      state: 'unpatched',
      source: 'exposure',
    });
    const patchedBefore = (await boardOf()).patched;
    await push(s, 'globex', [exchange('p-mail01', FIXED)]);
    const patched = (await answerOf(s, 'globex', 'p-mail01')).patch;
    expect(patched).toMatchObject({ state: 'patched', source: 'exposure', at: expect.any(String) });
    expect((await boardOf()).patched).toBe(patchedBefore + 1);
    const list = await api(
      s,
      'GET',
      `/api/v1/advisories/${ADVISORY}/board/tenants/globex/assets?state=patched`,
    );
    expect(list.body.items.map((a: { asset_id: string }) => a.asset_id)).toContain('p-mail01');
    await push(s, 'globex', [exchange('p-mail01', AFFECTED)]);
    expect((await answerOf(s, 'globex', 'p-mail01')).patch).toMatchObject({ state: 'unpatched' });
    expect((await boardOf()).patched).toBe(patchedBefore);
    // Removing the asset takes it off the board.
    const assetsBefore = (await boardOf()).assets;
    await push(s, 'globex', [exchange('p-gone', AFFECTED)]);
    expect((await boardOf()).assets).toBe(assetsBefore + 1);
    expect((await api(s, 'DELETE', '/api/v1/tenants/globex/assets/p-gone')).status).toBe(204);
    expect((await boardOf()).assets).toBe(assetsBefore);
    // Not affected (the product is gone): not applicable.
    await push(s, 'globex', [{ id: 'p-mail01', products: [] }]);
    expect((await answerOf(s, 'globex', 'p-mail01')).patch).toMatchObject({ state: 'not_applicable' });
  });

  it('matches hunt hosts by id, name and address; ambiguous and unknown hosts come back, none is dropped', async (ctx) => {
    const s = server(ctx);
    await push(s, 'acme', [
      exchange('hx1', AFFECTED, { name: 'exch-a' }),
      exchange('hx2', AFFECTED, { endpoints: ['https://mail2.acme.example/owa', '10.0.0.7:443'] }),
      exchange('hx3', AFFECTED, { name: 'dup' }),
      exchange('hx4', AFFECTED, { name: 'DUP' }),
    ]);
    const report = (host: string, verdict: string, addresses?: string[]) => ({
      host,
      ...(addresses ? { addresses } : {}),
      verdict,
      window: { from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' },
      summary: { text: `hunt of ${host}` },
    });
    const reports = [
      report('HX1', 'clean'),
      report('EXCH-A', 'compromised'),
      report('srv-7', 'exploitation_attempted', ['10.0.0.7']),
      report('MAIL2.acme.example', 'probed'),
      report('dup', 'clean'),
      report('nowhere', 'clean', ['192.0.2.1']),
    ];
    const res = await api(s, 'POST', '/api/v1/tenants/acme/hunt-reports', {
      advisory_id: ADVISORY,
      observed_at: '2026-03-02T00:00:00Z',
      reports,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      matched: [
        { host: 'HX1', asset_id: 'hx1' },
        { host: 'EXCH-A', asset_id: 'hx1' },
        { host: 'srv-7', asset_id: 'hx2' },
        { host: 'MAIL2.acme.example', asset_id: 'hx2' },
      ],
      unmatched: [
        { host: 'dup', reason: 'ambiguous: hx3, hx4' },
        { host: 'nowhere', reason: 'no asset has this id, name or address' },
      ],
    });
    expect(res.body.matched.length + res.body.unmatched.length).toBe(reports.length);
    // Same time, later in the request: the last report of a host is its answer.
    expect((await answerOf(s, 'acme', 'hx1')).compromise).toMatchObject({
      state: 'compromised',
      source: 'hunt',
      window: { from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' },
      summary: { text: 'hunt of EXCH-A' },
    });
    expect((await answerOf(s, 'acme', 'hx2')).compromise).toMatchObject({ state: 'probed' });
    expect((await answerOf(s, 'acme', 'hx3')).compromise).toMatchObject({ state: 'unknown' });
    const bad = await api(s, 'POST', '/api/v1/tenants/acme/hunt-reports', {
      advisory_id: 'no-such-advisory',
      reports: [report('hx1', 'clean')],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^advisory_id: /);
  });

  it('refuses bad input with one message naming the index and field', async (ctx) => {
    const s = server(ctx);
    await push(s, 'acme', [exchange('v-mail01', AFFECTED)]);
    const good = obs('v-mail01', 'shield', 'shielded', 'scan', '2026-03-01T00:00:00Z');
    const cases: [object[], RegExp][] = [
      [
        [good, { ...good, value: 'compromised' }],
        /^observations\[1\]\.value: "compromised" is not a shield value/,
      ],
      [
        [good, { ...good, advisory_id: 'nope' }],
        /^observations\[1\]\.advisory_id: advisory "nope" does not exist/,
      ],
      [
        [{ ...good, kind: 'mood' }],
        /^body\.observations\[0\]\.kind: must be one of: shield, compromise, patch/,
      ],
      [
        [{ ...good, observed_at: iso(Date.now() + 3 * 3600_000) }],
        /^observations\[0\]\.observed_at: .* is in the future/,
      ],
      [[{ ...good, summary: { text: 'x'.repeat(501) } }], /^body\.observations\[0\]\.summary\.text/],
      [
        [{ ...good, window: { from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' } }],
        /^observations\[0\]\.window: from .* is after to/,
      ],
      [[], /^body\.observations: /],
    ];
    for (const [observations, message] of cases) {
      const res = await observe(s, 'acme', observations);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.message).toMatch(message);
    }
    expect((await observe(s, 'no-such-tenant', [good])).status).toBe(404);
    const customer = await s.userSession({
      email: 'cust-v@acme.example',
      role: 'customer',
      tenant_id: 'acme',
    });
    expect((await observe(s, 'acme', [good], customer)).status).toBe(403);
    const tech = await s.token({ role: 'technician', tenant_id: 'acme' });
    expect((await observe(s, 'acme', [good], tech)).status).toBe(200);
    expect((await observe(s, 'globex', [good], tech)).status).toBe(404);
    const cursor = await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board?cursor=garbage`);
    expect(cursor.status).toBe(400);
    expect(cursor.body.message).toMatch(/^cursor: /);
    expect((await api(s, 'GET', '/api/v1/advisories/no-such-advisory/board')).status).toBe(404);
  });

  it('pages a tenant worst first with keyset cursors: every asset exactly once, in order', async (ctx) => {
    const s = server(ctx);
    await api(s, 'POST', '/api/v1/tenants', { id: 'pager', name: 'Pager' });
    const ids = Array.from({ length: 23 }, (_, i) => `pg-${String(i).padStart(2, '0')}`);
    await push(
      s,
      'pager',
      ids.map((id, i) => exchange(id, i % 3 === 0 ? FIXED : AFFECTED)),
    );
    await observe(
      s,
      'pager',
      ids.flatMap((id, i) => [
        ...(i % 4 === 0 ? [obs(id, 'compromise', 'compromised', 'hunt', '2026-03-01T00:00:00Z')] : []),
        ...(i % 5 === 0 ? [obs(id, 'shield', 'shielded', 'gateway', '2026-03-01T00:00:00Z')] : []),
      ]),
    );
    const seen: { asset_id: string; rank: number }[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const qs: string = `limit=4${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board/tenants/pager/assets?${qs}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      for (const a of res.body.items) {
        const rank =
          a.compromise.state === 'compromised'
            ? 0
            : a.exposure.verdict === 'affected'
              ? a.shield.state === 'shielded'
                ? 2
                : 1
              : 4;
        seen.push({ asset_id: a.asset_id, rank });
      }
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen.map((x) => x.asset_id).sort()).toEqual(ids);
    const order = [...seen].sort((a, b) => a.rank - b.rank || (a.asset_id < b.asset_id ? -1 : 1));
    expect(seen).toEqual(order);
    // Tenants page the same way: limit 1 over every tenant, each once, for every sort.
    for (const sort of ['worst', 'name', 'exposed', 'compromised', 'patched']) {
      const all = (await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board?sort=${sort}`)).body.tenants
        .items;
      const paged: string[] = [];
      let next: string | null = null;
      for (let i = 0; i < 50; i++) {
        const url: string = `/api/v1/advisories/${ADVISORY}/board?sort=${sort}&limit=1${next ? `&cursor=${next}` : ''}`;
        const res = await api(s, 'GET', url);
        paged.push(...res.body.tenants.items.map((x: { tenant_id: string }) => x.tenant_id));
        next = res.body.tenants.next_cursor;
        if (!next) break;
      }
      expect(paged, sort).toEqual(all.map((x: { tenant_id: string }) => x.tenant_id));
    }
  });

  it('counts on the board equal a recount from the raw tables for generated fleets', async (ctx) => {
    const s = server(ctx);
    const now = Date.now();
    const times = [now - 10 * 86_400_000, now - 86_400_000, now + 20 * 60_000].map(iso);
    const observation = fc.record({
      kind: fc.constantFrom('shield', 'compromise', 'patch'),
      pick: fc.nat(4),
      source: fc.constantFrom('scan', 'hunt', 'gateway', 'mitigation'),
      at: fc.constantFrom(...times),
    });
    const asset = fc.record({
      // Versions pushed one after the other; empty: an asset the advisory does not concern by its facts.
      versions: fc.array(fc.constantFrom(AFFECTED, FIXED, 'none'), { minLength: 1, maxLength: 3 }),
      observations: fc.array(observation, { maxLength: 3 }),
    });
    const fleet = fc.array(fc.array(asset, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fleet, async (tenants) => {
        const prefix = `fc${++run}x`;
        for (const [ti, assets] of tenants.entries()) {
          const tenant = `${prefix}-t${ti}`;
          expect((await api(s, 'POST', '/api/v1/tenants', { id: tenant, name: tenant })).status).toBe(201);
          const rounds = Math.max(...assets.map((a) => a.versions.length));
          for (let r = 0; r < rounds; r++) {
            await push(
              s,
              tenant,
              assets.map((a, ai) => {
                const v = a.versions[Math.min(r, a.versions.length - 1)]!;
                return v === 'none' ? { id: `a${ai}`, products: [] } : exchange(`a${ai}`, v);
              }),
            );
          }
          const values = {
            shield: ['shielded', 'unshielded', 'unknown'],
            compromise: ['compromised', 'exploitation_attempted', 'probed', 'clean', 'insufficient_logs'],
            patch: ['patched', 'unpatched', 'unknown'],
          } as const;
          const list = assets.flatMap((a, ai) =>
            a.observations.map((o) =>
              obs(`a${ai}`, o.kind, values[o.kind][o.pick % values[o.kind].length]!, o.source, o.at),
            ),
          );
          if (list.length) expect((await observe(s, tenant, list)).status).toBe(200);
        }
        const res = await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board?q=${prefix}-&sort=name`);
        expect(res.status).toBe(200);
        const expected = await recount(s, prefix);
        const got = Object.fromEntries(
          res.body.tenants.items.map((x: { tenant_id: string; counts: BoardCounts }) => [
            x.tenant_id,
            x.counts,
          ]),
        );
        expect(got).toEqual(expected);
      }),
      { numRuns: 6 },
    );
  }, 60_000);

  /** Board counts per tenant (whose id starts with prefix) recounted from asset_exposure and the observations. */
  async function recount(s: TestServer, prefix: string): Promise<Record<string, BoardCounts>> {
    const k = s.db.kysely;
    const exposure = await k
      .selectFrom('asset_exposure')
      .selectAll()
      .where('advisory_id', '=', ADVISORY)
      .where('tenant_id', 'like', `${prefix}-%`)
      .execute();
    const observations = await k
      .selectFrom('observations')
      .selectAll()
      .where('advisory_id', '=', ADVISORY)
      .where('tenant_id', 'like', `${prefix}-%`)
      .execute();
    const tenants = await k.selectFrom('tenants').select('id').where('id', 'like', `${prefix}-%`).execute();
    const latest = new Map<string, { value: string; at: string; id: string }>();
    for (const o of observations) {
      const key = `${o.tenant_id}/${o.asset_id}/${o.kind}`;
      const cur = latest.get(key);
      if (!cur || o.observed_at > cur.at || (o.observed_at === cur.at && o.id > cur.id))
        latest.set(key, { value: o.value, at: o.observed_at, id: o.id });
    }
    const assets = new Set([
      ...exposure.map((e) => `${e.tenant_id}/${e.asset_id}`),
      ...observations.map((o) => `${o.tenant_id}/${o.asset_id}`),
    ]);
    const out: Record<string, BoardCounts> = {};
    for (const t of tenants)
      out[t.id] = {
        assets: 0,
        exposed: 0,
        unknown_exposure: 0,
        shielded: 0,
        unshielded: 0,
        compromised: 0,
        patched: 0,
        clean: 0,
        not_hunted: 0,
      };
    for (const a of assets) {
      const [tenant, asset] = a.split('/') as [string, string];
      const e = exposure.find((x) => x.tenant_id === tenant && x.asset_id === asset);
      const verdict = e?.verdict ?? 'unknown';
      const shield = latest.get(`${a}/shield`)?.value;
      const compromise = latest.get(`${a}/compromise`)?.value;
      const patchObs = latest.get(`${a}/patch`);
      let patch = patchObs?.value ?? 'unknown';
      if (verdict === 'not_affected') patch = 'not_applicable';
      else if (verdict === 'affected') {
        const since = e!.affected_at ?? e!.updated_at;
        patch = patchObs && patchObs.at >= since ? patchObs.value : 'unpatched';
      } else if (verdict === 'fixed' && e!.patched_at) {
        patch = patchObs && patchObs.at >= e!.patched_at ? patchObs.value : 'patched';
      }
      const c = out[tenant]!;
      c.assets++;
      if (verdict === 'affected') c.exposed++;
      if (verdict === 'unknown') c.unknown_exposure++;
      if (verdict === 'affected' && shield === 'shielded') c.shielded++;
      if (verdict === 'affected' && shield !== 'shielded') c.unshielded++;
      if (compromise === 'compromised' || compromise === 'exploitation_attempted') c.compromised++;
      if (patch === 'patched') c.patched++;
      if (compromise === 'clean') c.clean++;
      if (verdict !== 'not_affected' && compromise === undefined) c.not_hunted++;
    }
    return out;
  }

  it("keeps tenants apart: a tenant's principals see only their own answers and counts", async (ctx) => {
    const s = server(ctx);
    await push(s, 'globex', [exchange('g-mail01', AFFECTED)]);
    await observe(s, 'globex', [
      obs('g-mail01', 'compromise', 'compromised', 'hunt', '2026-03-01T00:00:00Z'),
    ]);
    const customer = await s.token({ role: 'read_only', tenant_id: 'acme' });
    expect(
      (await api(s, 'GET', '/api/v1/tenants/globex/assets/g-mail01/response', undefined, customer)).status,
    ).toBe(404);
    expect(
      (await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board/tenants/globex/assets`, undefined, customer))
        .status,
    ).toBe(404);
    const mine = await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board`, undefined, customer);
    const all = await api(s, 'GET', `/api/v1/advisories/${ADVISORY}/board?q=acme`);
    expect(mine.body.tenants.items.map((x: { tenant_id: string }) => x.tenant_id)).toEqual(['acme']);
    expect(mine.body.totals).toEqual(all.body.tenants.items[0].counts);
    // Recording through A's path never reaches B's asset of the same id.
    const res = await observe(s, 'acme', [
      obs('g-mail01', 'shield', 'shielded', 'scan', '2026-03-01T00:00:00Z'),
    ]);
    expect(res.body).toEqual({ recorded: 0, unknown_assets: ['g-mail01'] });
  });

  it('works through the typed client over real HTTP', async (ctx) => {
    const s = server(ctx);
    await push(s, 'acme', [exchange('c-mail01', AFFECTED, { name: 'client-host' })]);
    const token = await s.call(admin, {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'client', role: 'technician' },
    });
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = s.app.server.address() as AddressInfo;
    const options: ApiClientOptions = { baseUrl: `http://127.0.0.1:${port}`, token: token.json().token };
    const observations: Observation[] = [
      {
        asset_id: 'c-mail01',
        advisory_id: ADVISORY,
        kind: 'shield',
        value: 'shielded',
        source: 'scan',
        observed_at: '2026-03-01T00:00:00Z',
      },
    ];
    expect(await recordObservations(options, 'acme', observations)).toEqual({
      recorded: 1,
      unknown_assets: [],
    });
    const hunt = await pushHuntReports(options, 'acme', {
      advisory_id: ADVISORY,
      reports: [
        {
          host: 'CLIENT-HOST',
          verdict: 'clean',
          window: { from: null, to: '2026-03-01T00:00:00Z' },
          summary: { text: 'nothing found' },
        },
      ],
    });
    expect(hunt).toEqual({ matched: [{ host: 'CLIENT-HOST', asset_id: 'c-mail01' }], unmatched: [] });
    const b = await board(options, ADVISORY, { q: 'acme' });
    expect(b).toMatchObject({ advisory_id: ADVISORY, title: expect.any(String) });
    expect(b.tenants.items[0]!.tenant_id).toBe('acme');
    const list = await boardAssets(options, ADVISORY, 'acme', { q: 'c-mail', limit: 5 });
    expect(list.items.map((a) => a.asset_id)).toEqual(['c-mail01']);
    expect(list.items[0]).toMatchObject({ shield: { state: 'shielded' }, compromise: { state: 'clean' } });
    const detail = await assetResponse(options, 'acme', 'c-mail01');
    expect(detail.items.map((i) => i.advisory_id)).toContain(ADVISORY);
  });
});
