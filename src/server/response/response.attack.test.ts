/**
 * The response routes attacked through the real app on SQLite and PostgreSQL:
 * - whatever tenant A's principals send as observations or hunt reports (B's asset ids, names and addresses as
 *   hosts, hostile text, A's or B's URL), nothing of tenant B changes, a report lands only on an asset of A, and no
 *   answer mentions anything of B the request did not itself contain;
 * - a customer user or tenant token sees only its own tenant on the board (totals, tenant list, asset list); B's
 *   asset list and response answer exactly like a tenant that does not exist;
 * - cursors: a forged, tampered or hostile one (huge or fractional numbers, NUL, another list's or another
 *   filter's) is a 400 naming `cursor`, never a 500; every cursor the board gives out is accepted back;
 * - list sizes: limit beyond the maximum is refused, q with LIKE wildcards stays literal text.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { type CursorScope, encodeCursor } from '../data/cursor.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';

const ADVISORY = 'proxylogon-2021-03';
const EXCHANGE = 'microsoft:exchange_server';
const AFFECTED = '15.1.2176.2';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

/** B's identifiers: none may appear in an answer to A unless A's request carried it. */
const B_ASSETS = [
  { id: 'zzb-mail01', name: 'zzb-secret-exchange', endpoints: ['https://mail.zzb-globex.example/owa'] },
  { id: 'zzb-mail02', name: 'shared-name', endpoints: ['10.9.9.9:443'] },
  { id: 'zzb-mail03', name: 'zzb-other', endpoints: ['[fd00::b]:443'] },
];
const A_ASSETS = [
  { id: 'a-mail01', name: 'acme-exchange', endpoints: ['https://mail.acme.example/owa'] },
  { id: 'a-mail02', name: 'shared-name', endpoints: ['10.1.1.1:443'] },
];
const B_SECRETS = [
  'zzb-mail01',
  'zzb-mail02',
  'zzb-mail03',
  'zzb-secret-exchange',
  'zzb-other',
  'zzb-globex',
  '10.9.9.9',
  'fd00::b',
  'ZZB Globex',
];

