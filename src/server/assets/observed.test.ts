/**
 * Observations merged into registered assets (`POST …/assets?merge=observed`, what `bulwark scan --push` sends):
 * the merge rule on its own (examples and a property), then through the API on SQLite and PostgreSQL.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssetFacts } from '../../core/index.js';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import { mergeObserved } from './observed.js';

const EXCHANGE = 'microsoft:exchange_server';

const facts = (f: Partial<AssetFacts> & { id: string }): AssetFacts => ({
  products: [],
  installed_kbs: [],
  endpoints: [],
  tags: [],
  ...f,
});

const inventory = facts({
  id: 'mail01',
  name: 'MAIL01',
  os: { product: 'microsoft:windows_server_2016', version: '10.0.14393.4225' },
  products: [
    { product: EXCHANGE, version: '15.1.2176.9' },
    { product: 'pkg:deb/debian/openssl', version: '1.1.1n-0+deb11u4' },
  ],
  installed_kbs: ['KB5000871'],
  endpoints: ['https://mail.contoso.com/'],
  tags: ['owner:it', 'scan', 'scan:vulnerable'],
});

const seen = (version: string, cuLevel = false) =>
  facts({
    id: 'mail01',
    name: 'https://127.0.1.1:8443',
    products: [{ product: EXCHANGE, version }],
    endpoints: ['https://127.0.1.1:8443/'],
    tags: ['scan', 'scan:patched', ...(cuLevel ? ['scan:cu-level'] : [])],
  });

describe('mergeObserved', () => {
  it('takes the exact build seen, adds the endpoint, replaces only its own tags, keeps everything else', () => {
    expect(mergeObserved(inventory, seen('15.1.2242.4'), 'scan')).toEqual({
      ...inventory,
      products: [
        { product: EXCHANGE, version: '15.1.2242.4' },
        { product: 'pkg:deb/debian/openssl', version: '1.1.1n-0+deb11u4' },
      ],
      endpoints: ['https://mail.contoso.com/', 'https://127.0.1.1:8443/'],
      tags: ['owner:it', 'scan', 'scan:patched'],
    });
  });

  it('keeps the stored build when the scan saw only the same CU, takes the CU build when it differs', () => {
    const sameCu = mergeObserved(inventory, seen('15.1.2176.2', true), 'scan');
    expect(sameCu.products[0]).toEqual({ product: EXCHANGE, version: '15.1.2176.9' });
    const otherCu = mergeObserved(inventory, seen('15.1.2242.4', true), 'scan');
    expect(otherCu.products[0]).toEqual({ product: EXCHANGE, version: '15.1.2242.4' });
  });

  it('adds a product the asset did not list, and takes a name only when the asset has none', () => {
    const bare = facts({ id: 'mail01', os: inventory.os });
    const merged = mergeObserved(bare, seen('15.2.986.5'), 'scan');
    expect(merged.products).toEqual([{ product: EXCHANGE, version: '15.2.986.5' }]);
    expect(merged.name).toBe('https://127.0.1.1:8443');
    expect(merged.os).toEqual(inventory.os);
  });

  it(
    'never loses a stored fact outside what the observation is about (property)',
    () => {
      const word = fc.stringMatching(/^[a-z0-9][a-z0-9.:_-]{0,12}$/);
      const product = fc.record({
        product: fc.constantFrom(EXCHANGE, 'pkg:deb/debian/openssl', 'microsoft:windows_server_2019'),
        version: fc.stringMatching(/^\d{1,2}\.\d\.\d{1,4}\.\d{1,3}$/),
      });
      const asset = fc.record({
        id: fc.constant('a'),
        products: fc.array(product, { maxLength: 4 }),
        installed_kbs: fc.array(fc.stringMatching(/^KB\d{7}$/), { maxLength: 3 }),
        endpoints: fc.array(word, { maxLength: 3 }),
        tags: fc.array(
          fc.oneof(
            word,
            word.map((w) => `scan:${w}`),
            fc.constant('scan'),
          ),
          { maxLength: 5 },
        ),
      });
      fc.assert(
        fc.property(asset, asset, (stored, observed) => {
          const m = mergeObserved(stored, observed, 'scan');
          expect(m.installed_kbs).toEqual(stored.installed_kbs);
          for (const e of [...stored.endpoints, ...observed.endpoints]) expect(m.endpoints).toContain(e);
          for (const t of stored.tags.filter((t) => t !== 'scan' && !t.startsWith('scan:')))
            expect(m.tags).toContain(t);
          for (const t of observed.tags) expect(m.tags).toContain(t);
          const observedIds = new Set(observed.products.map((p) => p.product));
          for (const p of stored.products.filter((p) => !observedIds.has(p.product)))
            expect(m.products).toContainEqual(p);
          for (const id of observedIds) expect(m.products.some((p) => p.product === id)).toBe(true);
          // Merging the same observation twice changes nothing more (a re-scan is `unchanged`).
          expect(mergeObserved(m, observed, 'scan')).toEqual(m);
        }),
        process.env.BULWARK_PROPERTY_RUNS
          ? { numRuns: Number(process.env.BULWARK_PROPERTY_RUNS) }
          : { numRuns: 200, interruptAfterTimeLimit: 5_000 },
      );
    },
    Number(process.env.BULWARK_PROPERTY_RUNS ? 3_600_000 : 60_000),
  );
});

describe.each(TEST_DIALECTS)('POST …/assets?merge=observed on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect);
    if (!s) return;
    await s.call(s.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'acme', name: 'ACME' } });
    const put = await s.call(s.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/mail01?source=agent',
      payload: inventory,
    });
    expect(put.statusCode, put.body).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await s?.dispose();
  });

  it('updates the registered asset with what the scan saw, keeps its facts and source, judges it again', async (ctx) => {
    if (!s) return ctx.skip();
    const push = (version: string) =>
      s!.call(s!.admin, {
        method: 'POST',
        url: '/api/v1/tenants/acme/assets?source=scan&merge=observed',
        payload: { assets: [seen(version), { ...seen('15.2.986.5'), id: '127.0.1.2_443' }] },
      });
    const first = await push('15.1.2176.2');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().results).toEqual([
      { id: 'mail01', outcome: 'updated' },
      { id: '127.0.1.2_443', outcome: 'created' },
    ]);
    const mail01 = (
      await s.call(s.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/mail01' })
    ).json();
    expect(mail01.source).toBe('agent');
    expect(mail01.facts.os).toEqual(inventory.os);
    expect(mail01.facts.installed_kbs).toEqual(['KB5000871']);
    expect(mail01.facts.products[0]).toEqual({ product: EXCHANGE, version: '15.1.2176.2' });
    expect(mail01.facts.tags).toEqual(['owner:it', 'scan', 'scan:patched']);
    const exposure = (
      await s.call(s.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets/mail01/exposure' })
    ).json();
    // Judged again from the merged facts: the build seen, with the update the inventory listed (KB5000871).
    const proxyLogon = exposure.findings.find((f: { cve: string }) => f.cve === 'CVE-2021-26855');
    expect(proxyLogon).toMatchObject({ version: '15.1.2176.2', verdict: 'fixed' });
    expect(proxyLogon.provenance.comparison).toMatch(/KB5000871/);
    // The same observation again writes nothing.
    const again = await push('15.1.2176.2');
    expect(again.json().results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'unchanged',
      'unchanged',
    ]);
    const list = await s.call(s.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets?sort=id' });
    expect(list.json().items.map((a: { id: string }) => a.id)).toEqual(['127.0.1.2_443', 'mail01']);
  });

  it('refuses any other merge mode by name', async (ctx) => {
    if (!s) return ctx.skip();
    const res = await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets?merge=replace',
      payload: { assets: [] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/querystring\.merge/);
  });
});
