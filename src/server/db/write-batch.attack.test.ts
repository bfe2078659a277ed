/**
 * The write path (assets service → WriteBatch, one statement of data-modifying WITH clauses per table round on
 * PostgreSQL) attacked through the real app over HTTP on 127.0.0.1, on SQLite and PostgreSQL:
 * - input never reaches SQL text: for any product ids, product and asset names, versions and tags made of SQL's
 *   special characters, a push stores them verbatim (read back through the API and from the table) and the
 *   tables stay intact;
 * - a push of the most assets one request takes (1,000), each with 100 products, fits the statement limits: it is
 *   accepted and every product row is written.
 */
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ASSETS_PER_PUSH } from '../../api/schemas.js';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from './db.testkit.js';

const HOSTILE = [...'\'";)(\\$%_*-/,.:+=|&!~`^{}[]<>', 'é', '∑', '😀', ' ', '\t'];
const hostileText = (min: number) =>
  fc
    .array(fc.constantFrom(...HOSTILE, 'a', 'Z', '0'), { minLength: min, maxLength: 24 })
    .map((cs) => cs.join(''));
/** Product ids the schema accepts (`pkg:<type>/<anything without whitespace, @ ? #>`), hostile characters inside. */
const productIdArb = hostileText(1).map((s) => `pkg:npm/${s.replace(/[\s@?#]/g, '') || 'x'}`);

describe.each(TEST_DIALECTS)('write path under attack on %s', (dialect) => {
  let t: TestServer | undefined;
  let base = '';
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const r = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: 'acme', name: 'a' },
    });
    expect(r.statusCode, r.body).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
  });

  const push = async (assets: unknown[]) => {
    const res = await fetch(`${base}/api/v1/tenants/acme/assets`, {
      method: 'POST',
      headers: { ...t!.admin.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ assets }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('stores any SQL-special text verbatim: values never become SQL', async (ctx) => {
    if (!t) return ctx.skip();
    const s = t;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(productIdArb, { minLength: 1, maxLength: 6 }),
        hostileText(0),
        hostileText(1),
        fc.array(hostileText(1), { maxLength: 3 }),
        async (products, name, version, tags) => {
          const id = `hostile-${++n}`;
          const facts = {
            id,
            name,
            products: products.map((product) => ({ product, version, name })),
            tags,
          };
          const res = await push([facts]);
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          const back = await fetch(`${base}/api/v1/tenants/acme/assets/${id}`, { headers: s.admin.headers });
          expect(back.status).toBe(200);
          const asset = (await back.json()) as { name: string | null; facts: typeof facts };
          expect(asset.name ?? '').toBe(name);
          expect(asset.facts.products).toEqual(facts.products);
          expect(asset.facts.tags).toEqual(tags);
          const rows = await s.db.kysely
            .selectFrom('asset_products')
            .select('product')
            .where('tenant_id', '=', 'acme')
            .where('asset_id', '=', id)
            .execute();
          expect(rows.map((r) => r.product).sort()).toEqual([...products].sort());
        },
      ),
      { numRuns: 30 },
    );
    // The tables are all still there and readable.
    const assets = await s.call(s.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets?limit=1' });
    expect(assets.statusCode).toBe(200);
    expect(assets.json().total).toBe(n);
  }, 120_000);

  it('a control character in a stored name is a 400 naming the field, or is stored as sent — never a 500', async (ctx) => {
    if (!t) return ctx.skip();
    for (const name of ['nul\u0000inside', 'bell\u0007', 'line\nbreak']) {
      const res = await push([{ id: 'ctl', name, products: [] }]);
      expect(res.status, JSON.stringify(res.body)).not.toBe(500);
      if (res.status === 400) expect(String(res.body.message)).toMatch(/name/);
      else {
        const back = await fetch(`${base}/api/v1/tenants/acme/assets/ctl`, { headers: t.admin.headers });
        expect(((await back.json()) as { name: string }).name).toBe(name);
      }
    }
  });

  it(`takes a push of ${MAX_ASSETS_PER_PUSH} assets with 100 products each in one request`, async (ctx) => {
    if (!t) return ctx.skip();
    const assets = Array.from({ length: MAX_ASSETS_PER_PUSH }, (_, i) => ({
      id: `big-${i}`,
      products: Array.from({ length: 100 }, (_, j) => ({
        product: `vendor:product-${j}`,
        version: `1.${i}.${j}`,
      })),
    }));
    const res = await push(assets);
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
    expect((res.body.results as unknown[]).length).toBe(MAX_ASSETS_PER_PUSH);
    const count = await t.db.kysely
      .selectFrom('asset_products')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('tenant_id', '=', 'acme')
      .where('asset_id', 'like', 'big-%')
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(MAX_ASSETS_PER_PUSH * 100);
  }, 120_000);
});
