/**
 * Inventory reports applied to the agent's asset on SQLite and PostgreSQL: a full report, a diff, a diff against
 * a stale base (answered with need: full), the exposure of a Debian package an advisory covers following both,
 * and the RMM upload route with a tenant-scoped token (refused for another tenant).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffFacts, factsHash } from '../../api/agent-inventory.js';
import { uploadInventory } from '../../api/client.js';
import type { AssetFacts } from '../../core/index.js';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import { ApiError } from '../errors.js';
import { TenantScope } from '../scope.js';
import { InventoryService } from './inventory.js';

const ADVISORY = 'dsa-test-openssl';
const osv = {
  schema_version: '1.6.0',
  id: 'DSA-TEST-OPENSSL',
  modified: '2026-01-01T00:00:00Z',
  published: '2026-01-01T00:00:00Z',
  aliases: ['CVE-2099-10001'],
  summary: 'openssl test advisory',
  affected: [
    {
      package: { ecosystem: 'Debian', name: 'openssl' },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.99-1' }] }],
    },
  ],
};

function inventory(opensslVersion: string, extra = 0): AssetFacts {
  return {
    id: 'ignored-by-the-server',
    name: 'web01',
    os: { product: 'debian:debian_linux', version: '12', name: 'Debian GNU/Linux 12 (bookworm)' },
    products: [
      { product: 'pkg:deb/debian/openssl', version: opensslVersion },
      { product: 'pkg:deb/debian/libssl3:amd64', version: opensslVersion },
      ...Array.from({ length: 2000 + extra }, (_, i) => ({
        product: `pkg:deb/debian/pkg${i}`,
        version: `1.${i}-1`,
      })),
    ],
    installed_kbs: [],
    endpoints: [],
    tags: ['dpkg', 'linux'],
  };
}

describe.each(TEST_DIALECTS)('agent inventory (%s)', (dialect) => {
  let t: TestServer | undefined;
  let service: InventoryService;
  const agent = { tenant_id: 'inv-a', id: 'ag-0123456789abcdef' };
  const scope = TenantScope.everyTenant;

  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    for (const id of ['inv-a', 'inv-b']) {
      const res = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/tenants',
        payload: { id, name: id },
      });
      expect(res.statusCode).toBe(201);
    }
    const parsed = t.ctx.advisories.parseImport(osv);
    await t.ctx.exposure.saveAdvisories(parsed.advisories, { source: 'import:osv', trigger: 'import' });
    const now = new Date().toISOString();
    await t.ctx.db.kysely
      .insertInto('agents')
      .values({
        tenant_id: agent.tenant_id,
        id: agent.id,
        site_id: null,
        public_key: 'inventory-test-key',
        hostname: 'web01',
        os: 'linux',
        version: 'test',
        state: 'active',
        state_reason: null,
        generation: 0,
        pending_generation: null,
        cert_serial: 'inventory-test',
        cert_not_after: now,
        enrolled_at: now,
        token_id: 'inventory-test',
        last_seen_at: null,
        online: 0,
        connected_replica: null,
        connected_at: null,
        inventory_hash: null,
        inventory_at: null,
        updated_at: now,
      })
      .execute();
    service = new InventoryService(t.ctx.db, t.ctx.assets);
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!t) ctx.skip();
    return t!;
  };
  const verdict = async (tenant: string, asset: string) => {
    const res = await t!.call(t!.admin, {
      method: 'GET',
      url: `/api/v1/tenants/${tenant}/assets/${asset}/exposure`,
    });
    expect(res.statusCode).toBe(200);
    return (res.json().advisories as { advisory_id: string; verdict: string }[]).find(
      (a) => a.advisory_id === ADVISORY,
    )?.verdict;
  };
  const storedHash = async () =>
    (
      await t!.ctx.db.kysely
        .selectFrom('agents')
        .select(['inventory_hash', 'inventory_at'])
        .where('id', '=', agent.id)
        .executeTakeFirstOrThrow()
    ).inventory_hash;

  it('full report, then diffs; a stale base or a changed asset asks for a full report', async (ctx) => {
    const s = server(ctx);
    const v1 = inventory('3.0.11-1~deb12u2');
    const h1 = factsHash(v1);
    const full = await service.applyInventory(scope, agent, { mode: 'full', hash: h1, facts: v1 });
    expect(full).toMatchObject({ ok: true, put: { results: [{ id: agent.id, outcome: 'created' }] } });
    expect(await storedHash()).toBe(h1);
    const asset = (
      await s.call(s.admin, { method: 'GET', url: `/api/v1/tenants/inv-a/assets/${agent.id}` })
    ).json();
    expect(asset.source).toBe('agent');
    expect(asset.facts.products.length).toBe(2002);
    expect(await verdict('inv-a', agent.id)).toBe('affected');

    // The same full report again changes nothing.
    const again = await service.applyInventory(scope, agent, { mode: 'full', hash: h1, facts: v1 });
    expect(again.put?.results[0]?.outcome).toBe('unchanged');

    // openssl upgraded past the fix: a diff of two products, and the asset is re-judged.
    const v2 = inventory('3.0.99-1');
    const h2 = factsHash(v2);
    const diff = diffFacts(v1, v2);
    expect(diff.products?.add.length).toBe(2);
    const applied = await service.applyInventory(scope, agent, {
      mode: 'diff',
      hash: h2,
      base_hash: h1,
      diff,
    });
    expect(applied).toMatchObject({ ok: true, put: { results: [{ outcome: 'updated' }] } });
    expect(await storedHash()).toBe(h2);
    expect(await verdict('inv-a', agent.id)).toBe('fixed');

    // A diff against the old base: nothing changes, a full report is asked for.
    const v3 = inventory('3.0.99-1', 1);
    const stale = await service.applyInventory(scope, agent, {
      mode: 'diff',
      hash: factsHash(v3),
      base_hash: h1,
      diff: diffFacts(v1, v3),
    });
    expect(stale).toMatchObject({ ok: false, need: 'full' });
    expect(await storedHash()).toBe(h2);

    // A diff whose result does not have the reported hash.
    const wrong = await service.applyInventory(scope, agent, {
      mode: 'diff',
      hash: factsHash(v1),
      base_hash: h2,
      diff: diffFacts(v2, v3),
    });
    expect(wrong).toMatchObject({ ok: false, need: 'full' });

    // An operator replaced the asset's facts: the agent's base no longer describes them.
    const put = await s.call(s.admin, {
      method: 'PUT',
      url: `/api/v1/tenants/inv-a/assets/${agent.id}`,
      payload: { ...v2, id: agent.id, tags: ['edited'] },
    });
    expect(put.statusCode).toBe(200);
    const changed = await service.applyInventory(scope, agent, {
      mode: 'diff',
      hash: factsHash(v3),
      base_hash: h2,
      diff: diffFacts(v2, v3),
    });
    expect(changed).toMatchObject({ ok: false, need: 'full', reason: 'the asset was changed since' });
    const back = await service.applyInventory(scope, agent, { mode: 'full', hash: factsHash(v3), facts: v3 });
    expect(back.ok).toBe(true);
  });

  it('refuses malformed reports with one error naming the field', async (ctx) => {
    server(ctx);
    const v1 = inventory('1.0-1');
    const h = factsHash(v1);
    await expect(
      service.applyInventory(scope, agent, { mode: 'full', hash: 'x', facts: v1 }),
    ).rejects.toThrow(/^hash: /);
    await expect(
      service.applyInventory(scope, agent, { mode: 'full', hash: h, facts: { ...v1, name: 'other' } }),
    ).rejects.toThrow(/^hash: does not match/);
    await expect(
      service.applyInventory(scope, agent, {
        mode: 'full',
        hash: h,
        facts: { ...v1, products: [{ product: 'Not An Id', version: '1' }] },
      }),
    ).rejects.toThrow(/^facts\.products\[0\]\.product: expected a product id/);
    await expect(
      service.applyInventory(scope, agent, { mode: 'diff', hash: h, base_hash: h, diff: { v: 2 } }),
    ).rejects.toThrow(/^diff/);
    // Another tenant's scope does not see the agent.
    await expect(
      service.applyInventory(TenantScope.of({ all: false, tenantId: 'inv-b' } as never), agent, {
        mode: 'full',
        hash: h,
        facts: v1,
      }),
    ).rejects.toThrow(/tenant inv-a/);
  });

  it('a hostile diff is a 400 naming diff, or need: full; it never changes the stored inventory', async (ctx) => {
    server(ctx);
    const base = inventory('2.0-1');
    const h = factsHash(base);
    await service.applyInventory(scope, agent, { mode: 'full', hash: h, facts: base });
    const junk = fc.oneof(
      fc.anything(),
      fc.record({
        v: fc.constant(1),
        products: fc.record({
          add: fc.array(fc.anything(), { maxLength: 3 }),
          remove: fc.array(fc.anything(), { maxLength: 3 }),
        }),
      }),
      fc.record({
        v: fc.constant(1),
        products: fc.record({
          add: fc.array(fc.record({ product: fc.string(), version: fc.string() }), { maxLength: 3 }),
          remove: fc.array(
            fc.record({ product: fc.constant('pkg:deb/debian/openssl'), version: fc.string() }),
            { maxLength: 2 },
          ),
        }),
        set: fc.record({ name: fc.oneof(fc.string(), fc.constant(null)) }, { requiredKeys: [] }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(junk, fc.stringMatching(/^[0-9a-f]{64}$/), async (diff, hash) => {
        try {
          const out = await service.applyInventory(scope, agent, { mode: 'diff', hash, base_hash: h, diff });
          expect(out).toMatchObject({ ok: false, need: 'full' });
        } catch (err) {
          expect(err).toBeInstanceOf(ApiError);
          expect((err as ApiError).status).toBe(400);
          expect((err as Error).message).toMatch(/^(diff|hash)/);
        }
        expect(await storedHash()).toBe(h);
      }),
      { numRuns: 40 },
    );
  });

  it('RMM upload: a tenant token registers the asset with source rmm; another tenant is refused', async (ctx) => {
    const s = server(ctx);
    const tokenA: Caller = await s.token({ name: 'rmm-a', role: 'technician', tenant_id: 'inv-a' });
    const tokenB: Caller = await s.token({ name: 'rmm-b', role: 'technician', tenant_id: 'inv-b' });
    const facts = { ...inventory('3.0.11-1~deb12u2'), id: 'rmm-0123456789abcdef' };
    const upload = (caller: Caller, tenant: string, payload: unknown) =>
      s.call(caller, {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/inventory`,
        payload: payload as object,
      });
    const res = await upload(tokenA, 'inv-a', { facts, hash: factsHash(facts) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      asset_id: 'rmm-0123456789abcdef',
      outcome: 'created',
      hash: factsHash(facts),
      findings_written: expect.any(Number),
    });
    const asset = (
      await s.call(tokenA, { method: 'GET', url: '/api/v1/tenants/inv-a/assets/rmm-0123456789abcdef' })
    ).json();
    expect(asset.source).toBe('rmm');
    expect(await verdict('inv-a', 'rmm-0123456789abcdef')).toBe('affected');
    expect((await upload(tokenA, 'inv-a', { facts })).json().outcome).toBe('unchanged');

    // Tenant B's token cannot write into tenant A (404 as for a tenant that does not exist), even with a bad body.
    expect((await upload(tokenB, 'inv-a', { facts })).statusCode).toBe(404);
    expect((await upload(tokenB, 'inv-a', { nonsense: true })).statusCode).toBe(404);
    const bad = await upload(tokenA, 'inv-a', { facts, hash: '0'.repeat(64) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/^hash: does not match/);
    const foreign = await upload(tokenA, 'inv-a', { facts: { ...facts, tenant: 'inv-b' } });
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().message).toMatch(/^facts\.tenant/);
    // The Windows collector's document as the RMM script posts it, read as the agent reads it.
    const windows = JSON.parse(
      readFileSync(
        new URL(
          '../../agent/inventory/windows/fixtures/exchange2016-cu19-mar21su-ws2016.json',
          import.meta.url,
        ),
        'utf8',
      ),
    );
    const win = await upload(tokenA, 'inv-a', { asset_id: 'rmm-ex2016-01', windows });
    expect(win.statusCode, win.body).toBe(200);
    const ex = (
      await s.call(tokenA, { method: 'GET', url: '/api/v1/tenants/inv-a/assets/rmm-ex2016-01' })
    ).json();
    expect(ex.source).toBe('rmm');
    expect(ex.facts.products).toContainEqual(
      expect.objectContaining({ product: 'microsoft:exchange_server', version: '15.1.2176.9' }),
    );
    expect(ex.facts.installed_kbs).toContain('KB5000871');
    const noId = await upload(tokenA, 'inv-a', { windows });
    expect(noId.statusCode).toBe(400);
    expect(noId.json().message).toBe('asset_id: required with windows');
    const notDoc = await upload(tokenA, 'inv-a', { asset_id: 'x1', windows: { schema: 'other' } });
    expect(notDoc.json().message).toBe('windows: not a bulwark-windows-inventory/1 document');
    // The typed client over real HTTP on loopback, as a script would call it.
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (s.app.server.address() as AddressInfo).port;
    const token = tokenA.headers.authorization!.slice('Bearer '.length);
    const viaClient = await uploadInventory({ baseUrl: `http://127.0.0.1:${port}`, token }, 'inv-a', {
      asset_id: 'rmm-ex2016-01',
      windows,
    });
    expect(viaClient).toMatchObject({ asset_id: 'rmm-ex2016-01', outcome: 'unchanged' });
    await expect(
      uploadInventory({ baseUrl: `http://127.0.0.1:${port}`, token }, 'inv-b', { asset_id: 'x1', windows }),
    ).rejects.toMatchObject({ status: 404 });
    // Without a token: 401.
    expect(
      (await s.app.inject({ method: 'POST', url: '/api/v1/tenants/inv-a/inventory', payload: { facts } }))
        .statusCode,
    ).toBe(401);
  });
});
