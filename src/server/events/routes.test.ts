/**
 * GET /api/v1/events over real HTTP on 127.0.0.1, on SQLite and PostgreSQL: a tenant's stream never carries
 * another tenant's events (live or caught up from the table), installation-wide events only of the listed types
 * reach tenant-scoped principals, and a client resumes with Last-Event-ID after the server was closed and rebuilt
 * on the same database, without loss or duplicates.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALLATION_EVENT_TYPES_FOR_TENANTS } from '../../api/events.js';
import { ALL_TENANTS, type Principal } from '../auth/principal.js';
import { openTestDb, TEST_DIALECTS, type TestDb } from '../db/db.testkit.js';
import { ApiError } from '../errors.js';
import { openSse, type SseFrame } from '../sse-client.testkit.js';
import { EventBus, headSeq } from './bus.js';
import { type EventInput, publishEvent } from './outbox.js';
import { eventRoutes } from './routes.js';
import type { SseLimits } from './sse.js';

/** A stream as these tests read it, over the shared SSE client: frames with their ids, comments, and its end. */
async function openStream(port: number, headers: Record<string, string>, query = '') {
  const session = await openSse(port, `/api/v1/events${query}`, headers);
  return {
    status: session.status,
    get events(): SseFrame[] {
      return session.read().frames;
    },
    get comments(): string[] {
      return session.read().comments;
    },
    get ended(): boolean {
      return session.ended();
    },
    close: () => void session.close(),
    pause: () => session.pause(),
    resume: () => session.resume(),
  };
}

type Stream = Awaited<ReturnType<typeof openStream>>;

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

/** Principals by header: `x-test-scope: all` or a tenant id. The real app resolves sessions and tokens instead. */
async function serve(
  db: TestDb,
  limits: Partial<SseLimits> = {},
): Promise<{ app: FastifyInstance; bus: EventBus; port: number; close(): Promise<void> }> {
  const bus = new EventBus(db, { pollMs: 200 });
  await bus.start();
  const app = Fastify({ logger: false });
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const who = request.headers['x-test-scope'];
    if (typeof who !== 'string') throw new ApiError(401, 'unauthorized', 'sign in');
    const principal: Principal = {
      kind: 'token',
      userId: `u-${who}`,
      email: `${who}@example.test`,
      role: who === 'all' ? 'read_only' : 'customer',
      scope: who === 'all' ? ALL_TENANTS : { all: false, tenantId: who },
    };
    (request as { principal?: Principal }).principal = principal;
  });
  app.setErrorHandler(
    (error: Error & { status?: number; statusCode?: number; code?: string }, _request, reply) => {
      const status = error instanceof ApiError ? error.status : (error.statusCode ?? 500);
      return reply.status(status).send({ error: error.code ?? 'error', message: error.message });
    },
  );
  await eventRoutes(app, { db, bus, limits: { heartbeatMs: 100, batch: 7, ...limits } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    app,
    bus,
    port,
    close: async () => {
      await app.close();
      await bus.stop();
    },
  };
}

const assetEvent = (tenantId: string, assetId: string): EventInput => ({
  type: 'asset.changed',
  tenantId,
  subject: `asset:${assetId}`,
  data: { asset_id: assetId },
});

