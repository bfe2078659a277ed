/**
 * GET /api/v1/events attacked by a signed-in low-privilege client (a customer of tenant A) and by an anonymous
 * one, over real HTTP on 127.0.0.1, on SQLite and PostgreSQL:
 * - many streams per user and in total: refused beyond the configured limits with 429 and Retry-After, slots
 *   come back when streams close, refusals and bad requests take no slot;
 * - a client that never reads: its connection is destroyed once its unsent bytes pass the bound, and a stream
 *   that ends while its client does not read is cut after a grace instead of holding its buffer;
 * - hostile Last-Event-ID values: 400 naming the header, or a reset for an id past the newest event;
 * - a resume point older than what retention kept: an explicit `event: reset` with the oldest kept seq, never a
 *   silent gap; retention deletes only a prefix of the numbering;
 * - the invariant (fast-check): for any events across tenants, any pruned prefix and any Last-Event-ID, a tenant-A
 *   stream delivers exactly A's visible events after that id, in order, or one reset and then exactly those after
 *   its resume_after.
 */

import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EventEnvelope,
  INSTALLATION_EVENT_TYPES_FOR_TENANTS,
  type StreamReset,
} from '../../api/events.js';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { ALL_TENANTS, type Principal } from '../auth/principal.js';
import { openTestDb, TEST_DIALECTS, type TestDb } from '../db/db.testkit.js';
import { ApiError } from '../errors.js';
import { openSse, type SseSession } from '../sse-client.testkit.js';
import { EventBus, headSeq } from './bus.js';
import { type EventInput, isPostgres, publishEvent } from './outbox.js';
import { pruneEvents } from './retention.js';
import { eventRoutes } from './routes.js';
import { sequenceEvents } from './sequencer.js';
import { oldestSeq, type SseLimits } from './sse.js';

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

/** The event routes alone, principals by header (`x-test-scope: all` or a tenant id), with chosen limits. */
async function harness(db: TestDb, limits: Partial<SseLimits> = {}) {
  const bus = new EventBus(db, { pollMs: 100 });
  await bus.start();
  const app: FastifyInstance = Fastify({ logger: false });
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
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = error instanceof ApiError ? error.status : (error.statusCode ?? 500);
    return reply.status(status).send({ error: 'error', message: error.message });
  });
  await eventRoutes(app, { db, bus, limits: { heartbeatMs: 100, batch: 5, ...limits } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const connections = () =>
    new Promise<number>((resolve, reject) =>
      app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
  return {
    app,
    port,
    connections,
    close: async () => {
      await app.close();
      await bus.stop();
    },
  };
}

/** Numbers what was published (PostgreSQL numbers committed events asynchronously) and returns the head. */
async function settle(db: TestDb): Promise<number> {
  if (isPostgres(db.kysely)) while ((await sequenceEvents(db.kysely)) > 0) {}
  return headSeq(db.kysely);
}

/** A raw connection that sends the request and never reads the answer. */
function nonReader(port: number, headers: Record<string, string>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.pause();
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`GET /api/v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines.join('')}\r\n`);
      resolve(socket);
    });
    socket.on('error', () => {});
    socket.once('error', reject);
  });
}

const bigEvent = (tenantId: string, i: number): EventInput => ({
  type: 'findings.changed',
  tenantId,
  subject: `bulk:${i}`,
  data: {
    advisory_ids: ['adv'],
    asset_ids: Array.from({ length: 400 }, (_, j) => `asset-with-a-long-identifier-${j}`),
    assets: 400,
    findings: i,
  },
});

const assetEvent = (tenantId: string, assetId: string): EventInput => ({
  type: 'asset.changed',
  tenantId,
  subject: `asset:${assetId}`,
  data: { asset_id: assetId },
});

