/**
 * Agents over REST on SQLite and PostgreSQL: enrolment tokens and their lifetimes, enrolment (proof of possession,
 * one use per enrolment, one key enrols once, the asset it makes), the agent list and identity, revocation, agent
 * jobs (signed envelopes, cancel) and the fan-out platform job.
 */
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  enrollSigningBytes,
  jobSigningBytes,
  publicKeyFromRaw,
  publicKeyToRaw,
  type SignedJob,
  signBytes,
  verifyBytes,
} from '../../api/agent-protocol.js';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';

function agentKey(): { privateKey: KeyObject; raw: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, raw: publicKeyToRaw(publicKey) };
}

function tokenId(token: string): string {
  return token.slice(4, 16);
}

function enrollBody(token: string, key = agentKey(), extra: Record<string, unknown> = {}) {
  return {
    token,
    public_key: key.raw,
    proof: signBytes(key.privateKey, enrollSigningBytes(tokenId(token), key.raw)),
    hostname: 'mail01.example',
    os: 'linux',
    version: '0.1.0',
    ...extra,
  };
}

describe.each(TEST_DIALECTS)('agents (%s)', (dialect) => {
  let t: TestServer | undefined;
  let customerB: Caller;

  beforeAll(async () => {
    t = await openTestServer(dialect, { agent_enroll_rate: 100000 });
    if (!t) return;
    for (const id of ['ta', 'tb']) {
      const res = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/tenants',
        payload: { id, name: id },
      });
      expect(res.statusCode).toBe(201);
    }
    const site = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/sites',
      payload: { id: 'hq', name: 'HQ' },
    });
    expect(site.statusCode).toBe(201);
    customerB = await t.userSession({ email: 'b@customer.example', role: 'customer', tenant_id: 'tb' });
  }, 60_000);
  afterAll(async () => t?.dispose());

  const newToken = async (tenant = 'ta', body: Record<string, unknown> = {}, caller?: Caller) => {
    const res = await t!.call(caller ?? t!.admin, {
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/agent-tokens`,
      payload: body,
    });
    return res;
  };
  const enroll = (payload: unknown) =>
    t!.call(undefined, { method: 'POST', url: '/api/v1/agents/enroll', payload: payload as object });

  it('creates a token shown once, lists it without its secret, and enrols an agent that becomes an asset', async () => {
    if (!t) return;
    const created = await newToken('ta', { site: 'hq', uses: 1, ttl_s: 600, note: 'first' });
    expect(created.statusCode).toBe(201);
    const tok = created.json();
    expect(tok.token).toMatch(/^bwe_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(tok).toMatchObject({ tenant_id: 'ta', site_id: 'hq', uses_allowed: 1, uses: 0, note: 'first' });
    const list = await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/ta/agent-tokens' });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(tok.token.slice(17));
    expect(list.json().items.map((i: { id: string }) => i.id)).toContain(tok.id);

    const key = agentKey();
    const res = await enroll(enrollBody(tok.token, key));
    expect(res.statusCode, res.body).toBe(201);
    const out = res.json();
    expect(out.agent_id).toMatch(/^ag-[a-z0-9]{16}$/);
    expect(out).toMatchObject({
      tenant_id: 'ta',
      site_id: 'hq',
      asset_id: out.agent_id,
      generation: 0,
      heartbeat_s: 60,
    });
    // The certificate is the CA's, for this key, with the agent's URI.
    const cert = new X509Certificate(out.certificate_pem);
    const ca = new X509Certificate(out.ca_certificate_pem);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.publicKey.export({ format: 'jwk' }).x).toBe(key.raw);
    expect(cert.subjectAltName).toBe(`URI:urn:bulwark:agent:ta:${out.agent_id}`);
    expect(out.server_keys).toHaveLength(1);
    expect(out.server_keys[0].key_id).toMatch(/^[0-9a-f]{16}$/);

    const asset = await t.call(t.admin, { method: 'GET', url: `/api/v1/tenants/ta/assets/${out.agent_id}` });
    expect(asset.statusCode).toBe(200);
    expect(asset.json()).toMatchObject({
      id: out.agent_id,
      name: 'mail01.example',
      site_id: 'hq',
      source: 'agent',
    });

    const agent = await t.call(t.admin, { method: 'GET', url: `/api/v1/tenants/ta/agents/${out.agent_id}` });
    expect(agent.statusCode).toBe(200);
    expect(agent.json()).toMatchObject({
      id: out.agent_id,
      state: 'active',
      online: false,
      public_key: key.raw,
      cert_serial: cert.serialNumber.toLowerCase(),
      generation: 0,
      hostname: 'mail01.example',
    });
    expect(agent.json().key_fingerprint).toMatch(/^[0-9a-f]{64}$/);

    // One use: used up now.
    const again = await enroll(enrollBody(tok.token));
    expect(again.statusCode).toBe(401);
    expect(again.json().message).toMatch(/invalid or expired/);

    const audit = await t.call(t.admin, { method: 'GET', url: '/api/v1/audit?limit=1000' });
    expect(audit.body).toContain('agent.enroll');
    expect(audit.body).not.toContain(tok.token);
  });

  it('refuses expired, revoked and unknown tokens, and a proof made with another key', async () => {
    if (!t) return;
    const expired = (await newToken('ta', { uses: 5 })).json();
    await t.db.kysely
      .updateTable('agent_tokens')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', expired.id)
      .execute();
    expect((await enroll(enrollBody(expired.token))).statusCode).toBe(401);

    const revoked = (await newToken('ta', { uses: 5 })).json();
    const del = await t.call(t.admin, {
      method: 'DELETE',
      url: `/api/v1/tenants/ta/agent-tokens/${revoked.id}`,
    });
    expect(del.statusCode).toBe(200);
    expect(del.json().revoked_at).not.toBeNull();
    expect((await enroll(enrollBody(revoked.token))).statusCode).toBe(401);

    const good = (await newToken('ta', { uses: 5 })).json();
    const forged = `${good.token.slice(0, 17)}${'A'.repeat(43)}`;
    expect((await enroll(enrollBody(forged))).statusCode).toBe(401);
    expect((await enroll(enrollBody('bwe_nonsense'))).statusCode).toBe(401);

    // Proof of possession: signed by a key the caller does not present.
    const mine = agentKey();
    const theirs = agentKey();
    const res = await enroll({
      ...enrollBody(good.token, mine),
      proof: signBytes(theirs.privateKey, enrollSigningBytes(good.id, mine.raw)),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/^proof:/);
    // A proof for another token id does not count either.
    const other = await enroll({
      ...enrollBody(good.token, mine),
      proof: signBytes(mine.privateKey, enrollSigningBytes('x'.repeat(12), mine.raw)),
    });
    expect(other.statusCode).toBe(401);
    const bad = await enroll({ ...enrollBody(good.token), public_key: 'A'.repeat(42) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/public_key/);
  });

  it('keeps tokens to their tenant: another tenant and its customers see and revoke none of them', async () => {
    if (!t) return;
    const tok = (await newToken('ta')).json();
    // A customer writes nothing; a technician token scoped to tb sees no ta.
    expect((await newToken('ta', {}, customerB)).statusCode).toBe(403);
    const techB = await t.token({ role: 'technician', tenant_id: 'tb' });
    expect((await newToken('ta', {}, techB)).statusCode).toBe(404);
    expect(
      (await t.call(techB, { method: 'DELETE', url: `/api/v1/tenants/ta/agent-tokens/${tok.id}` }))
        .statusCode,
    ).toBe(404);
    const list = await t.call(customerB, { method: 'GET', url: '/api/v1/tenants/ta/agent-tokens' });
    expect(list.statusCode).toBe(404);
    const del = await t.call(t.admin, { method: 'DELETE', url: `/api/v1/tenants/tb/agent-tokens/${tok.id}` });
    expect(del.statusCode).toBe(404);
    const site = await newToken('ta', { site: 'nope' });
    expect(site.statusCode).toBe(400);
    expect(site.json().message).toMatch(/^site:/);
    // Enrolled with ta's token, the agent is ta's, never tb's.
    const res = await enroll(enrollBody(tok.token));
    expect(res.statusCode).toBe(201);
    const id = res.json().agent_id;
    expect(
      (await t.call(customerB, { method: 'GET', url: `/api/v1/tenants/tb/agents/${id}` })).statusCode,
    ).toBe(404);
    expect(
      (await t.call(t.admin, { method: 'GET', url: `/api/v1/tenants/tb/agents/${id}` })).statusCode,
    ).toBe(404);
  });

  it('enrols two clones with one multi-use token as two agents; the same key twice is a 409', async () => {
    if (!t) return;
    const tok = (await newToken('ta', { uses: 5 })).json();
    const a = await enroll(enrollBody(tok.token));
    const b = await enroll(enrollBody(tok.token));
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(a.json().agent_id).not.toBe(b.json().agent_id);
    const key = agentKey();
    const results = await Promise.all([
      enroll(enrollBody(tok.token, key)),
      enroll(enrollBody(tok.token, key)),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409]);
    const later = await enroll(enrollBody(tok.token, key));
    expect(later.statusCode).toBe(409);
    expect(later.json().message).toMatch(/^public_key: this key is already enrolled/);
    const stored = await t.db.kysely
      .selectFrom('agent_tokens')
      .select('uses')
      .where('id', '=', tok.id)
      .executeTakeFirstOrThrow();
    // The refused enrolments took no use.
    expect(Number(stored.uses)).toBe(3);
  });

  it('takes a multi-use token exactly uses times when enrolments race', async () => {
    if (!t) return;
    const tok = (await newToken('ta', { uses: 3 })).json();
    const results = await Promise.all(Array.from({ length: 8 }, () => enroll(enrollBody(tok.token))));
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201)).toHaveLength(3);
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
  });

  it('lists agents by keyset with filters, and revokes: state, certificates, pending jobs', async () => {
    if (!t) return;
    const tok = (await newToken('ta', { uses: 5, site: 'hq' })).json();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await enroll(enrollBody(tok.token))).json().agent_id);
    const page1 = await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/ta/agents?site=hq&limit=2' });
    expect(page1.statusCode).toBe(200);
    expect(page1.json().items).toHaveLength(2);
    const page2 = await t.call(t.admin, {
      method: 'GET',
      url: `/api/v1/tenants/ta/agents?site=hq&limit=2&cursor=${page1.json().next_cursor}`,
    });
    expect(page2.statusCode).toBe(200);
    const seen = [...page1.json().items, ...page2.json().items].map((a: { id: string }) => a.id);
    for (const id of ids) expect(seen).toContain(id);
    const offline = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/ta/agents?online=false&state=active&limit=1000',
    });
    expect(offline.statusCode).toBe(200);
    expect(offline.json().items.every((a: { online: boolean }) => a.online === false)).toBe(true);

    const job = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/agent-jobs',
      payload: { kind: 'inventory', agents: [ids[0]] },
    });
    expect(job.statusCode).toBe(202);
    const rev = await t.call(t.admin, {
      method: 'POST',
      url: `/api/v1/tenants/ta/agents/${ids[0]}/revoke`,
      payload: { reason: 'laptop stolen' },
    });
    expect(rev.statusCode, rev.body).toBe(200);
    expect(rev.json()).toMatchObject({ state: 'revoked' });
    expect(rev.json().state_reason).toMatch(/laptop stolen/);
    const certs = await t.db.kysely
      .selectFrom('agent_certificates')
      .select('revoked_at')
      .where('agent_id', '=', ids[0]!)
      .execute();
    expect(certs.length).toBe(1);
    expect(certs.every((c) => c.revoked_at !== null)).toBe(true);
    const jobRow = await t.call(t.admin, {
      method: 'GET',
      url: `/api/v1/tenants/ta/agent-jobs/${job.json().jobs[0].id}`,
    });
    expect(jobRow.json().state).toBe('cancelled');
    // Revoked agents run no jobs; revoking again changes nothing; no body is fine.
    const refused = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/agent-jobs',
      payload: { kind: 'inventory', agents: [ids[0]] },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toMatch(/^agents\[0\]: agent .* is revoked/);
    const twice = await t.call(t.admin, {
      method: 'POST',
      url: `/api/v1/tenants/ta/agents/${ids[1]}/revoke`,
    });
    expect(twice.statusCode, twice.body).toBe(200);
    // Customers revoke nothing; a technician of another tenant finds no such agent.
    const foreign = await t.call(customerB, {
      method: 'POST',
      url: `/api/v1/tenants/ta/agents/${ids[2]}/revoke`,
      payload: {},
    });
    expect(foreign.statusCode).toBe(403);
    const techB = await t.token({ role: 'technician', tenant_id: 'tb' });
    const scoped = await t.call(techB, {
      method: 'POST',
      url: `/api/v1/tenants/ta/agents/${ids[2]}/revoke`,
      payload: {},
    });
    expect(scoped.statusCode, scoped.body).toBe(404);
  });

  it('signs one envelope per agent that verifies with the published key; an altered one does not; cancel', async () => {
    if (!t) return;
    const tok = (await newToken('ta', { uses: 2 })).json();
    const enrolled = [
      (await enroll(enrollBody(tok.token))).json(),
      (await enroll(enrollBody(tok.token))).json(),
    ];
    const key = publicKeyFromRaw(enrolled[0].server_keys[0].public_key);
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/agent-jobs',
      payload: {
        kind: 'hunt',
        params: { advisory_id: 'proxylogon' },
        agents: enrolled.map((e) => e.agent_id),
        expires_in_s: 600,
      },
    });
    expect(res.statusCode, res.body).toBe(202);
    const jobs = res.json().jobs as { id: string; agent_id: string; state: string }[];
    expect(jobs).toHaveLength(2);
    const nonces = new Set<string>();
    for (const j of jobs) {
      const got = await t.call(t.admin, { method: 'GET', url: `/api/v1/tenants/ta/agent-jobs/${j.id}` });
      expect(got.statusCode).toBe(200);
      const signed: SignedJob = { envelope: got.json().envelope, signature: got.json().signature };
      expect(signed.envelope).toMatchObject({
        v: 1,
        job_id: j.id,
        agent_id: j.agent_id,
        tenant_id: 'ta',
        kind: 'hunt',
        params: { advisory_id: 'proxylogon' },
      });
      expect(signed.envelope.key_id).toBe(enrolled[0].server_keys[0].key_id);
      expect(verifyBytes(key, jobSigningBytes(signed.envelope), signed.signature)).toBe(true);
      for (const altered of [
        { ...signed.envelope, agent_id: 'ag-other' },
        { ...signed.envelope, tenant_id: 'tb' },
        { ...signed.envelope, expires_at: new Date(Date.now() + 9e9).toISOString() },
        { ...signed.envelope, params: { advisory_id: 'other' } },
      ])
        expect(verifyBytes(key, jobSigningBytes(altered), signed.signature)).toBe(false);
      nonces.add(signed.envelope.nonce);
    }
    expect(nonces.size).toBe(2);

    const list = await t.call(t.admin, {
      method: 'GET',
      url: `/api/v1/tenants/ta/agent-jobs?agent=${jobs[0]!.agent_id}&state=queued`,
    });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((i: { id: string }) => i.id)).toEqual([jobs[0]!.id]);
    const cancel = await t.call(t.admin, {
      method: 'POST',
      url: `/api/v1/tenants/ta/agent-jobs/${jobs[0]!.id}/cancel`,
    });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json().state).toBe('cancelled');
    const again = await t.call(t.admin, {
      method: 'POST',
      url: `/api/v1/tenants/ta/agent-jobs/${jobs[0]!.id}/cancel`,
    });
    expect(again.statusCode).toBe(409);
    expect(
      (await t.call(customerB, { method: 'GET', url: `/api/v1/tenants/ta/agent-jobs/${jobs[1]!.id}` }))
        .statusCode,
    ).toBe(404);
    expect(
      (await t.call(t.admin, { method: 'GET', url: `/api/v1/tenants/tb/agent-jobs/${jobs[1]!.id}` }))
        .statusCode,
    ).toBe(404);

    // Parameters are checked per kind, naming the field.
    const badParams = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/agent-jobs',
      payload: { kind: 'hunt', params: { advisory: 'x' }, all: true },
    });
    expect(badParams.statusCode).toBe(400);
    expect(badParams.json().message).toMatch(/^params/);
    const both = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/agent-jobs',
      payload: { kind: 'inventory' },
    });
    expect(both.statusCode).toBe(400);
    expect(both.json().message).toMatch(/^agents:/);
    const all = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants/ta/agent-jobs',
      payload: { kind: 'inventory', all: true },
    });
    expect(all.statusCode).toBe(202);
    expect(all.json().jobs.length).toBeGreaterThanOrEqual(2);
  });

  it('fans a job out across tenants as a durable job with progress', async () => {
    if (!t) return;
    const tb = (await newToken('tb', { uses: 2 })).json();
    await enroll(enrollBody(tb.token));
    await enroll(enrollBody(tb.token));
    const active = await t.db.kysely
      .selectFrom('agents')
      .select('id')
      .where('state', '=', 'active')
      .execute();
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/agent-jobs/fan-out',
      payload: { kind: 'inventory', filter: {} },
    });
    expect(res.statusCode, res.body).toBe(202);
    const jobId = res.json().id as string;
    let job = res.json();
    for (let i = 0; i < 200 && !['succeeded', 'failed'].includes(job.state); i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await t.call(t.admin, { method: 'GET', url: `/api/v1/jobs/${jobId}` })).json();
    }
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.result).toMatchObject({ agents: active.length, tenants: 2, batch_id: jobId });
    expect(job.progress).toEqual({ done: active.length, total: active.length });
    const rows = await t.db.kysely
      .selectFrom('agent_jobs')
      .select('agent_id')
      .where('batch_id', '=', jobId)
      .execute();
    expect(new Set(rows.map((r) => r.agent_id)).size).toBe(active.length);
    // Only operators that see every tenant fan out.
    const scoped = await t.token({ role: 'technician', tenant_id: 'ta' });
    const refused = await t.call(scoped, {
      method: 'POST',
      url: '/api/v1/agent-jobs/fan-out',
      payload: { kind: 'inventory', filter: {} },
    });
    expect(refused.statusCode).toBe(403);
    // By product: agents whose asset runs it (none here).
    const none = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/agent-jobs/fan-out',
      payload: { kind: 'inventory', filter: { product: 'microsoft:exchange_server', tenants: ['ta'] } },
    });
    expect(none.statusCode).toBe(202);
  });

  it('never answers an enrolment body with a 500', async () => {
    if (!t) return;
    const tok = (await newToken('ta', { uses: 100 })).json();
    const text = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constant(tok.token),
      fc.constant(''),
      fc.constant('\u0000'),
    );
    const body = fc.oneof(
      fc.record(
        { token: text, public_key: text, proof: text, hostname: text, os: text, version: text },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const res = await t!.call(undefined, {
          method: 'POST',
          url: '/api/v1/agents/enroll',
          payload: JSON.stringify(payload ?? null),
          headers: { 'content-type': 'application/json' },
        });
        expect(res.statusCode, res.body).toBeLessThan(500);
        expect([400, 401, 409, 413, 415]).toContain(res.statusCode);
      }),
      { numRuns: 150 },
    );
  });
});