describe.each(TEST_DIALECTS)('response routes under attack on %s', (dialect) => {
  let t: TestServer | undefined;
  let customerA: Caller;
  let techA: Caller;
  let readA: Caller;

  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    for (const [id, name] of [
      ['acme', 'ACME'],
      ['globex', 'ZZB Globex'],
    ]) {
      const r = await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name } });
      expect(r.statusCode, r.body).toBe(201);
    }
    for (const [tenant, assets] of [
      ['acme', A_ASSETS],
      ['globex', B_ASSETS],
    ] as const) {
      const r = await t.call(t.admin, {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/assets`,
        payload: {
          assets: assets.map((a) => ({ ...a, products: [{ product: EXCHANGE, version: AFFECTED }] })),
        },
      });
      expect(r.statusCode, r.body).toBe(200);
    }
    // B has answers of its own that must never move.
    const r = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/globex/observations',
      payload: {
        observations: B_ASSETS.map((a) => ({
          asset_id: a.id,
          advisory_id: ADVISORY,
          kind: 'compromise',
          value: 'clean',
          source: 'hunt',
          observed_at: '2026-01-01T00:00:00Z',
          summary: { text: 'zzb-secret-exchange hunt' },
        })),
      },
    });
    expect(r.statusCode, r.body).toBe(200);
    customerA = await t.userSession({ email: 'c@acme.example', role: 'customer', tenant_id: 'acme' });
    techA = await t.token({ name: 'tech-a', role: 'technician', tenant_id: 'acme' });
    readA = await t.token({ name: 'read-a', role: 'customer', tenant_id: 'acme' });
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }): TestServer => {
    if (!t) ctx.skip();
    return t!;
  };

  const call = async (s: TestServer, who: Caller, method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await s.call(who, {
      method,
      url,
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: res.statusCode, text: res.body, body: res.body ? res.json() : undefined };
  };

  /** Everything stored of tenant B that these routes could touch. */
  const snapshotB = async (s: TestServer) => {
    const k = s.db.kysely;
    const of = (table: 'observations' | 'asset_response' | 'assets' | 'asset_exposure' | 'board_counts') =>
      k.selectFrom(table).selectAll().where('tenant_id', '=', 'globex').execute();
    const sorted = (rows: object[]) => rows.map((r) => JSON.stringify(r)).sort();
    return {
      observations: sorted(await of('observations')),
      response: sorted(await of('asset_response')),
      assets: sorted(await of('assets')),
      exposure: sorted(await of('asset_exposure')),
      events: Number(
        (
          await k
            .selectFrom('events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('tenant_id', '=', 'globex')
            .executeTakeFirstOrThrow()
        ).n,
      ),
    };
  };

  /** A B identifier in the answer that the request did not carry is a leak. */
  const leaks = (answer: string, request: string) =>
    B_SECRETS.filter(
      (x) =>
        answer.toLowerCase().includes(x.toLowerCase()) && !request.toLowerCase().includes(x.toLowerCase()),
    );

  it("for any requests of A's principals, nothing of B changes, reports land on A's assets only, no answer leaks B", async (ctx) => {
    const s = server(ctx);
    const before = await snapshotB(s);
    const aIds = new Set(A_ASSETS.map((a) => a.id));
    const hostile = fc.constantFrom(
      ...B_ASSETS.flatMap((a) => [a.id, a.name, a.id.toUpperCase(), ...a.endpoints]),
      'mail.zzb-globex.example',
      '10.9.9.9',
      'fd00::b',
      'a-mail01',
      'acme-exchange',
      'shared-name',
      'https://mail.acme.example/owa',
      '<script>alert(1)</script>',
      "x' or '1'='1",
      '%',
      '_',
      '*',
      'javascript:alert(1)',
    );
    const hostileText = fc.oneof(hostile, fc.string({ minLength: 1, maxLength: 40 }));
    const request = fc.oneof(
      fc.record({
        kind: fc.constant('hunt' as const),
        tenant: fc.constantFrom('acme', 'globex'),
        reports: fc.array(
          fc.record({
            host: hostileText.filter((h) => h.length > 0 && !h.includes('\u0000')),
            addresses: fc.array(
              hostileText.filter((h) => h.length > 0 && !h.includes('\u0000')),
              { maxLength: 3 },
            ),
            verdict: fc.constantFrom('compromised', 'clean', 'probed'),
          }),
          { minLength: 1, maxLength: 6 },
        ),
      }),
      fc.record({
        kind: fc.constant('observations' as const),
        tenant: fc.constantFrom('acme', 'globex'),
        assets: fc.array(
          fc.constantFrom('a-mail01', 'a-mail02', 'zzb-mail01', 'zzb-mail02', 'ZZB-MAIL01', 'nope'),
          { minLength: 1, maxLength: 5 },
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(request, { minLength: 1, maxLength: 4 }),
        fc.constantFrom<'techA' | 'customerA' | 'readA'>('techA', 'customerA', 'readA'),
        async (requests, whoName) => {
          const who = { techA, customerA, readA }[whoName];
          for (const r of requests) {
            const payload =
              r.kind === 'hunt'
                ? {
                    advisory_id: ADVISORY,
                    reports: r.reports.map((x) => ({
                      host: x.host,
                      addresses: x.addresses,
                      verdict: x.verdict,
                      window: { from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' },
                      summary: { text: `${x.host} <img src=x onerror=alert(1)>` },
                    })),
                  }
                : {
                    observations: r.assets.map((asset_id) => ({
                      asset_id,
                      advisory_id: ADVISORY,
                      kind: 'shield',
                      value: 'shielded',
                      source: 'scan',
                      observed_at: new Date().toISOString(),
                    })),
                  };
            const url = `/api/v1/tenants/${r.tenant}/${r.kind === 'hunt' ? 'hunt-reports' : 'observations'}`;
            const res = await call(s, who, 'POST', url, payload);
            expect(res.status, res.text).not.toBe(500);
            // Without the write permission the answer is the same 403 for any tenant, B's or A's.
            if (whoName !== 'techA') expect(res.status, res.text).toBe(403);
            else if (r.tenant === 'globex') expect(res.status, res.text).toBe(404);
            else {
              expect(res.status, res.text).toBe(200);
              if (r.kind === 'hunt')
                for (const m of res.body.matched as { asset_id: string }[])
                  expect(aIds.has(m.asset_id)).toBe(true);
            }
            expect(leaks(res.text, JSON.stringify(payload)), res.text).toEqual([]);
          }
          expect(await snapshotB(s)).toEqual(before);
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it("a customer and a tenant token see only their tenant on the board; B's lists answer like a missing tenant", async (ctx) => {
    const s = server(ctx);
    for (const who of [customerA, readA, techA]) {
      for (const query of ['', '?sort=name', '?q=zzb', '?q=globex', '?sort=compromised&limit=1000']) {
        const res = await call(s, who, 'GET', `/api/v1/advisories/${ADVISORY}/board${query}`);
        expect(res.status, res.text).toBe(200);
        expect(res.body.tenants.items.every((x: { tenant_id: string }) => x.tenant_id === 'acme')).toBe(true);
        expect(res.body.totals.assets).toBeLessThanOrEqual(A_ASSETS.length);
        expect(leaks(res.text, query)).toEqual([]);
      }
      for (const path of [
        `/api/v1/advisories/${ADVISORY}/board/tenants/{t}/assets`,
        `/api/v1/advisories/${ADVISORY}/board/tenants/{t}/assets?state=compromised&limit=5000`,
        `/api/v1/advisories/${ADVISORY}/board/tenants/{t}/assets?cursor=${b64([0, 'a'])}`,
        `/api/v1/advisories/no-such/board/tenants/{t}/assets`,
        `/api/v1/tenants/{t}/assets/zzb-mail01/response`,
        `/api/v1/tenants/{t}/assets/zzb-mail01/response?advisory=${ADVISORY}`,
      ]) {
        const b = await call(s, who, 'GET', path.replace('{t}', 'globex'));
        const none = await call(s, who, 'GET', path.replace('{t}', 'no-such-tenant'));
        expect(b.status, b.text).toBe(404);
        expect(b.text.replaceAll('globex', '<t>')).toBe(none.text.replaceAll('no-such-tenant', '<t>'));
      }
    }
  });

  it('hostile board cursors are a 400 naming cursor, never a 500', async (ctx) => {
    const s = server(ctx);
    const boardUrl = `/api/v1/advisories/${ADVISORY}/board`;
    const assetsUrl = `${boardUrl}/tenants/acme/assets`;
    const assetsScope: CursorScope = {
      sort: 'worst',
      filters: { board: ADVISORY, tenant: 'acme' },
      keyTypes: ['integer', 'string'],
    };
    const worstScope: CursorScope = {
      sort: 'worst',
      filters: { board: ADVISORY },
      keyTypes: ['integer', 'integer', 'integer', 'string'],
    };
    const nameScope: CursorScope = {
      sort: 'name',
      filters: { board: ADVISORY },
      keyTypes: ['string', 'string'],
    };
    /** A cursor of the list's own sort and filters with the key as raw JSON text (so 1e400 parses to Infinity). */
    const forged = (scope: CursorScope, keyJson: string, direction = 'a') => {
      const [version, sort, digest] = JSON.parse(
        Buffer.from(encodeCursor(scope, { direction: 'after', key: [] }), 'base64url').toString('utf8'),
      );
      const text = `[${JSON.stringify(version)},${JSON.stringify(sort)},${JSON.stringify(digest)},"${direction}",${keyJson}]`;
      return Buffer.from(text, 'utf8').toString('base64url');
    };
    const cases: [string, string][] = [
      [assetsUrl, 'not base64 !'],
      [assetsUrl, b64('x')],
      [assetsUrl, b64([0, 'a'])],
      [assetsUrl, forged(assetsScope, '[1e400,"a"]')],
      [assetsUrl, forged(assetsScope, '[1.5,"a"]')],
      [assetsUrl, forged(assetsScope, '[-1e300,"a"]')],
      [assetsUrl, forged(assetsScope, '[4503599627370496,"a"]')],
      [assetsUrl, forged(assetsScope, '[2147483648,"a"]')],
      [assetsUrl, forged(assetsScope, '[0,"a\\u0000b"]')],
      [assetsUrl, forged(assetsScope, '[0,"a"]', 'b')],
      [assetsUrl, forged(assetsScope, '[0,{"a":1}]')],
      [assetsUrl, forged({ ...assetsScope, filters: { board: ADVISORY, tenant: 'globex' } }, '[0,"a"]')],
      [`${assetsUrl}?state=compromised`, forged(assetsScope, '[0,"a"]')],
      [boardUrl, forged(worstScope, '[0,0,1e400,"a"]')],
      [boardUrl, forged(worstScope, '[0,0,0,"a\\u0000"]')],
      [boardUrl, forged(nameScope, '["a","b"]')],
      [`${boardUrl}?sort=name`, forged(nameScope, '["a\\u0000","b"]')],
      [`${boardUrl}?sort=name&q=x`, forged(nameScope, '["a","b"]')],
      [boardUrl, b64({})],
      [boardUrl, b64(null)],
    ];
    for (const [url, cursor] of cases) {
      const sep = url.includes('?') ? '&' : '?';
      const res = await call(s, techA, 'GET', `${url}${sep}cursor=${encodeURIComponent(cursor)}`);
      expect(res.status, `${url} ${cursor}: ${res.text}`).toBe(400);
      expect(res.body.message).toMatch(/cursor/);
    }
  });

  it('every next_cursor of the board is accepted back, also under long tenant names', async (ctx) => {
    const s = server(ctx);
    const admin = s.admin;
    for (let i = 0; i < 3; i++) {
      const r = await call(s, admin, 'POST', '/api/v1/tenants', {
        id: `long-${i}-${'x'.repeat(100)}`,
        name: `名前${i}${'\u0001"'.repeat(40)}${'長'.repeat(110)}`,
      });
      expect(r.status, r.text).toBe(201);
    }
    for (const sort of ['worst', 'name', 'exposed', 'compromised', 'patched']) {
      let cursor: string | null = null;
      const seen: string[] = [];
      for (let page = 0; page < 20; page++) {
        const q = `sort=${sort}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await call(s, admin, 'GET', `/api/v1/advisories/${ADVISORY}/board?${q}`);
        expect(res.status, `${sort} page ${page}: ${res.text}`).toBe(200);
        seen.push(...res.body.tenants.items.map((x: { tenant_id: string }) => x.tenant_id));
        cursor = res.body.tenants.next_cursor;
        if (!cursor) break;
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.length).toBeGreaterThanOrEqual(5);
    }
  });

  it('q with LIKE wildcards is literal text; limits beyond the maximum are refused', async (ctx) => {
    const s = server(ctx);
    const base = `/api/v1/advisories/${ADVISORY}/board/tenants/acme/assets`;
    const all = await call(s, techA, 'GET', base);
    expect(all.status).toBe(200);
    expect(all.body.items.length).toBe(A_ASSETS.length);
    for (const q of ['%', '_', '%_%']) {
      const res = await call(s, techA, 'GET', `${base}?q=${encodeURIComponent(q)}`);
      expect(res.status, res.text).toBe(200);
      expect(res.body.items, q).toEqual([]);
    }
    for (const url of [`${base}?limit=1001`, `/api/v1/advisories/${ADVISORY}/board?limit=1001`]) {
      const res = await call(s, techA, 'GET', url);
      expect(res.status, res.text).toBe(400);
      expect(res.body.message).toMatch(/limit/);
    }
  });
});
