/**
 * Two-step bulk status changes, If-Match on one finding, and the permissions GET /api/v1/me answers — on SQLite
 * and on PostgreSQL, through the real app: a preview counts and hands out a confirmation; a commit applies it to
 * exactly the findings counted, with their history, an audit record and a findings.changed event, or refuses it
 * (409 stale, nothing changes) when a counted finding changed or the set differs; an empty filter, another
 * tenant's or principal's confirmation, an altered one, an expired one and a replayed one are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import { confirmationKey, signConfirmation } from './bulk.js';

const ADVISORY = 'proxylogon-2021-03';
const AFFECTED = '15.1.2176.2';
const FIXED = '15.1.2176.9';
const exchange = (id: string, version: string, name?: string) => ({
  id,
  ...(name ? { name } : {}),
  products: [{ product: 'microsoft:exchange_server', version }],
});

interface Finding {
  advisory_id: string;
  asset_id: string;
  cve: string;
  status: string;
  verdict: string;
  etag: string;
}

describe.each(TEST_DIALECTS)('bulk finding status changes and If-Match (%s)', (dialect) => {
  let t: TestServer | undefined;
  let tech: Caller;
  let tech2: Caller;
  let n = 0;
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    tech = await t.token({ name: 'tech', role: 'technician' });
    tech2 = await t.token({ name: 'tech 2', role: 'technician' });
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!t) ctx.skip();
    return t!;
  };

  const req = async (
    who: Caller,
    method: 'GET' | 'POST' | 'PATCH',
    url: string,
    payload?: object,
    headers: Record<string, string> = {},
  ) => {
    const res = await t!.call(who, { method, url, headers, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.body ? res.json() : undefined, headers: res.headers };
  };
  /** A new tenant with `affected` ProxyLogon-affected and `fixed` patched Exchange servers. */
  const tenantWith = async (affected: number, fixed: number) => {
    const id = `bulk-${dialect}-${++n}`;
    expect((await req(t!.admin, 'POST', '/api/v1/tenants', { id, name: id })).status).toBe(201);
    const assets = [
      ...Array.from({ length: affected }, (_, i) => exchange(`mail-a${i}`, AFFECTED, `Mail A${i}`)),
      ...Array.from({ length: fixed }, (_, i) => exchange(`mail-f${i}`, FIXED)),
    ];
    expect((await req(t!.admin, 'POST', `/api/v1/tenants/${id}/assets`, { assets })).status).toBe(200);
    return id;
  };
  const findingsOf = async (tenant: string): Promise<Finding[]> =>
    (await req(t!.admin, 'GET', `/api/v1/findings?tenant=${tenant}&limit=1000&sort=asset_id`)).body.items;
  const preview = (who: Caller, tenant: string, body: object) =>
    req(who, 'POST', `/api/v1/tenants/${tenant}/findings/bulk/preview`, body);
  const commit = (who: Caller, tenant: string, token: string) =>
    req(who, 'POST', `/api/v1/tenants/${tenant}/findings/bulk/commit`, { token });
  const affectedFilter = { advisory: ADVISORY, verdict: 'affected' };

  it('previews, then changes exactly the matched findings with history, audit record and event', async (ctx) => {
    const s = server(ctx);
    const tenant = await tenantWith(3, 2);
    const before = await findingsOf(tenant);
    const matched = (f: Finding) => f.verdict === 'affected' && f.advisory_id === ADVISORY;
    const affected = before.filter(matched);
    expect(affected.length).toBeGreaterThanOrEqual(3);
    const p = await preview(tech, tenant, {
      filter: affectedFilter,
      status: 'accepted_risk',
      reason: 'isolated',
    });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ matches: affected.length, already: 0 });
    expect(Date.parse(p.body.expires_at) - Date.now()).toBeLessThanOrEqual(600_000);
    // A preview changes nothing.
    expect(await findingsOf(tenant)).toEqual(before);
    const seqBefore = Number(
      (
        await s.db.kysely
          .selectFrom('events')
          .select((eb) => eb.fn.max('id').as('m'))
          .executeTakeFirst()
      )?.m ?? 0,
    );
    const c = await commit(tech, tenant, p.body.token);
    expect(c).toMatchObject({ status: 200, body: { matches: affected.length, changed: affected.length } });
    const after = await findingsOf(tenant);
    for (const f of after) {
      expect(f.status, `${f.asset_id} ${f.cve}`).toBe(matched(f) ? 'accepted_risk' : 'open');
    }
    const history = await req(
      tech,
      'GET',
      `/api/v1/tenants/${tenant}/assets/${affected[0]!.asset_id}/findings/${affected[0]!.cve}/history`,
    );
    expect(history.body.at(-1)).toMatchObject({
      kind: 'status',
      from_value: 'open',
      to_value: 'accepted_risk',
      reason: 'isolated',
    });
    const audit = await req(s.admin, 'GET', `/api/v1/audit?tenant=${tenant}&sort=-seq&limit=1`);
    expect(audit.body.items[0]).toMatchObject({
      action: 'findings.bulk_status',
      tenant_id: tenant,
      detail: { to: 'accepted_risk', matches: affected.length, changed: affected.length, reason: 'isolated' },
    });
    const events = await s.db.kysely
      .selectFrom('events')
      .select(['type', 'tenant_id', 'data'])
      .where('id', '>', seqBefore)
      .where('tenant_id', '=', tenant)
      .execute();
    expect(events.map((e) => e.type)).toEqual(['findings.changed']);
    expect(JSON.parse(events[0]!.data)).toMatchObject({
      findings: affected.length,
      advisory_ids: [ADVISORY],
    });
    // The same filter again: everything has the status already; committing changes nothing and says so.
    const again = await preview(tech, tenant, {
      filter: affectedFilter,
      status: 'accepted_risk',
      reason: 'again',
    });
    expect(again.body).toMatchObject({ matches: affected.length, already: affected.length });
    expect((await commit(tech, tenant, again.body.token)).body).toMatchObject({ changed: 0 });
  });

  it('refuses an empty filter, "all" with other criteria, and selects every finding with "all": true alone', async (ctx) => {
    server(ctx);
    const tenant = await tenantWith(1, 1);
    const empty = await preview(tech, tenant, { filter: {}, status: 'acknowledged', reason: 'x' });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/^filter: an empty filter/);
    const mixed = await preview(tech, tenant, {
      filter: { all: true, verdict: 'affected' },
      status: 'open',
      reason: 'x',
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.message).toMatch(/^filter\.all/);
    const unknown = await preview(tech, tenant, { filter: { tag: 'x' }, status: 'open', reason: 'x' });
    expect(unknown.status).toBe(400);
    const all = await preview(tech, tenant, {
      filter: { all: true },
      status: 'acknowledged',
      reason: 'all of them',
    });
    expect(all.body.matches).toBe((await findingsOf(tenant)).length);
    expect((await commit(tech, tenant, all.body.token)).body.changed).toBe(all.body.matches);
    // asset_q: text in the asset's id or name.
    const byName = await preview(tech, tenant, {
      filter: { asset_q: 'mail a0' },
      status: 'open',
      reason: 'x',
    });
    expect(byName.body.matches).toBe(
      (await findingsOf(tenant)).filter((f) => f.asset_id === 'mail-a0').length,
    );
  });

  it('answers 409 "stale: preview again" and changes nothing when a matched finding changed or the set differs', async (ctx) => {
    server(ctx);
    const tenant = await tenantWith(2, 0);
    const p = await preview(tech, tenant, { filter: affectedFilter, status: 'acknowledged', reason: 'bulk' });
    expect(p.body.matches).toBeGreaterThan(1);
    const [one] = (await findingsOf(tenant)).filter(
      (f) => f.verdict === 'affected' && f.advisory_id === ADVISORY,
    );
    // One matched finding changes status (it still matches the filter).
    expect(
      (
        await req(tech2, 'PATCH', `/api/v1/tenants/${tenant}/assets/${one!.asset_id}/findings/${one!.cve}`, {
          status: 'accepted_risk',
          reason: 'someone else',
        })
      ).status,
    ).toBe(200);
    const before = await findingsOf(tenant);
    const stale = await commit(tech, tenant, p.body.token);
    expect(stale.status).toBe(409);
    expect(stale.body.message).toMatch(/^stale: preview again/);
    expect(await findingsOf(tenant)).toEqual(before);

    // The set grows: a new affected asset after the preview.
    const p2 = await preview(tech, tenant, {
      filter: affectedFilter,
      status: 'acknowledged',
      reason: 'bulk',
    });
    await req(t!.admin, 'POST', `/api/v1/tenants/${tenant}/assets`, {
      assets: [exchange('mail-new', AFFECTED)],
    });
    const before2 = await findingsOf(tenant);
    const grown = await commit(tech, tenant, p2.body.token);
    expect(grown.status).toBe(409);
    expect(grown.body.message).toMatch(/^stale: preview again/);
    expect(await findingsOf(tenant)).toEqual(before2);
    // Previewed again, it goes through.
    const p3 = await preview(tech, tenant, {
      filter: affectedFilter,
      status: 'acknowledged',
      reason: 'bulk',
    });
    expect((await commit(tech, tenant, p3.body.token)).status).toBe(200);
  });

  it("refuses another tenant's or principal's confirmation, an altered, an expired and a replayed one", async (ctx) => {
    const s = server(ctx);
    const tenant = await tenantWith(1, 0);
    const other = await tenantWith(1, 0);
    const body = { filter: affectedFilter, status: 'acknowledged', reason: 'r' };
    const p = await preview(tech, tenant, body);
    const before = await findingsOf(tenant);
    // Another tenant in the URL (the principal sees both).
    const otherTenant = await commit(tech, other, p.body.token);
    expect(otherTenant.status).toBe(403);
    expect(otherTenant.body.message).toMatch(/^token: /);
    // Another principal.
    expect((await commit(tech2, tenant, p.body.token)).status).toBe(403);
    // A customer-scoped token of the other tenant never reaches this tenant (404) nor may write (403).
    const scoped = await s.token({ name: 'scoped', role: 'technician', tenant_id: other });
    expect((await commit(scoped, tenant, p.body.token)).status).toBe(404);
    // Altered: another status in the claims, signature kept.
    const [prefix, payload, mac] = (p.body.token as string).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const altered = `${prefix}.${Buffer.from(JSON.stringify({ ...claims, status: 'accepted_risk' })).toString('base64url')}.${mac}`;
    const a = await commit(tech, tenant, altered);
    expect(a.status).toBe(400);
    expect(a.body.message).toMatch(/^token: not a confirmation/);
    expect((await commit(tech, tenant, 'garbage')).status).toBe(400);
    // Expired: the same claims signed with the server's key, ten minutes and a second ago.
    const expired = signConfirmation(await confirmationKey(s.db.kysely), {
      ...claims,
      id: 'expired-one',
      expires: Date.now() - 1000,
    });
    const e = await commit(tech, tenant, expired);
    expect(e.status).toBe(409);
    expect(e.body.message).toMatch(/^stale: preview again.*expired/);
    expect(await findingsOf(tenant)).toEqual(before);
    // Used once, then refused.
    expect((await commit(tech, tenant, p.body.token)).status).toBe(200);
    const replay = await commit(tech, tenant, p.body.token);
    expect(replay.status).toBe(409);
    expect(replay.body.message).toMatch(/already committed/);
    // Two commits of one confirmation at once: exactly one applies.
    const p2 = await preview(tech, tenant, { ...body, status: 'open' });
    const both = await Promise.all([
      commit(tech, tenant, p2.body.token),
      commit(tech, tenant, p2.body.token),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
  });

  it('refuses bulk changes to principals without the write permission', async (ctx) => {
    const s = server(ctx);
    const tenant = await tenantWith(1, 0);
    const ro = await s.token({ name: 'ro', role: 'read_only' });
    expect((await preview(ro, tenant, { filter: { all: true }, status: 'open', reason: 'r' })).status).toBe(
      403,
    );
  });

  it('serves a finding with its ETag and changes it with If-Match only when unchanged (else 412)', async (ctx) => {
    server(ctx);
    const tenant = await tenantWith(1, 0);
    const [f] = (await findingsOf(tenant)).filter(
      (x) => x.verdict === 'affected' && x.advisory_id === ADVISORY,
    );
    const url = `/api/v1/tenants/${tenant}/assets/${f!.asset_id}/findings/${f!.cve}`;
    const got = await req(tech, 'GET', url);
    expect(got.status).toBe(200);
    expect(got.headers.etag).toBe(`"${f!.etag}"`);
    expect(got.body.etag).toBe(f!.etag);
    const wrong = await req(
      tech,
      'PATCH',
      url,
      { status: 'acknowledged', reason: 'r' },
      { 'if-match': '"nope"' },
    );
    expect(wrong.status).toBe(412);
    expect(wrong.body).toMatchObject({ error: 'precondition_failed' });
    expect(wrong.body.message).toMatch(/^If-Match: /);
    expect((await req(tech, 'GET', url)).body.status).toBe('open');
    const ok = await req(
      tech,
      'PATCH',
      url,
      { status: 'acknowledged', reason: 'r' },
      { 'if-match': `"${f!.etag}"` },
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBe(`"${ok.body.etag}"`);
    expect(ok.body.etag).not.toBe(f!.etag);
    // The version read before the change is stale now.
    const stale = await req(
      tech,
      'PATCH',
      url,
      { status: 'open', reason: 'r' },
      { 'if-match': `"${f!.etag}"` },
    );
    expect(stale.status).toBe(412);
    expect((await req(tech, 'GET', url)).body.status).toBe('acknowledged');
    // A weak or listed tag and * match too; no If-Match changes unconditionally.
    expect(
      (
        await req(
          tech,
          'PATCH',
          url,
          { status: 'open', reason: 'r' },
          { 'if-match': `"x", W/"${ok.body.etag}"` },
        )
      ).status,
    ).toBe(200);
    expect(
      (await req(tech, 'PATCH', url, { status: 'acknowledged', reason: 'r' }, { 'if-match': '*' })).status,
    ).toBe(200);
    expect((await req(tech, 'PATCH', url, { status: 'open', reason: 'r' })).status).toBe(200);
  });

  it('answers /me with the permissions its routes check', async (ctx) => {
    const s = server(ctx);
    const tenant = await tenantWith(1, 0);
    const principals: [string, Caller][] = [
      ['admin session', s.admin],
      ['technician token', tech],
      ['read_only token', await s.token({ name: 'ro', role: 'read_only' })],
      ['admin token of one tenant', await s.token({ name: 'adm1', role: 'admin', tenant_id: tenant })],
      [
        'customer',
        await s.userSession({ email: `cust-${dialect}@example.com`, role: 'customer', tenant_id: tenant }),
      ],
    ];
    const routes: [string, 'GET' | 'POST', string, object | undefined][] = [
      ['read', 'GET', `/api/v1/tenants/${tenant}/assets`, undefined],
      [
        'write',
        'POST',
        `/api/v1/tenants/${tenant}/findings/bulk/preview`,
        { filter: { all: true }, status: 'open', reason: 'r' },
      ],
      ['admin', 'GET', '/api/v1/audit', undefined],
    ];
    const expected: Record<string, string[]> = {
      'admin session': ['read', 'write', 'admin'],
      'technician token': ['read', 'write'],
      'read_only token': ['read'],
      'admin token of one tenant': ['read', 'write'],
      customer: ['read'],
    };
    for (const [name, who] of principals) {
      const me = await req(who, 'GET', '/api/v1/me');
      expect(me.body.permissions, name).toEqual(expected[name]);
      for (const [permission, method, url, payload] of routes) {
        const res = await req(who, method, url, payload);
        expect(res.status === 403, `${name} ${method} ${url}: ${res.status}`).toBe(
          !me.body.permissions.includes(permission),
        );
      }
    }
  });
});
