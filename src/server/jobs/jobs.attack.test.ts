/**
 * The jobs routes and the advisory import attacked through the real app on SQLite and PostgreSQL:
 * - a principal of tenant A learns nothing of tenant B's jobs or of installation-wide ones: reading or cancelling
 *   one answers exactly what a job that does not exist answers (same status, same message shape), lists leave
 *   them out whatever the filter, and B's job is unchanged; ids carry 48 random bits, so they are not guessed;
 * - neither a customer nor a tenant-scoped technician can start an import (so no recompute) or cancel a job;
 * - an Idempotency-Key names one principal's job: another principal sending it (one after the other or at the
 *   same time) gets a 409 and stores nothing, never the first principal's job; keys the server uses for its own
 *   schedules are refused;
 * - import bodies: YAML alias bombs are refused at once, a body over the limit is 413 before it is read, and an
 *   anonymous one is 401 before it is read; a flood of imports is cut at a per-user rate.
 */

import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_IMPORT_BYTES } from '../../api/advisories.js';
import { IMPORTS_PER_MINUTE } from '../advisories/routes.js';
import { type Caller, openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import { newJobId } from './model.js';

const osv = (id: string, cve: string) => ({
  schema_version: '1.3.1',
  id,
  modified: '2024-05-20T16:03:47Z',
  published: '2021-04-14T20:04:52Z',
  aliases: [cve],
  summary: 'Log line injection in github.com/gin-gonic/gin',
  affected: [
    {
      package: { name: 'github.com/gin-gonic/gin', ecosystem: 'Go' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.6.0' }] }],
    },
  ],
});

/** Sends raw bytes and returns the status line and headers of the answer (bounded wait). */
function rawExchange(port: number, head: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(head));
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms: ${got.slice(0, 200)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (got) resolve(got);
      else reject(err);
    });
  });
}