describe.each(TEST_DIALECTS)('event stream on %s', (dialect) => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb(dialect);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it("a tenant's stream never carries another tenant's events, live or caught up", async (ctx) => {
    if (!db) return ctx.skip();
    const t = db;
    const server = await serve(t);
    const streams: Stream[] = [];
    try {
      const start = await headSeq(t.kysely);
      const a = await openStream(server.port, { 'x-test-scope': 'ta' });
      const b = await openStream(server.port, { 'x-test-scope': 'tb' });
      const all = await openStream(server.port, { 'x-test-scope': 'all' });
      streams.push(a, b, all);
      expect([a.status, b.status, all.status]).toEqual([200, 200, 200]);
      const published: EventInput[] = [
        assetEvent('ta', 'a1'),
        assetEvent('tb', 'b1'),
        {
          type: 'advisory.changed',
          tenantId: null,
          subject: 'advisory:adv-1',
          data: { advisory_ids: ['adv-1'], action: 'imported' },
        },
        {
          type: 'job.updated',
          tenantId: null,
          subject: 'job:j1',
          data: {
            job_id: 'j1',
            kind: 'advisories.import',
            state: 'running',
            progress: { done: 5, total: 100000 },
            attempts: 1,
            max_attempts: 3,
            cancel_requested: false,
            error: null,
          },
        },
        {
          type: 'job.updated',
          tenantId: 'tb',
          subject: 'job:j2',
          data: {
            job_id: 'j2',
            kind: 'recompute',
            state: 'running',
            progress: { done: 1, total: 2 },
            attempts: 1,
            max_attempts: 3,
            cancel_requested: false,
            error: null,
          },
        },
        { type: 'tenant.changed', tenantId: 'tb', subject: 'tenant:tb', data: { action: 'updated' } },
        {
          type: 'findings.changed',
          tenantId: 'ta',
          subject: 'asset:a1',
          data: { advisory_ids: ['adv-1'], asset_ids: ['a1'], assets: 1, findings: 2 },
        },
        { type: 'asset.deleted', tenantId: 'tb', subject: 'asset:b1', data: { asset_id: 'b1' } },
      ];
      for (let i = 0; i < 20; i++) published.push(assetEvent(i % 2 ? 'ta' : 'tb', `bulk${i}`));
      await t.kysely.transaction().execute(async (trx) => {
        for (const e of published.slice(0, 4)) await publishEvent(trx, e);
      });
      for (const e of published.slice(4)) await publishEvent(t.kysely, e);
      await publishEvent(t.kysely, assetEvent('ta', 'end-a'));
      await publishEvent(t.kysely, assetEvent('tb', 'end-b'));
      const got = (s: Stream, id: string) => s.events.some((e) => e.envelope.data.asset_id === id);
      expect(await until(() => got(a, 'end-a') && got(b, 'end-b') && got(all, 'end-b'), 5000)).toBe(true);

      const expectOnly = (s: Stream, tenant: string) => {
        for (const e of s.events) {
          const env = e.envelope;
          expect(
            env.tenant_id === tenant ||
              (env.tenant_id === null && INSTALLATION_EVENT_TYPES_FOR_TENANTS.includes(env.type)),
          ).toBe(true);
          expect(e.id).toBe(String(env.seq));
          expect(e.event).toBe(env.type);
        }
      };
      expectOnly(a, 'ta');
      expectOnly(b, 'tb');
      // The wire's keys are snake_case, the envelope's and the data's.
      expect(Object.keys(a.events[0]!.envelope).sort()).toEqual([
        'at',
        'data',
        'seq',
        'subject',
        'tenant_id',
        'type',
      ]);
      expect(a.events[0]!.envelope).toMatchObject({ tenant_id: 'ta', data: { asset_id: 'a1' } });
      const visible = (tenant: string) =>
        [...published, assetEvent('ta', 'end-a'), assetEvent('tb', 'end-b')].filter(
          (e) => e.tenantId === tenant || e.type === 'advisory.changed',
        ).length;
      expect(a.events.length).toBe(visible('ta'));
      expect(b.events.length).toBe(visible('tb'));
      expect(all.events.length).toBe(published.length + 2);
      for (const s of [a, b, all]) {
        const seqs = s.events.map((e) => e.envelope.seq);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(seqs.length);
      }
      expect(await until(() => all.comments.includes(': ping'), 2000)).toBe(true);

      // Catching up from the table (small batches) applies the same rule.
      const aAgain = await openStream(server.port, { 'x-test-scope': 'ta' }, `?after=${start}`);
      const bAgain = await openStream(server.port, { 'last-event-id': String(start), 'x-test-scope': 'tb' });
      streams.push(aAgain, bAgain);
      expect(await until(() => got(aAgain, 'end-a') && got(bAgain, 'end-b'), 5000)).toBe(true);
      expect(aAgain.events.map((e) => e.envelope)).toEqual(a.events.map((e) => e.envelope));
      expect(bAgain.events.map((e) => e.envelope)).toEqual(b.events.map((e) => e.envelope));
    } finally {
      for (const s of streams) s.close();
      await server.close();
    }
  });

  it('resumes with Last-Event-ID after the server was closed and rebuilt, without loss or duplicates', async (ctx) => {
    if (!db) return ctx.skip();
    const t = db;
    let server = await serve(t);
    const first = await openStream(server.port, { 'x-test-scope': 'ta' });
    for (let i = 1; i <= 3; i++) await publishEvent(t.kysely, assetEvent('ta', `r${i}`));
    expect(await until(() => first.events.length === 3, 5000)).toBe(true);
    const lastId = first.events.at(-1)!.id;
    // Closing the server ends open streams instead of waiting for them.
    const closing = Date.now();
    await server.close();
    expect(Date.now() - closing).toBeLessThan(2000);
    expect(await until(() => first.ended, 2000)).toBe(true);

    for (let i = 4; i <= 6; i++) await publishEvent(t.kysely, assetEvent('ta', `r${i}`));
    await publishEvent(t.kysely, assetEvent('tb', 'not-yours'));
    server = await serve(t);
    try {
      const resumed = await openStream(
        server.port,
        { 'x-test-scope': 'ta', 'last-event-id': lastId },
        '?after=0',
      );
      await publishEvent(t.kysely, assetEvent('ta', 'r7'));
      expect(await until(() => resumed.events.length >= 4, 5000)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      resumed.close();
      expect(resumed.events.map((e) => e.envelope.data.asset_id)).toEqual(['r4', 'r5', 'r6', 'r7']);
    } finally {
      await server.close();
    }
  });

  it('ends the stream of a client that does not read; it resumes from the table', async (ctx) => {
    if (!db) return ctx.skip();
    const t = db;
    const server = await serve(t, { maxBufferBytes: 64 * 1024 });
    try {
      const slow = await openStream(server.port, { 'x-test-scope': 'ta' });
      slow.pause();
      const assetIds = Array.from({ length: 400 }, (_, i) => `asset-with-a-long-identifier-${i}`);
      const count = 400;
      await t.kysely.transaction().execute(async (trx) => {
        for (let i = 0; i < count; i++)
          await publishEvent(trx, {
            type: 'findings.changed',
            tenantId: 'ta',
            subject: `bulk:${i}`,
            data: { advisory_ids: ['adv'], asset_ids: assetIds, assets: 400, findings: i },
          });
      });
      await new Promise((r) => setTimeout(r, 1500));
      slow.resume();
      expect(await until(() => slow.ended, 5000)).toBe(true);
      expect(slow.events.length).toBeLessThan(count);
      // Resuming from the last event received delivers the rest.
      const rest = await openStream(server.port, {
        'x-test-scope': 'ta',
        'last-event-id': slow.events.at(-1)?.id ?? '0',
      });
      expect(await until(() => rest.events.some((e) => e.envelope.data.findings === count - 1), 10_000)).toBe(
        true,
      );
      rest.close();
      const all = [...slow.events, ...rest.events].map((e) => e.envelope.data.findings);
      expect(all.slice(-count)).toEqual(Array.from({ length: count }, (_, i) => i));
    } finally {
      await server.close();
    }
  }, 30_000);

  it('refuses a malformed resume point, naming it, and an unauthenticated caller', async (ctx) => {
    if (!db) return ctx.skip();
    const server = await serve(db);
    try {
      const bad = await server.app.inject({
        method: 'GET',
        url: '/api/v1/events',
        headers: { 'x-test-scope': 'ta', 'last-event-id': 'abc' },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/Last-Event-ID/);
      const badQuery = await server.app.inject({
        method: 'GET',
        url: '/api/v1/events?after=-1',
        headers: { 'x-test-scope': 'ta' },
      });
      expect(badQuery.statusCode).toBe(400);
      expect(badQuery.json().message).toMatch(/after/);
      const anonymous = await server.app.inject({ method: 'GET', url: '/api/v1/events' });
      expect(anonymous.statusCode).toBe(401);
    } finally {
      await server.close();
    }
  });
});
