/**
 * The jobs routes over real HTTP on 127.0.0.1, on SQLite and PostgreSQL: a tenant-scoped principal sees and
 * cancels only its tenants' jobs and never installation-wide ones; operators see all; bad input answers 400
 * naming the field; the routes are in the OpenAPI document. The app here authenticates by a test header and
 * enforces `config.access` as the server does.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { may, type Permission, type Principal } from '../auth/principal.js';
import { openTestDb, TEST_DIALECTS, type TestDb } from '../db/db.testkit.js';
import { ApiError, forbidden, unauthorized } from '../errors.js';
import { openapiOptions } from '../openapi.js';
import { JobQueue, jobRoutes } from './index.js';

const PRINCIPALS: Record<string, Principal> = {
  operator: { kind: 'session', userId: 'u1', email: 'op@x', role: 'technician', scope: { all: true } },
  viewer: { kind: 'session', userId: 'u2', email: 'ro@x', role: 'read_only', scope: { all: true } },
  acmeTech: {
    kind: 'token',
    userId: 'u3',
    email: 't@acme',
    role: 'technician',
    scope: { all: false, tenantId: 'acme' },
  },
  acmeCustomer: {
    kind: 'session',
    userId: 'u4',
    email: 'c@acme',
    role: 'customer',
    scope: { all: false, tenantId: 'acme' },
  },
};

async function buildTestApp(queue: JobQueue): Promise<FastifyInstance> {
  const app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' } } });
  await app.register(
    swagger,
    openapiOptions({ version: 'test', sessionCookie: 's', csrfHeader: 'x-csrf-token' }),
  );
  app.addHook('onRequest', async (request) => {
    const who = request.headers['x-test-principal'];
    const principal = typeof who === 'string' ? PRINCIPALS[who] : undefined;
    if (!principal) throw unauthorized();
    request.principal = principal;
    const access = request.routeOptions.config?.access as Permission | undefined;
    if (access && !may(principal, access)) throw forbidden(`this needs the ${access} permission`);
  });
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof ApiError)
      return reply.status(error.status).send({ error: error.code, message: error.message });
    const e = error as { validation?: unknown; statusCode?: number; message: string };
    return reply
      .status(e.validation ? 400 : (e.statusCode ?? 500))
      .send({ error: 'bad_request', message: e.message });
  });
  await jobRoutes(app, { queue });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

describe.each(TEST_DIALECTS)('jobs routes on %s', (dialect) => {
  let db: TestDb | undefined;
  let app: FastifyInstance;
  let base = '';
  let queue: JobQueue;
  const ids: Record<string, string> = {};

  const call = async (who: string, method: string, path: string) => {
    const res = await fetch(`${base}${path}`, { method, headers: { 'x-test-principal': who } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    db = await openTestDb(dialect);
    if (!db) return;
    const k = db.kysely;
    await k
      .insertInto('tenants')
      .values([
        { id: 'acme', name: 'ACME', created_at: new Date().toISOString() },
        { id: 'globex', name: 'Globex', created_at: new Date().toISOString() },
      ])
      .execute();
    queue = new JobQueue(k);
    ids.acme = (await queue.enqueue(k, { kind: 'demo.a', tenantId: 'acme', createdBy: 'user:op@x' })).id;
    ids.globex = (await queue.enqueue(k, { kind: 'demo.a', tenantId: 'globex', createdBy: 'user:op@x' })).id;
    ids.install = (
      await queue.enqueue(k, { kind: 'advisories.import', tenantId: null, createdBy: 'user:op@x' })
    ).id;
    ids.done = (await queue.enqueue(k, { kind: 'demo.a', tenantId: 'acme', createdBy: 'user:op@x' })).id;
    await k
      .updateTable('jobs')
      .set({ state: 'succeeded', finished_at: new Date().toISOString() })
      .where('id', '=', ids.done)
      .execute();
    app = await buildTestApp(queue);
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('a tenant-scoped principal lists and reads only its tenants’ jobs', async (ctx) => {
    if (!db) return ctx.skip();
    const list = await call('acmeTech', 'GET', '/api/v1/jobs');
    expect(list.status).toBe(200);
    const seen = (list.body.items as Array<{ id: string; tenant_id: string | null }>).map((j) => j.id).sort();
    expect(seen).toEqual([ids.acme, ids.done].sort());
    expect(list.body.total).toBe(2);
    expect((await call('acmeTech', 'GET', '/api/v1/jobs?tenant=globex')).body.items).toEqual([]);
    expect((await call('acmeTech', 'GET', `/api/v1/jobs/${ids.acme}`)).status).toBe(200);
    for (const id of [ids.globex, ids.install]) {
      const r = await call('acmeTech', 'GET', `/api/v1/jobs/${id}`);
      expect(r.status).toBe(404);
      expect(r.body.message).toContain('does not exist or is not yours to see');
      expect((await call('acmeTech', 'POST', `/api/v1/jobs/${id}/cancel`)).status).toBe(404);
    }
    const customer = await call('acmeCustomer', 'GET', `/api/v1/jobs/${ids.acme}`);
    expect(customer.status).toBe(200);
    expect(customer.body).toMatchObject({
      id: ids.acme,
      state: 'queued',
      tenant_id: 'acme',
      progress: { done: 0, total: null },
    });
    expect(customer.body).not.toHaveProperty('params');
  });

  it('operators see every job, installation-wide ones included; paging with ?after=', async (ctx) => {
    if (!db) return ctx.skip();
    const all = await call('viewer', 'GET', '/api/v1/jobs?limit=2');
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(4);
    expect(all.body.items).toHaveLength(2);
    const next = all.body.next as string;
    const rest = await call('viewer', 'GET', `/api/v1/jobs?limit=2&after=${encodeURIComponent(next)}`);
    const ids2 = [...(all.body.items as { id: string }[]), ...(rest.body.items as { id: string }[])].map(
      (j) => j.id,
    );
    expect(ids2.sort()).toEqual(Object.values(ids).sort());
    expect(rest.body.next).toBeNull();
    const install = await call('viewer', 'GET', '/api/v1/jobs?kind=advisories.import');
    expect((install.body.items as { id: string }[]).map((j) => j.id)).toEqual([ids.install]);
  });

  it('cancel needs write; cancels a queued job, again is harmless, a finished job is a conflict', async (ctx) => {
    if (!db) return ctx.skip();
    expect((await call('acmeCustomer', 'POST', `/api/v1/jobs/${ids.acme}/cancel`)).status).toBe(403);
    expect((await call('viewer', 'POST', `/api/v1/jobs/${ids.install}/cancel`)).status).toBe(403);
    const c = await call('acmeTech', 'POST', `/api/v1/jobs/${ids.acme}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.state).toBe('cancelled');
    expect((await call('acmeTech', 'POST', `/api/v1/jobs/${ids.acme}/cancel`)).body.state).toBe('cancelled');
    const done = await call('acmeTech', 'POST', `/api/v1/jobs/${ids.done}/cancel`);
    expect(done.status).toBe(409);
    expect(done.body.message).toContain('already ended succeeded');
    expect((await call('operator', 'POST', `/api/v1/jobs/${ids.install}/cancel`)).body.state).toBe(
      'cancelled',
    );
  });

  it('bad input: one 400 naming the field', async (ctx) => {
    if (!db) return ctx.skip();
    const state = await call('viewer', 'GET', '/api/v1/jobs?state=done');
    expect(state.status).toBe(400);
    expect(state.body.message).toContain('state');
    expect((await call('viewer', 'GET', '/api/v1/jobs?limit=0')).status).toBe(400);
    const after = await call('viewer', 'GET', '/api/v1/jobs?after=xyz');
    expect(after.status).toBe(400);
    expect(after.body.message).toMatch(/^after:/);
    expect((await call('viewer', 'GET', '/api/v1/jobs/not-a-job')).status).toBe(400);
    expect((await call('nobody', 'GET', '/api/v1/jobs')).status).toBe(401);
  });

  it('is described in the OpenAPI document', async (ctx) => {
    if (!db) return ctx.skip();
    const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/jobs/{id}/cancel']),
    );
    expect(doc.paths['/api/v1/jobs/{id}']).toHaveProperty('get');
  });
});
