/**
 * Keyset cursors of the asset list and the audit log attacked on SQLite and PostgreSQL: a cursor built by hand
 * with a key the database cannot take (NUL in text, integers beyond 64 bits' safe range, fractions) or for
 * another tenant, sort or filter is a 400 naming `cursor`, never a 500 and never another tenant's rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import { encodeCursor } from './cursor.js';

const raw = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

describe.each(TEST_DIALECTS)('keyset cursors under attack on %s', (dialect) => {
  let t: TestServer | undefined;
  let techA: Caller;
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    for (const id of ['acme', 'globex']) {
      const r = await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name: id } });
      expect(r.statusCode, r.body).toBe(201);
      const a = await t.call(t.admin, {
        method: 'POST',
        url: `/api/v1/tenants/${id}/assets`,
        payload: { assets: [1, 2, 3].map((n) => ({ id: `${id}-${n}`, name: `${id} host ${n}` })) },
      });
      expect(a.statusCode, a.body).toBe(200);
    }
    techA = await t.token({ name: 'tech-a', role: 'technician', tenant_id: 'acme' });
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }): TestServer => {
    if (!t) ctx.skip();
    return t!;
  };

  it('hand-made cursors the database cannot take are a 400 naming cursor, never a 500', async (ctx) => {
    const s = server(ctx);
    const assets = { sort: 'name', filters: { tenant: 'acme' }, keyTypes: ['string', 'string'] as const };
    const assetsById = { sort: 'id', filters: { tenant: 'acme' }, keyTypes: ['string'] as const };
    const audit = { sort: 'seq', filters: {}, keyTypes: ['integer'] as const };
    const auditAt = { sort: 'at', filters: {}, keyTypes: ['string', 'integer'] as const };
    const cases: [string, string][] = [
      [
        '/api/v1/tenants/acme/assets?sort=name',
        encodeCursor(assets, { direction: 'after', key: ['a\u0000', 'b'] }),
      ],
      ['/api/v1/tenants/acme/assets', encodeCursor(assetsById, { direction: 'after', key: ['\u0000'] })],
      ['/api/v1/tenants/acme/assets', encodeCursor(assetsById, { direction: 'before', key: ['x\u0000y'] })],
      ['/api/v1/audit', encodeCursor(audit, { direction: 'after', key: [2 ** 53 - 1] })],
      ['/api/v1/audit', encodeCursor(audit, { direction: 'after', key: [-(2 ** 53 - 1)] })],
      [
        '/api/v1/audit',
        raw([1, 'seq', encodeCursor(audit, { direction: 'after', key: [1] }).slice(0, 0), 'a', [1.5]]),
      ],
      ['/api/v1/audit?sort=at', encodeCursor(auditAt, { direction: 'after', key: ['\u0000', 1] })],
      ['/api/v1/audit?sort=at', encodeCursor(auditAt, { direction: 'after', key: ['not a time', 2 ** 40] })],
    ];
    for (const [url, cursor] of cases) {
      const who = url.startsWith('/api/v1/audit') ? s.admin : techA;
      const res = await s.call(who, {
        method: 'GET',
        url: `${url}${url.includes('?') ? '&' : '?'}cursor=${cursor}`,
      });
      expect(res.statusCode, `${url} ${cursor}: ${res.body}`).not.toBe(500);
      if (res.statusCode !== 200) {
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json().message).toMatch(/^cursor: /);
      }
    }
  });

  it("a cursor given out for B's list is refused on A's and never shows B's rows", async (ctx) => {
    const s = server(ctx);
    const b = await s.call(s.admin, { method: 'GET', url: '/api/v1/tenants/globex/assets?limit=1' });
    expect(b.statusCode, b.body).toBe(200);
    const cursor = b.json().next_cursor as string;
    const res = await s.call(techA, {
      method: 'GET',
      url: `/api/v1/tenants/acme/assets?limit=1&cursor=${cursor}`,
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.body).not.toContain('globex');
  });
});