/** Opens a stream, retrying while the server still counts streams that were just closed (429), up to 3 s. */
async function openWhenFree(port: number, headers: Record<string, string>): Promise<SseSession> {
  const end = Date.now() + 3000;
  for (;;) {
    const s = await openSse(port, '/api/v1/events', headers);
    if (s.status !== 429 || Date.now() > end) return s;
    s.close();
    await new Promise((r) => setTimeout(r, 50));
  }
}

const resetOf = (s: SseSession): StreamReset[] =>
  s
    .read()
    .frames.filter((f) => f.event === 'reset')
    .map((f) => f.envelope as unknown as StreamReset);
const eventsOf = (s: SseSession): EventEnvelope[] =>
  s
    .read()
    .frames.filter((f) => f.event !== 'reset')
    .map((f) => f.envelope);

describe.each(TEST_DIALECTS)('event stream under attack on %s', (dialect) => {
  describe('through the real app', () => {
    let t: TestServer | undefined;
    let port = 0;
    const callers: Record<string, Record<string, string>> = {};
    beforeAll(async () => {
      t = await openTestServer(dialect, { event_streams_per_user: 2, event_streams_max: 3 });
      if (!t) return;
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      port = (t.app.server.address() as AddressInfo).port;
      for (const id of ['acme', 'globex']) {
        const r = await t.call(t.admin, {
          method: 'POST',
          url: '/api/v1/tenants',
          payload: { id, name: id },
        });
        expect(r.statusCode, r.body).toBe(201);
      }
      callers.aSession = (
        await t.userSession({ email: 'c@acme.example', role: 'customer', tenant_id: 'acme' })
      ).headers;
      // A second credential of the same user: a token it mints itself.
      const minted = await t.call(
        { headers: callers.aSession },
        {
          method: 'POST',
          url: '/api/v1/tokens',
          payload: { name: 'mine' },
        },
      );
      expect(minted.statusCode, minted.body).toBe(201);
      callers.aToken = { authorization: `Bearer ${minted.json().token}` };
      callers.b = (
        await t.userSession({ email: 'c@globex.example', role: 'customer', tenant_id: 'globex' })
      ).headers;
      callers.admin = t.admin.headers;
    }, 120_000);
    afterAll(async () => {
      await t?.dispose();
    });

    it('limits open streams per user (sessions and tokens together) and in total: 429 with Retry-After', async (ctx) => {
      if (!t) return ctx.skip();
      const open: SseSession[] = [];
      try {
        open.push(await openSse(port, '/api/v1/events', callers.aSession!));
        open.push(await openSse(port, '/api/v1/events', callers.aToken!));
        expect(open.map((s) => s.status)).toEqual([200, 200]);
        // A third stream of the same user, by either credential: refused, and the refusal holds no slot.
        for (const who of [callers.aSession!, callers.aToken!]) {
          const refused = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { headers: who });
          expect(refused.status).toBe(429);
          expect(refused.headers.get('retry-after')).toBe('10');
          expect(await refused.json()).toMatchObject({ error: 'rate_limited' });
        }
        // Bad requests and anonymous ones take no slot either.
        for (let i = 0; i < 5; i++) {
          const bad = await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
            headers: { ...callers.b!, 'last-event-id': 'nope' },
          });
          expect(bad.status).toBe(400);
          const anonymous = await fetch(`http://127.0.0.1:${port}/api/v1/events`);
          expect(anonymous.status).toBe(401);
        }
        open.push(await openSse(port, '/api/v1/events', callers.b!));
        expect(open[2]!.status).toBe(200);
        // The server's total (3) is reached: another user is refused too.
        const full = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { headers: callers.admin! });
        expect(full.status).toBe(429);
        expect(full.headers.get('retry-after')).toBe('10');
        expect(((await full.json()) as { message: string }).message).toMatch(/server/);
        // A closed stream gives its slot back.
        open.shift()!.close();
        const again = await openWhenFree(port, callers.aSession!);
        open.push(again);
        expect(again.status).toBe(200);
      } finally {
        for (const s of open) s.close();
      }
    });

    it('answers hostile Last-Event-ID values with one 400 naming the header, and holds no slot for them', async (ctx) => {
      if (!t) return ctx.skip();
      const hostile = [
        '-1',
        'abc',
        '1e3',
        '0x10',
        '1.5',
        '9'.repeat(16),
        '99999999999999999999999999',
        '1, 2',
        'x'.repeat(10_000),
        `1${' '.repeat(5000)}2`,
      ];
      for (const value of hostile) {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
          headers: { ...callers.aSession!, 'last-event-id': value },
        });
        expect(res.status, value.slice(0, 30)).toBe(400);
        expect(((await res.json()) as { message: string }).message).toMatch(/Last-Event-ID/);
      }
      for (const after of ['-1', 'abc', '9'.repeat(16), '1e3']) {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/events?after=${encodeURIComponent(after)}`, {
          headers: callers.aSession!,
        });
        expect(res.status, after).toBe(400);
        expect(((await res.json()) as { message: string }).message).toMatch(/after/);
      }
      // A header block beyond what the server reads is refused by HTTP itself.
      const huge = await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
        headers: { ...callers.aSession!, 'last-event-id': '1'.repeat(70_000) },
      }).catch(() => undefined);
      if (huge) expect([400, 431]).toContain(huge.status);
      // Two streams still open for this user: nothing above took a slot.
      const s1 = await openWhenFree(port, callers.aSession!);
      const s2 = await openWhenFree(port, callers.aToken!);
      try {
        expect([s1.status, s2.status]).toEqual([200, 200]);
      } finally {
        s1.close();
        s2.close();
      }
    });

    it('an id past the newest event (15 digits) gets a reset to the head, then live events', async (ctx) => {
      if (!t) return ctx.skip();
      const t0 = t;
      const s = await openWhenFree(port, { ...callers.aSession!, 'last-event-id': '999999999999999' });
      try {
        expect(s.status).toBe(200);
        await s.until((r) => r.frames.some((f) => f.event === 'reset'), 5000);
        const head = await settle(t0.db);
        const [reset] = resetOf(s);
        expect(reset).toMatchObject({ reason: 'unknown' });
        expect(reset!.resume_after).toBeLessThanOrEqual(head);
        expect(s.read().frames[0]!.id).toBe(String(reset!.resume_after));
        await publishEvent(t0.db.kysely, assetEvent('acme', 'after-reset'));
        await s.until((r) => r.frames.some((f) => f.envelope.data?.asset_id === 'after-reset'), 5000);
        expect(resetOf(s)).toHaveLength(1);
      } finally {
        s.close();
      }
    });
  });

  describe('with the event routes alone', () => {
    let db: TestDb | undefined;
    beforeAll(async () => {
      db = await openTestDb(dialect);
    });
    afterAll(async () => {
      await db?.dispose();
    });

    it('destroys the connection of a client that never reads once its unsent bytes pass the bound', async (ctx) => {
      if (!db) return ctx.skip();
      const t0 = db;
      const server = await harness(t0, { maxBufferBytes: 64 * 1024 });
      let socket: Socket | undefined;
      try {
        socket = await nonReader(server.port, { 'x-test-scope': 'ta' });
        expect(await until(async () => (await server.connections()) === 1, 2000)).toBe(true);
        // Live events after the stream caught up: about 5 MB, far more than socket buffers hold.
        await new Promise((r) => setTimeout(r, 300));
        await t0.kysely.transaction().execute(async (trx) => {
          for (let i = 0; i < 400; i++) await publishEvent(trx, bigEvent('ta', i));
        });
        await settle(t0);
        expect(await until(async () => (await server.connections()) === 0, 10_000)).toBe(true);
      } finally {
        socket?.destroy();
        await server.close();
      }
    }, 30_000);

    it('cuts a stream that ended while its client does not read, after the grace', async (ctx) => {
      if (!db) return ctx.skip();
      const t0 = db;
      // No slow-reader bound to speak of: the lifetime ends the stream while megabytes wait for the client.
      const server = await harness(t0, {
        maxBufferBytes: 512 * 1024 * 1024,
        maxConnectionMs: 3000,
        endGraceMs: 300,
      });
      let socket: Socket | undefined;
      try {
        socket = await nonReader(server.port, { 'x-test-scope': 'ta' });
        expect(await until(async () => (await server.connections()) === 1, 2000)).toBe(true);
        await new Promise((r) => setTimeout(r, 300));
        await t0.kysely.transaction().execute(async (trx) => {
          for (let i = 0; i < 400; i++) await publishEvent(trx, bigEvent('ta', i));
        });
        await settle(t0);
        expect(await until(async () => (await server.connections()) === 0, 8000)).toBe(true);
      } finally {
        socket?.destroy();
        await server.close();
      }
    }, 30_000);

    it('tells a client resuming before the oldest kept event to reload (event: reset), never a silent gap', async (ctx) => {
      if (!db) return ctx.skip();
      const t0 = db;
      const server = await harness(t0);
      try {
        const base = await settle(t0);
        for (let i = 1; i <= 5; i++) await publishEvent(t0.kysely, assetEvent('ta', `g${i}`));
        const head = await settle(t0);
        expect(head).toBe(base + 5);
        // Retention removed everything up to base + 3.
        await t0.kysely
          .deleteFrom('events')
          .where('seq', '<=', base + 3)
          .execute();
        expect(await oldestSeq(t0.kysely)).toBe(base + 4);

        const gap = await openSse(server.port, '/api/v1/events', {
          'x-test-scope': 'ta',
          'last-event-id': String(base + 1),
        });
        await gap.until((r) => r.frames.length >= 1, 5000);
        expect(gap.read().frames[0]).toMatchObject({ event: 'reset', id: String(head) });
        expect(resetOf(gap)).toEqual([{ reason: 'expired', oldest_seq: base + 4, resume_after: head }]);
        await publishEvent(t0.kysely, assetEvent('ta', 'g6'));
        await gap.until((r) => r.frames.some((f) => f.envelope.data?.asset_id === 'g6'), 5000);
        // After the reset: only what follows resume_after (g4 and g5 are before it, the client reloads them).
        expect(eventsOf(gap).map((e) => e.data.asset_id)).toEqual(['g6']);
        gap.close();

        // Resuming exactly at the boundary loses nothing: no reset.
        const fine = await openSse(server.port, '/api/v1/events', {
          'x-test-scope': 'ta',
          'last-event-id': String(base + 3),
        });
        await fine.until((r) => r.frames.some((f) => f.envelope.data?.asset_id === 'g6'), 5000);
        expect(resetOf(fine)).toEqual([]);
        expect(eventsOf(fine).map((e) => e.data.asset_id)).toEqual(['g4', 'g5', 'g6']);
        fine.close();
      } finally {
        await server.close();
      }
    });

    it('retention deletes only a prefix of the numbering, whatever the order of the events’ times', async (ctx) => {
      if (!db) return ctx.skip();
      const t0 = db;
      await t0.kysely.deleteFrom('event_cursors').execute();
      const base = await settle(t0);
      for (let i = 1; i <= 4; i++) await publishEvent(t0.kysely, assetEvent('ta', `p${i}`));
      const head = await settle(t0);
      // On PostgreSQL an event's time need not rise with its seq: an old one, a recent one, an old one, the newest.
      const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
      const recent = new Date().toISOString();
      for (const [seq, at] of [
        [base + 1, old],
        [base + 2, recent],
        [base + 3, old],
        [base + 4, recent],
      ] as const)
        await t0.kysely.updateTable('events').set({ at }).where('seq', '=', seq).execute();
      await t0.kysely.updateTable('events').set({ at: old }).where('seq', '<=', base).execute();
      await pruneEvents(t0.kysely, { olderThanDays: 1 });
      const left = await t0.kysely.selectFrom('events').select('seq').orderBy('seq').execute();
      expect(left.map((r) => Number(r.seq))).toEqual([base + 2, base + 3, head]);
    });

    it('property: a tenant stream delivers exactly its visible events after Last-Event-ID, in order, or a reset first', async (ctx) => {
      if (!db) return ctx.skip();
      const t0 = db;
      const server = await harness(t0);
      const kinds = ['ta', 'tb', 'advisory', 'job'] as const;
      const toEvent = (kind: (typeof kinds)[number], i: number, run: number): EventInput =>
        kind === 'advisory'
          ? {
              type: 'advisory.changed',
              tenantId: null,
              subject: `advisory:x${run}-${i}`,
              data: { advisory_ids: [`x${run}-${i}`], action: 'imported' },
            }
          : kind === 'job'
            ? {
                type: 'job.updated',
                tenantId: null,
                subject: `job:j${run}-${i}`,
                data: {
                  job_id: `j${run}-${i}`,
                  kind: 'advisories.recompute',
                  state: 'running',
                  progress: { done: i, total: null },
                  attempts: 1,
                  max_attempts: 3,
                  cancel_requested: false,
                  error: null,
                },
              }
            : assetEvent(kind, `r${run}-${i}`);
      let run = 0;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 12 }),
            fc.nat({ max: 12 }),
            fc.integer({ min: -3, max: 15 }),
            async (kindsOf, pruneCount, resumeOffset) => {
              run++;
              const base = await settle(t0);
              await t0.kysely.transaction().execute(async (trx) => {
                for (const [i, k] of kindsOf.entries()) await publishEvent(trx, toEvent(k, i, run));
              });
              const head = await settle(t0);
              // Retention: a prefix, never the newest.
              const cut = Math.min(base + pruneCount, head - 1);
              if (pruneCount > 0) await t0.kysely.deleteFrom('events').where('seq', '<=', cut).execute();
              const resume = Math.max(0, base + resumeOffset);
              const table = await t0.kysely
                .selectFrom('events')
                .select(['seq', 'tenant_id', 'type'])
                .orderBy('seq')
                .execute();
              const oldest = table.length ? Number(table[0]!.seq) : 0;
              const visible = table
                .filter(
                  (e) =>
                    e.tenant_id === 'ta' ||
                    (e.tenant_id === null &&
                      INSTALLATION_EVENT_TYPES_FOR_TENANTS.includes(e.type as EventEnvelope['type'])),
                )
                .map((e) => Number(e.seq));

              const s = await openSse(server.port, '/api/v1/events', {
                'x-test-scope': 'ta',
                'last-event-id': String(resume),
              });
              try {
                expect(s.status).toBe(200);
                const end = `end-${run}`;
                await publishEvent(t0.kysely, assetEvent('ta', end));
                await s.until((r) => r.frames.some((f) => f.envelope.data?.asset_id === end), 15_000);
                const frames = s.read().frames;
                const resets = resetOf(s);
                const got = eventsOf(s)
                  .map((e) => e.seq)
                  .slice(0, -1);
                for (const e of eventsOf(s)) {
                  expect(
                    e.tenant_id === 'ta' ||
                      (e.tenant_id === null && INSTALLATION_EVENT_TYPES_FOR_TENANTS.includes(e.type)),
                  ).toBe(true);
                }
                const expectReset = resume > head ? 'unknown' : oldest > resume + 1 ? 'expired' : undefined;
                if (expectReset) {
                  expect(resets).toHaveLength(1);
                  expect(frames[0]!.event).toBe('reset');
                  expect(resets[0]!.reason).toBe(expectReset);
                  expect(resets[0]!.resume_after).toBeGreaterThanOrEqual(head);
                  expect(got).toEqual(visible.filter((seq) => seq > resets[0]!.resume_after));
                } else {
                  expect(resets).toEqual([]);
                  expect(got).toEqual(visible.filter((seq) => seq > resume));
                }
              } finally {
                s.close();
              }
            },
          ),
          { numRuns: 25 },
        );
      } finally {
        await server.close();
      }
    }, 120_000);
  });
});
