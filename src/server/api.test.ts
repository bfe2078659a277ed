/**
 * The control plane end to end through its HTTP API, on SQLite and on PostgreSQL: setup, sign-in with CSRF,
 * tenants and assets, findings with provenance and history, fleet exposure counts, incremental recomputation on
 * fact changes and on advisory imports (time to know), validation errors, OpenAPI and metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAdvisories } from './advisories/import.testkit.js';
import { openTestServer, sessionOf, type TestServer } from './app.testkit.js';
import { CSRF_HEADER } from './context.js';
import { TEST_DIALECTS } from './db/db.testkit.js';

/** A minimal OSV record (the facts of GO-2020-0001: gin before 1.6.0), written here so the test needs no corpus. */
const OSV_GIN = JSON.stringify({
  schema_version: '1.3.1',
  id: 'GO-2020-0001',
  modified: '2024-05-20T16:03:47Z',
  published: '2021-04-14T20:04:52Z',
  aliases: ['CVE-2020-36567'],
  summary: 'Log line injection in github.com/gin-gonic/gin',
  affected: [
    {
      package: { name: 'github.com/gin-gonic/gin', ecosystem: 'Go' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.6.0' }] }],
    },
  ],
});

const exchange = (id: string, version: string, extra: object = {}) => ({
  id,
  products: [{ product: 'microsoft:exchange_server', version }],
  ...extra,
});

describe.each(TEST_DIALECTS)('control plane API on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect);
  });
  afterAll(async () => {
    await s?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };

  it('sets up once: a wrong token is refused, a second setup conflicts', async (ctx) => {
    const { app } = server(ctx);
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: { token: 'nope', email: 'x@y.z', name: 'X', password: 'long enough password' },
    });
    expect(wrong.statusCode).toBe(409); // an administrator exists already
    const me = await s!.call(s!.admin, { method: 'GET', url: '/api/v1/me' });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ role: 'admin', tenant: null, via: 'session' });
  });

  it('refuses state changes from a session without the CSRF token, and anonymous calls', async (ctx) => {
    const t = server(ctx);
    const noCsrf = { headers: { cookie: t.admin.headers.cookie! } };
    const res = await t.call(noCsrf, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: 'x', name: 'X' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('csrf');
    const anon = await t.call(undefined, { method: 'GET', url: '/api/v1/tenants' });
    expect(anon.statusCode).toBe(401);
    const badToken = await t.call(
      { headers: { authorization: 'Bearer bwk_nope' } },
      { method: 'GET', url: '/api/v1/tenants' },
    );
    expect(badToken.statusCode).toBe(401);
  });

  it('registers assets, judges them, and answers exposure per advisory, tenant and asset', async (ctx) => {
    const t = server(ctx);
    for (const [id, name] of [
      ['acme', 'ACME'],
      ['globex', 'Globex'],
    ]) {
      const r = await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name } });
      expect(r.statusCode).toBe(201);
    }
    const push = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets?source=scan',
      payload: {
        assets: [
          exchange('mail01', '15.1.2176.2'), // 2016 CU18 before the March 2021 SU: affected
          exchange('mail02', '15.1.2176.9'), // with the SU: fixed
          { id: 'web01', products: [{ product: 'pkg:golang/github.com/gin-gonic/gin', version: '1.5.0' }] },
        ],
      },
    });
    expect(push.statusCode).toBe(200);
    expect(push.json().results).toEqual([
      { id: 'mail01', outcome: 'created' },
      { id: 'mail02', outcome: 'created' },
      { id: 'web01', outcome: 'created' },
    ]);
    const g = await t.call(t.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/globex/assets/exch-legacy',
      payload: exchange('exch-legacy', '15.0.1497.2', { installed_kbs: ['KB5000871'] }),
    });
    expect(g.statusCode).toBe(200);

    const exp = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/advisories/proxylogon-2021-03/exposure',
    });
    expect(exp.statusCode).toBe(200);
    expect(exp.json()).toEqual({
      advisory: 'proxylogon-2021-03',
      totals: { affected: 1, unknown: 0, fixed: 2, not_affected: 0 },
      tenants: [
        { tenant: 'acme', counts: { affected: 1, unknown: 0, fixed: 1, not_affected: 0 } },
        { tenant: 'globex', counts: { affected: 0, unknown: 0, fixed: 1, not_affected: 0 } },
      ],
    });

    const asset = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/acme/assets/mail01/exposure',
    });
    const body = asset.json();
    expect(body.advisories).toEqual([
      expect.objectContaining({ advisory_id: 'proxylogon-2021-03', verdict: 'affected' }),
    ]);
    expect(body.findings.map((f: { cve: string }) => f.cve)).toEqual([
      'CVE-2021-26855',
      'CVE-2021-26857',
      'CVE-2021-26858',
      'CVE-2021-27065',
    ]);
    const f = body.findings[0];
    expect(f.verdict).toBe('affected');
    expect(f.provenance.fact).toContain('15.1.2176.2');
    expect(f.provenance.comparison).toMatch(/15\.1\.2176\.2/);
    expect(f.fixes.length).toBeGreaterThan(0);

    const tenantExp = await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/exposure' });
    expect(tenantExp.json().advisories).toEqual([
      { advisory: 'proxylogon-2021-03', counts: { affected: 1, unknown: 0, fixed: 1, not_affected: 0 } },
    ]);
  });

  it('re-judges only an asset whose facts changed, keeps history, and moves the counts', async (ctx) => {
    const t = server(ctx);
    const same = await t.call(t.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/mail01',
      payload: exchange('mail01', '15.1.2176.2'),
    });
    expect(same.json()).toEqual({ results: [{ id: 'mail01', outcome: 'unchanged' }], findings_written: 0 });
    const patched = await t.call(t.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/mail01',
      payload: exchange('mail01', '15.1.2176.9'),
    });
    expect(patched.json()).toEqual({ results: [{ id: 'mail01', outcome: 'updated' }], findings_written: 4 });
    const exp = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/advisories/proxylogon-2021-03/exposure',
    });
    expect(exp.json().totals).toEqual({ affected: 0, unknown: 0, fixed: 3, not_affected: 0 });
    const history = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/acme/assets/mail01/findings/CVE-2021-26855/history',
    });
    expect(
      history.json().map((e: { from_value: string | null; to_value: string }) => [e.from_value, e.to_value]),
    ).toEqual([
      [null, 'affected'],
      ['affected', 'fixed'],
    ]);
    // Exchange removed from the asset: its findings turn not_affected, history continues.
    const removed = await t.call(t.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/mail01',
      payload: { id: 'mail01', products: [] },
    });
    expect(removed.statusCode).toBe(200);
    const after = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/advisories/proxylogon-2021-03/exposure',
    });
    expect(after.json().totals).toEqual({ affected: 0, unknown: 0, fixed: 2, not_affected: 1 });
    const h2 = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/acme/assets/mail01/findings/CVE-2021-26855/history',
    });
    expect(h2.json().at(-1)).toMatchObject({ seq: 2, from_value: 'fixed', to_value: 'not_affected' });
  });

  it('files pushed assets under a site, keeps the site and first-stored time on later pushes', async (ctx) => {
    const t = server(ctx);
    const site = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/sites',
      payload: { id: 'hq', name: 'HQ' },
    });
    expect(site.statusCode).toBe(201);
    const first = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets?site=hq',
      payload: { assets: [exchange('s1', '15.2.792.3'), exchange('s2', '15.2.792.10')] },
    });
    expect(first.json().results.map((r: { outcome: string }) => r.outcome)).toEqual(['created', 'created']);
    const before = (await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/s1' })).json();
    expect(before.site_id).toBe('hq');
    const again = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets',
      payload: { assets: [exchange('s1', '15.2.792.10'), exchange('s2', '15.2.792.10')] },
    });
    expect(again.json().results.map((r: { outcome: string }) => r.outcome)).toEqual(['updated', 'unchanged']);
    const after = (await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/s1' })).json();
    expect(after).toMatchObject({ site_id: 'hq', created_at: before.created_at });
    expect(after.facts.products[0].version).toBe('15.2.792.10');
    const inSite = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/acme/assets?site=hq&sort=id',
    });
    expect(inSite.json().items.map((a: { id: string }) => a.id)).toEqual(['s1', 's2']);
    const noSite = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets?site=nowhere',
      payload: { assets: [exchange('s3', '15.2.792.10')] },
    });
    expect(noSite.statusCode).toBe(400);
    expect(noSite.json().message).toMatch(/site: nowhere does not exist/);
    // Clean up so later tests see the fleet they expect.
    for (const id of ['s1', 's2']) {
      expect(
        (await t.call(t.admin, { method: 'DELETE', url: `/api/v1/tenants/acme/assets/${id}` })).statusCode,
      ).toBe(204);
    }
  });

  it('sets a finding status with a reason, recorded in its history and the audit log', async (ctx) => {
    const t = server(ctx);
    const res = await t.call(t.admin, {
      method: 'PATCH',
      url: '/api/v1/tenants/globex/assets/exch-legacy/findings/cve-2021-26855',
      payload: { status: 'acknowledged', reason: 'customer informed' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('acknowledged');
    const audit = await t.call(t.admin, { method: 'GET', url: '/api/v1/audit?limit=1000' });
    expect(audit.json().items.some((r: { action: string }) => r.action === 'finding.status')).toBe(true);
    const verify = await t.call(t.admin, { method: 'GET', url: '/api/v1/audit/verify' });
    expect(verify.json()).toMatchObject({ ok: true });
  });

  it('imports an advisory (OSV) and re-judges only assets running its product: time to know recorded', async (ctx) => {
    const t = server(ctx);
    const imported = await importAdvisories(t, OSV_GIN);
    expect(imported.response.statusCode).toBe(202);
    expect(imported.job?.state).toBe('succeeded');
    const body = imported.result!;
    expect(body.format).toBe('osv');
    expect(body.imported).toEqual(['go-2020-0001']);
    expect(body.run).toMatchObject({ assets_evaluated: 1, findings_written: 1 });
    expect(body.run!.duration_ms).toBeGreaterThanOrEqual(0);
    const exp = await t.call(t.admin, { method: 'GET', url: '/api/v1/advisories/go-2020-0001/exposure' });
    expect(exp.json().totals).toEqual({ affected: 1, unknown: 0, fixed: 0, not_affected: 0 });
    const runs = await t.call(t.admin, { method: 'GET', url: '/api/v1/exposure/runs' });
    expect(runs.json()[0]).toMatchObject({ advisories: ['go-2020-0001'], trigger: 'import' });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/bulwark_time_to_know_seconds_count\{trigger="import"\} 1/);
    // Importing the same document again changes nothing, and still re-judges only that product's assets.
    const again = await importAdvisories(t, OSV_GIN);
    expect(again.result?.run).toMatchObject({ assets_evaluated: 1, findings_written: 0 });
  });

  it('rejects bad input with one clear 4xx naming the field', async (ctx) => {
    const t = server(ctx);
    const cases: [object, number, RegExp][] = [
      [{ method: 'POST', url: '/api/v1/tenants', payload: { id: 'bad id!', name: 'x' } }, 400, /body\.id/],
      [
        { method: 'POST', url: '/api/v1/tenants', payload: { id: 'ok', name: 'x', extra: 1 } },
        400,
        /extra.*not a known field/,
      ],
      [
        {
          method: 'POST',
          url: '/api/v1/tenants/acme/assets',
          payload: { assets: [{ id: 'x', products: [{ product: 'nope', version: '1' }] }] },
        },
        400,
        /assets\[0\]\.products\[0\]\.product/,
      ],
      [
        { method: 'PUT', url: '/api/v1/tenants/acme/assets/a1', payload: { id: 'a2' } },
        400,
        /must equal the asset id/,
      ],
      [
        { method: 'GET', url: '/api/v1/tenants/acme/assets?sort=password' },
        400,
        /sort: "password" is not sortable/,
      ],
      [{ method: 'GET', url: '/api/v1/findings?limit=100000' }, 400, /limit/],
      [
        {
          method: 'POST',
          url: '/api/v1/advisories/import',
          headers: { 'content-type': 'application/json' },
          payload: '{"hello":1}',
        },
        400,
        /.+/,
      ],
      [{ method: 'GET', url: '/api/v1/tenants/nope' }, 404, /tenant nope/],
    ];
    for (const [req, status, message] of cases) {
      const res = await t.call(t.admin, req as never);
      expect(res.statusCode, `${JSON.stringify(req)} -> ${res.body}`).toBe(status);
      expect(res.json().message).toMatch(message);
    }
  });

  it('pages, filters and sorts findings', async (ctx) => {
    const t = server(ctx);
    const all = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/findings?advisory=proxylogon-2021-03&limit=3&sort=-cve',
    });
    const body = all.json();
    expect(body.total).toBe(12);
    expect(body.items).toHaveLength(3);
    expect(body.items[0].cve).toBe('CVE-2021-27065');
    const affected = await t.call(t.admin, { method: 'GET', url: '/api/v1/findings?verdict=affected' });
    expect(affected.json().items.map((f: { asset_id: string }) => f.asset_id)).toEqual(['web01']);
    const page2 = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/findings?advisory=proxylogon-2021-03&limit=5&offset=10',
    });
    expect(page2.json().items).toHaveLength(2);
  });

  it('API tokens: scoped to role and tenant, shown once, stored hashed, revocable', async (ctx) => {
    const t = server(ctx);
    const created = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'scanner', role: 'technician', tenant_id: 'acme' },
    });
    expect(created.statusCode).toBe(201);
    const { token, info } = created.json();
    expect(token).toMatch(/^bwk_/);
    const stored = await t.db.kysely
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', info.id)
      .executeTakeFirstOrThrow();
    // The secret follows `bwk_<12-character id>_` and may itself contain `_` (split('_').pop() was flaky).
    expect(JSON.stringify(stored)).not.toContain(token.slice('bwk_'.length + 13));
    const caller = { headers: { authorization: `Bearer ${token}` } };
    const list = await t.call(caller, { method: 'GET', url: '/api/v1/tenants' });
    expect(list.json().items.map((x: { id: string }) => x.id)).toEqual(['acme']);
    expect((await t.call(caller, { method: 'GET', url: '/api/v1/tenants/globex' })).statusCode).toBe(404);
    expect((await t.call(caller, { method: 'GET', url: '/api/v1/users' })).statusCode).toBe(403);
    const write = await t.call(caller, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/new1',
      payload: exchange('new1', '15.2.792.3'),
    });
    expect(write.statusCode).toBe(200);
    const listed = await t.call(t.admin, { method: 'GET', url: '/api/v1/tokens' });
    expect(JSON.stringify(listed.json())).not.toContain(token);
    const revoke = await t.call(t.admin, { method: 'DELETE', url: `/api/v1/tokens/${info.id}` });
    expect(revoke.statusCode).toBe(204);
    expect((await t.call(caller, { method: 'GET', url: '/api/v1/tenants' })).statusCode).toBe(401);
    // A technician cannot mint an admin token.
    const tech = await t.userSession({ email: 'tech@msp.example', role: 'technician' });
    const escalate = await t.call(tech, {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'x', role: 'admin' },
    });
    expect(escalate.statusCode).toBe(403);
  });

  it('serves an OpenAPI 3.1 description covering every route, and readable docs', async (ctx) => {
    const t = server(ctx);
    const doc = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const r of t.routes.filter((x) => x.url.startsWith('/api/v1/'))) {
      const path = r.url.replace(/:(\w+)/g, '{$1}');
      expect(doc.paths[path]?.[r.method.toLowerCase()], `${r.method} ${r.url} documented`).toBeTruthy();
    }
    const ui = await t.app.inject({ method: 'GET', url: '/api/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });

  it('health, readiness and a csrf header name that matches the docs', async (ctx) => {
    const t = server(ctx);
    expect((await t.app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ method: 'GET', url: '/ready' })).json()).toEqual({
      ready: true,
      database: 'ok',
    });
    expect(CSRF_HEADER).toBe('x-csrf-token');
    const again = await sessionOf(t.app, 'admin@msp.example', 'correct horse battery');
    expect(again.headers[CSRF_HEADER]).toBeTruthy();
  });
});