describe.each(TEST_DIALECTS)('jobs and imports under attack on %s', (dialect) => {
  let t: TestServer | undefined;
  let port = 0;
  let customerA: Caller;
  let techA: Caller;
  let operator2: Caller;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
    for (const id of ['acme', 'globex']) {
      const r = await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name: id } });
      expect(r.statusCode, r.body).toBe(201);
    }
    customerA = await t.userSession({ email: 'c@acme.example', role: 'customer', tenant_id: 'acme' });
    techA = await t.token({ name: 'tech-a', role: 'technician', tenant_id: 'acme' });
    operator2 = await t.userSession({ email: 'op2@msp.example', role: 'technician' });
    const queue = t.ctx.jobs.queue;
    const k = t.db.kysely;
    // B's job failed with names in its error; never run by a worker (kind without a handler stays queued).
    const b = await queue.enqueue(k, { kind: 'attack.demo', tenantId: 'globex', createdBy: 'user:op@x' });
    await k
      .updateTable('jobs')
      .set({ state: 'running', error: 'host ZZB-SECRET-HOST unreachable', progress_done: 7 })
      .where('id', '=', b.id)
      .execute();
    ids.b = b.id;
    ids.install = (
      await queue.enqueue(k, { kind: 'attack.install', tenantId: null, createdBy: 'user:op@x' })
    ).id;
    ids.a = (await queue.enqueue(k, { kind: 'attack.demo', tenantId: 'acme', createdBy: 'user:op@x' })).id;
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
  });

  const server = (ctx: { skip: () => void }): TestServer => {
    if (!t) ctx.skip();
    return t!;
  };

  it("another tenant's job and an installation-wide one read exactly like a job that does not exist", async (ctx) => {
    const s = server(ctx);
    const missing = newJobId(Date.now());
    const answer = async (caller: Caller, method: 'GET' | 'POST', id: string) => {
      const res = await s.call(caller, {
        method,
        url: method === 'GET' ? `/api/v1/jobs/${id}` : `/api/v1/jobs/${id}/cancel`,
      });
      return { status: res.statusCode, body: res.body.replaceAll(id, '<id>') };
    };
    for (const caller of [customerA, techA]) {
      const none = await answer(caller, 'GET', missing);
      expect(none.status).toBe(404);
      for (const id of [ids.b!, ids.install!]) {
        const hidden = await answer(caller, 'GET', id);
        expect(hidden).toEqual(none);
        expect(hidden.body).not.toContain('ZZB');
      }
      const noneCancel = await answer(caller, 'POST', missing);
      for (const id of [ids.b!, ids.install!]) expect(await answer(caller, 'POST', id)).toEqual(noneCancel);
    }
    // A customer has no write: 403 whatever the id, so even that answer tells nothing.
    expect((await answer(customerA, 'POST', ids.a!)).status).toBe(403);
    expect((await answer(customerA, 'POST', ids.b!)).status).toBe(403);
    // The tenant-scoped technician cancels only its own tenant's job; B's is untouched.
    expect((await answer(techA, 'POST', ids.a!)).status).toBe(200);
    const b = await s.ctx.jobs.queue.get(ids.b!);
    expect(b).toMatchObject({ state: 'running', cancel_requested: false });

    // Lists leave them out whatever the filter.
    for (const query of [
      '',
      '?tenant=globex',
      '?kind=attack.demo',
      '?kind=attack.install',
      '?state=running',
    ]) {
      for (const caller of [customerA, techA]) {
        const list = await s.call(caller, { method: 'GET', url: `/api/v1/jobs${query}` });
        expect(list.statusCode, query).toBe(200);
        expect(list.body).not.toContain(ids.b!);
        expect(list.body).not.toContain(ids.install!);
        expect(list.body).not.toContain('ZZB');
        for (const job of list.json().items as { tenant_id: string | null }[])
          expect(job.tenant_id).toBe('acme');
      }
    }
  });

  it('job ids carry 48 random bits: ids made in the same millisecond share no random part', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), (ms) => {
        const made = Array.from({ length: 50 }, () => newJobId(ms));
        const random = made.map((id) => /^job_[0-9a-z]{9}[0-9a-z]{4}([0-9a-f]{12})$/.exec(id)?.[1]);
        expect(random.every((r) => r !== undefined)).toBe(true);
        expect(new Set(random).size).toBe(made.length);
      }),
      { numRuns: 20 },
    );
  });

  it('neither a customer nor a tenant-scoped technician starts an import (and so no recompute)', async (ctx) => {
    const s = server(ctx);
    const jobs = async () =>
      Number(
        (
          await s.db.kysely
            .selectFrom('jobs')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('kind', '=', 'advisories.recompute')
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await jobs();
    for (const caller of [customerA, techA]) {
      const res = await s.call(caller, {
        method: 'POST',
        url: '/api/v1/advisories/import',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(osv('GO-2020-0700', 'CVE-2020-90700')),
      });
      expect(res.statusCode).toBe(403);
    }
    expect(await jobs()).toBe(before);
    const advisory = await s.call(s.admin, { method: 'GET', url: '/api/v1/advisories/go-2020-0700' });
    expect(advisory.statusCode).toBe(404);
  });

  it("an Idempotency-Key never answers another principal's job, one after the other or at once", async (ctx) => {
    const s = server(ctx);
    const doc = (n: number) => JSON.stringify(osv(`GO-2020-08${n}`, `CVE-2020-908${n}`));
    const post = (caller: Caller, key: string, body: string) =>
      s.call(caller, {
        method: 'POST',
        url: '/api/v1/advisories/import',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        payload: body,
      });
    const first = await post(s.admin, `shared-${dialect}`, doc(10));
    expect(first.statusCode, first.body).toBe(202);
    const other = await post(operator2, `shared-${dialect}`, doc(11));
    expect(other.statusCode, other.body).toBe(409);
    expect(other.body).not.toContain(first.json().id);
    expect(other.json().message).toMatch(/idempotency_key/);
    // Nothing of the second document was stored.
    expect(
      (await s.call(s.admin, { method: 'GET', url: '/api/v1/advisories/go-2020-0811' })).statusCode,
    ).toBe(404);
    // The owner still gets its job.
    const again = await post(s.admin, `shared-${dialect}`, doc(10));
    expect(again.statusCode).toBe(202);
    expect(again.json().id).toBe(first.json().id);

    // At the same time, with a new key: one principal's import wins, the other is refused and stores nothing.
    const [x, y] = await Promise.all([
      post(s.admin, `race-${dialect}`, doc(20)),
      post(operator2, `race-${dialect}`, doc(21)),
    ]);
    const statuses = [x.statusCode, y.statusCode].sort();
    expect(statuses, `${x.body} ${y.body}`).toEqual([202, 409]);
    const loser = x.statusCode === 409 ? 'go-2020-0820' : 'go-2020-0821';
    expect((await s.call(s.admin, { method: 'GET', url: `/api/v1/advisories/${loser}` })).statusCode).toBe(
      404,
    );
  });

  it("refuses Idempotency-Keys of the server's own schedules, naming the header", async (ctx) => {
    const s = server(ctx);
    const slot = new Date(Date.now() + 86_400_000).toISOString();
    const res = await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/json', 'idempotency-key': `schedule:retention.daily:${slot}` },
      payload: JSON.stringify(osv('GO-2020-0900', 'CVE-2020-90900')),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^Idempotency-Key/);
  });

  it('refuses a YAML alias bomb at once, and stores nothing', async (ctx) => {
    const s = server(ctx);
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const res = await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/advisories/import',
      headers: { 'content-type': 'application/yaml' },
      payload: `${levels.join('\n')}\nid: bomb\n`,
    });
    expect(res.statusCode).toBe(400);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.json().message.length).toBeLessThan(1000);
  });

  it(`limits imports to ${IMPORTS_PER_MINUTE} a minute per user: then 429 with Retry-After, other users unaffected`, async (ctx) => {
    const s = server(ctx);
    const flooder = await s.userSession({ email: 'flood@msp.example', role: 'technician' });
    const post = (caller: Caller) =>
      s.call(caller, {
        method: 'POST',
        url: '/api/v1/advisories/import',
        headers: { 'content-type': 'application/json' },
        payload: '{"not":"an advisory"}',
      });
    for (let i = 0; i < IMPORTS_PER_MINUTE; i++) expect((await post(flooder)).statusCode).toBe(400);
    const refused = await post(flooder);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.json()).toMatchObject({ error: 'rate_limited' });
    expect((await post(s.admin)).statusCode).toBe(400);
  });

  it('answers an oversized body 413 and an anonymous one 401 before reading it', async (ctx) => {
    server(ctx);
    const big = MAX_IMPORT_BYTES + 1;
    const head = (auth: string) =>
      `POST /api/v1/advisories/import HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
      `content-length: ${big}\r\n${auth}\r\n`;
    // Headers only: the server answers without waiting for the 64 MiB it was promised.
    const anonymous = await rawExchange(port, head(''));
    expect(anonymous).toMatch(/^HTTP\/1\.1 401/);
    const token = t!.admin.headers;
    const cookie = Object.entries(token)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const oversized = await rawExchange(port, head(cookie));
    expect(oversized).toMatch(/^HTTP\/1\.1 413/);
  });
});
