/**
 * Keyset paging of the asset list and the audit log, on SQLite and on PostgreSQL: walking a list by next_cursor
 * returns every row that was there from the start exactly once, in order, even while rows are inserted between
 * pages (fast-check); prev_cursor walks back; a cursor that is malformed, made for another sort or other filters,
 * or sent with an offset is a 400 naming `cursor` (or `offset`).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';

interface Row {
  id: string;
  name: string | null;
  created_at: string;
  updated_at: string;
}
interface PageBody {
  items: Row[];
  total: number;
  next_cursor: string | null;
  prev_cursor: string | null;
}

const SORTS = ['id', '-id', 'name', '-name', 'updated_at', '-created_at'] as const;

describe.each(TEST_DIALECTS)('keyset paging (%s)', (dialect) => {
  let t: TestServer | undefined;
  let n = 0;
  beforeAll(async () => {
    t = await openTestServer(dialect);
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!t) ctx.skip();
    return t!;
  };
  const get = async (url: string) => {
    const res = await t!.call(t!.admin, { method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };
  const push = async (tenant: string, assets: { id: string; name?: string }[]) => {
    const res = await t!.call(t!.admin, {
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/assets`,
      payload: { assets: assets.map((a) => ({ ...a, products: [] })) },
    });
    expect(res.statusCode, res.body).toBe(200);
  };
  const newTenant = async () => {
    const id = `page-${dialect}-${++n}`;
    const res = await t!.call(t!.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id, name: id },
    });
    expect(res.statusCode).toBe(201);
    return id;
  };

  it('returns every asset there from the start exactly once, in order, while others are inserted', async (ctx) => {
    server(ctx);
    const idArb = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,7}$/);
    const asset = fc.record({
      id: idArb,
      name: fc.option(fc.constantFrom('alpha', 'Beta', 'gamma', 'alpha'), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(asset, { selector: (a) => a.id, minLength: 1, maxLength: 25 }),
        fc.array(fc.array(asset, { maxLength: 3 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(...SORTS),
        async (initial, inserts, limit, sort) => {
          const tenant = await newTenant();
          await push(tenant, initial);
          const start = new Set(initial.map((a) => a.id));
          const seen: string[] = [];
          const rows: Row[] = [];
          let cursor: string | null = null;
          for (let i = 0; i < 100; i++) {
            const page = await get(
              `/api/v1/tenants/${tenant}/assets?limit=${limit}&sort=${sort}${cursor ? `&cursor=${cursor}` : ''}`,
            );
            expect(page.status, JSON.stringify(page.body)).toBe(200);
            const body = page.body as PageBody;
            rows.push(...body.items);
            seen.push(...body.items.map((r) => r.id));
            cursor = body.next_cursor;
            if (!cursor) break;
            // New assets (new ids only: a re-pushed one is an update and may move under an updated_at sort).
            const fresh = (inserts[i] ?? []).filter((a) => !start.has(a.id) && !seen.includes(a.id));
            const unique = [...new Map(fresh.map((a) => [a.id, a])).values()];
            if (unique.length) await push(tenant, unique);
          }
          expect(cursor).toBeNull();
          // Each row once; every row that was there from the start.
          expect(new Set(seen).size).toBe(seen.length);
          for (const id of start) expect(seen, id).toContain(id);
          // In the sort's order (PostgreSQL orders text by its collation: only SQLite's binary order is checked).
          if (dialect === 'sqlite') {
            const column = sort.replace('-', '') as keyof Row | 'created_at';
            const key = (r: Row) =>
              column === 'id'
                ? [r.id]
                : [column === 'name' ? (r.name ?? '') : String(r[column as keyof Row]), r.id];
            const cmp = (a: Row, b: Row) => {
              const [x, y] = [key(a), key(b)];
              for (let k = 0; k < x.length; k++) {
                if (x[k] !== y[k]) return (x[k]! < y[k]! ? -1 : 1) * (sort.startsWith('-') ? -1 : 1);
              }
              return 0;
            };
            expect(rows.map((r) => r.id)).toEqual([...rows].sort(cmp).map((r) => r.id));
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 60_000);

  it('walks back with prev_cursor to the first page, and keeps the range in step', async (ctx) => {
    server(ctx);
    const tenant = await newTenant();
    await push(
      tenant,
      Array.from({ length: 23 }, (_, i) => ({ id: `h${String(i).padStart(2, '0')}` })),
    );
    const base = `/api/v1/tenants/${tenant}/assets?limit=10`;
    const p1 = (await get(base)).body as PageBody;
    expect(p1.prev_cursor).toBeNull();
    const p2 = (await get(`${base}&cursor=${p1.next_cursor}`)).body as PageBody;
    const p3 = (await get(`${base}&cursor=${p2.next_cursor}`)).body as PageBody;
    expect(p3.items.map((r) => r.id)).toEqual(['h20', 'h21', 'h22']);
    expect(p3.next_cursor).toBeNull();
    const back2 = (await get(`${base}&cursor=${p3.prev_cursor}`)).body as PageBody;
    expect(back2.items).toEqual(p2.items);
    const back1 = (await get(`${base}&cursor=${back2.prev_cursor}`)).body as PageBody;
    expect(back1.items).toEqual(p1.items);
    expect(back1.prev_cursor).toBeNull();
    // Offset paging still works, and its page knows what lies before it.
    const byOffset = (await get(`${base}&offset=10`)).body as PageBody;
    expect(byOffset.items).toEqual(p2.items);
    expect(byOffset.prev_cursor).not.toBeNull();
  });

  it('refuses a malformed cursor, one of another sort or filters, and a cursor with an offset, naming the field', async (ctx) => {
    server(ctx);
    const tenant = await newTenant();
    await push(tenant, [{ id: 'a1' }, { id: 'a2' }, { id: 'b1' }]);
    const base = `/api/v1/tenants/${tenant}/assets?limit=1`;
    const next = ((await get(base)).body as PageBody).next_cursor!;
    for (const [query, message] of [
      ['cursor=not*base64', /^cursor: is not a cursor this list gave out/],
      [`cursor=${Buffer.from('[1,"id"]').toString('base64url')}`, /^cursor: is not a cursor/],
      [`cursor=${Buffer.from('{"a":1}').toString('base64url')}`, /^cursor: is not a cursor/],
      [`cursor=${next}&sort=-id`, /^cursor: was given out for sort=id/],
      [`cursor=${next}&q=a`, /^cursor: was given out for other filters/],
      [`cursor=${next}&offset=1`, /^offset: leave it out/],
    ] as const) {
      const res = await get(`${base}&${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.message, query).toMatch(message);
    }
    // Another tenant's cursor does not fit this tenant's list either.
    const other = await newTenant();
    await push(other, [{ id: 'a1' }, { id: 'a2' }]);
    expect((await get(`/api/v1/tenants/${other}/assets?limit=1&cursor=${next}`)).status).toBe(400);
  });

  it('pages the audit log by cursor, newest first, each record once', async (ctx) => {
    server(ctx);
    for (let i = 0; i < 3; i++) await newTenant();
    const all = (await get('/api/v1/audit?limit=1000&sort=-seq')).body as { items: { seq: number }[] };
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 1000; i++) {
      const res = await get(`/api/v1/audit?limit=4&sort=-seq${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((r: { seq: number }) => r.seq));
      cursor = res.body.next_cursor;
      if (!cursor) break;
      await newTenant(); // newer records go before the cursor and are not met again
    }
    expect(seen).toEqual(all.items.map((r) => r.seq));
    const bad = await get('/api/v1/audit?cursor=%21');
    expect(bad.status).toBe(400);
  });
});
