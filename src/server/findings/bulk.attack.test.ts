/**
 * Two-step bulk status changes attacked through the real app on SQLite and PostgreSQL:
 * - a filter made of LIKE wildcards (`asset_q: "%"`) selects what its text says, not every finding: only
 *   `"all": true` selects all;
 * - a confirmation acts for the principal it was given to: the same person's API token, or another tenant's
 *   principal, cannot commit it; many commits of one confirmation at once apply exactly one;
 * - two confirmations whose selections overlap, committed at the same time: the second finds the set changed
 *   (409) and nothing of it applies;
 * - for any previews and commits by tenant A's principal (with confirmations harvested from B's previews too),
 *   nothing of tenant B changes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';

const ADVISORY = 'proxylogon-2021-03';
const AFFECTED = '15.1.2176.2';
const exchange = (id: string, name: string) => ({
  id,
  name,
  products: [{ product: 'microsoft:exchange_server', version: AFFECTED }],
});

describe.each(TEST_DIALECTS)('bulk status changes under attack on %s', (dialect) => {
  let t: TestServer | undefined;
  let tech: Caller;
  let techA: Caller;
  let n = 0;
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    tech = await t.token({ name: 'tech', role: 'technician' });
    for (const id of ['acme', 'globex']) {
      const r = await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name: id } });
      expect(r.statusCode, r.body).toBe(201);
      const a = await t.call(t.admin, {
        method: 'POST',
        url: `/api/v1/tenants/${id}/assets`,
        payload: { assets: [1, 2, 3].map((i) => exchange(`${id}-mail${i}`, `${id} mail ${i}`)) },
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

  const req = async (who: Caller, url: string, payload: object) => {
    const res = await t!.call(who, { method: 'POST', url, payload });
    return { status: res.statusCode, text: res.body, body: res.body ? res.json() : undefined };
  };
  const preview = (who: Caller, tenant: string, body: object) =>
    req(who, `/api/v1/tenants/${tenant}/findings/bulk/preview`, body);
  const commit = (who: Caller, tenant: string, token: string) =>
    req(who, `/api/v1/tenants/${tenant}/findings/bulk/commit`, { token });
  const findingsOf = async (tenant: string) =>
    (
      await t!.db.kysely
        .selectFrom('findings')
        .selectAll()
        .where('tenant_id', '=', tenant)
        .orderBy('asset_id')
        .orderBy('cve')
        .execute()
    ).map((r) => JSON.stringify(r));
  const newTenant = async (assets: number) => {
    const id = `atk-${dialect}-${++n}`;
    expect((await req(t!.admin, '/api/v1/tenants', { id, name: id })).status).toBe(201);
    const r = await req(t!.admin, `/api/v1/tenants/${id}/assets`, {
      assets: Array.from({ length: assets }, (_, i) => exchange(`m${i}`, `mail ${i}`)),
    });
    expect(r.status, r.text).toBe(200);
    return id;
  };

  it('asset_q made of LIKE wildcards selects by its text, not every finding', async (ctx) => {
    server(ctx);
    const tenant = await newTenant(3);
    for (const asset_q of ['%', '_', '%%', '\\', 'mail_0']) {
      const p = await preview(tech, tenant, { filter: { asset_q }, status: 'acknowledged', reason: 'r' });
      expect(p.status, p.text).toBe(200);
      expect(p.body.matches, asset_q).toBe(0);
    }
    const literal = await preview(tech, tenant, {
      filter: { asset_q: 'MAIL 1' },
      status: 'acknowledged',
      reason: 'r',
    });
    expect(literal.body.matches).toBeGreaterThan(0);
  });

  it("a confirmation commits only for its principal: not the same person's API token; many at once apply once", async (ctx) => {
    const s = server(ctx);
    const tenant = await newTenant(2);
    const user = await s.userSession({ email: `op-${dialect}@msp.example`, role: 'technician' });
    const mine = await s.token({ name: `mine-${dialect}`, role: 'technician' }, user);
    const p = await preview(user, tenant, {
      filter: { advisory: ADVISORY },
      status: 'acknowledged',
      reason: 'r',
    });
    expect(p.status, p.text).toBe(200);
    const before = await findingsOf(tenant);
    const other = await commit(mine, tenant, p.body.token);
    expect(other.status, other.text).toBe(403);
    expect(await findingsOf(tenant)).toEqual(before);
    const all = await Promise.all(Array.from({ length: 8 }, () => commit(user, tenant, p.body.token)));
    expect(all.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
    const audit = await s.db.kysely
      .selectFrom('audit_pending')
      .select('id')
      .where('action', '=', 'findings.bulk_status')
      .where('tenant_id', '=', tenant)
      .execute()
      .catch(() => []);
    const chained = await s.db.kysely
      .selectFrom('audit_log')
      .select('seq')
      .where('action', '=', 'findings.bulk_status')
      .where('tenant_id', '=', tenant)
      .execute();
    expect(audit.length + chained.length).toBe(1);
  });

  it('two overlapping confirmations committed at once: one applies, the other is 409 and changes nothing', async (ctx) => {
    server(ctx);
    for (let round = 0; round < 3; round++) {
      const tenant = await newTenant(4);
      // Overlap: every finding of the advisory, and those of asset m1.
      const a = await preview(tech, tenant, {
        filter: { advisory: ADVISORY },
        status: 'acknowledged',
        reason: 'a',
      });
      const b = await preview(tech, tenant, {
        filter: { asset_q: 'mail 1' },
        status: 'accepted_risk',
        reason: 'b',
      });
      expect(a.status, a.text).toBe(200);
      expect(b.status, b.text).toBe(200);
      const [ra, rb] = await Promise.all([
        commit(tech, tenant, a.body.token),
        commit(tech, tenant, b.body.token),
      ]);
      const statuses = [ra.status, rb.status].sort();
      expect(statuses, `${ra.text} ${rb.text}`).toEqual([200, 409]);
      const won = ra.status === 200 ? 'acknowledged' : 'accepted_risk';
      const rows = (await findingsOf(tenant)).map(
        (r) => JSON.parse(r) as { asset_id: string; status: string },
      );
      const changed = rows.filter((r) => r.status !== 'open');
      if (won === 'acknowledged') expect(changed.every((r) => r.status === 'acknowledged')).toBe(true);
      else expect(changed.every((r) => r.status === 'accepted_risk' && r.asset_id === 'm1')).toBe(true);
    }
  });

  it("If-Match on another tenant's finding answers like a missing one, whatever the tag; B's finding stays", async (ctx) => {
    const s = server(ctx);
    const [b] = await s.db.kysely
      .selectFrom('findings')
      .selectAll()
      .where('tenant_id', '=', 'globex')
      .limit(1)
      .execute();
    expect(b).toBeDefined();
    const before = await findingsOf('globex');
    const answer = async (tenant: string, asset: string, ifMatch: string) => {
      const res = await s.call(techA, {
        method: 'PATCH',
        url: `/api/v1/tenants/${tenant}/assets/${asset}/findings/${b!.cve}`,
        headers: { 'if-match': ifMatch },
        payload: { status: 'acknowledged', reason: 'r' },
      });
      return { status: res.statusCode, body: res.body.replaceAll(tenant, '<t>').replaceAll(asset, '<a>') };
    };
    for (const tag of ['*', '"nope"', 'W/"x", *', '']) {
      const theirs = await answer('globex', b!.asset_id, tag);
      const none = await answer('no-such-tenant', 'no-such-asset', tag);
      expect(theirs.status, theirs.body).toBe(404);
      expect(theirs).toEqual(none);
    }
    expect(await findingsOf('globex')).toEqual(before);
  });

  it("for any previews and commits by tenant A's principal, nothing of tenant B changes", async (ctx) => {
    server(ctx);
    const bBefore = await findingsOf('globex');
    // Confirmations given out for B (to the installation-wide technician): A may have seen them somewhere.
    const harvested: string[] = [];
    for (const status of ['acknowledged', 'accepted_risk']) {
      const p = await preview(tech, 'globex', { filter: { all: true }, status, reason: 'x' });
      harvested.push(p.body.token);
    }
    const filter = fc.oneof(
      fc.constant({ all: true }),
      fc.record({ asset_q: fc.constantFrom('globex', '%', 'mail', 'acme') }),
      fc.record({ advisory: fc.constant(ADVISORY) }),
    );
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('preview' as const),
        tenant: fc.constantFrom('acme', 'globex'),
        filter,
        status: fc.constantFrom('acknowledged', 'accepted_risk', 'open'),
      }),
      fc.record({
        kind: fc.constant('commit' as const),
        tenant: fc.constantFrom('acme', 'globex'),
        token: fc.nat({ max: 10 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        const tokens = [...harvested];
        for (const st of steps) {
          if (st.kind === 'preview') {
            const r = await preview(techA, st.tenant, { filter: st.filter, status: st.status, reason: 'p' });
            expect(r.status, r.text).toBe(st.tenant === 'acme' ? 200 : 404);
            if (r.status === 200) tokens.push(r.body.token);
            if (st.tenant === 'acme') expect(r.text).not.toContain('globex');
          } else {
            const token = tokens[st.token % tokens.length]!;
            const r = await commit(techA, st.tenant, token);
            expect(r.status, r.text).not.toBe(500);
            if (st.tenant === 'globex') expect(r.status).toBe(404);
            else expect(r.text).not.toContain('globex');
          }
        }
        expect(await findingsOf('globex')).toEqual(bBefore);
      }),
      { numRuns: 15 },
    );
  }, 120_000);
});
