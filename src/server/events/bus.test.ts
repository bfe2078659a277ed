/**
 * Event delivery on SQLite and PostgreSQL: only committed events arrive, in seq order, none skipped when
 * PostgreSQL commits them out of id order; a durable consumer that fails mid-batch gets the events again and ends
 * in the state of a run without failures; a second replica on the same PostgreSQL schema receives events within
 * 2 s, also after its LISTEN connection was killed; retention keeps what a durable consumer still needs.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../api/events.js';
import { type Db, openDatabase } from '../db/connect.js';
import { openTestDb, TEST_DIALECTS, TEST_PG_URL, type TestDb } from '../db/db.testkit.js';
import { EventBus, headSeq } from './bus.js';
import { publishEvent } from './outbox.js';
import { pruneEvents } from './retention.js';
import { sequenceEvents } from './sequencer.js';

/** Waits for `check` to hold, polling every 10 ms, at most `ms`. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

const asset = (tenantId: string, assetId: string) =>
  ({ type: 'asset.changed', tenantId, subject: `asset:${assetId}`, data: { asset_id: assetId } }) as const;

describe.each(TEST_DIALECTS)('event delivery on %s', (dialect) => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb(dialect);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('refuses a malformed event with the field named', async (ctx) => {
    if (!db) return ctx.skip();
    await expect(
      publishEvent(db.kysely, { ...asset('t1', 'a'), type: 'asset.exploded' as never }),
    ).rejects.toThrow(/event type must be one of/);
    await expect(publishEvent(db.kysely, { ...asset('t1', 'a'), data: { asset_id: 7 } })).rejects.toThrow(
      /event data of asset.changed at \/asset_id/,
    );
    await expect(publishEvent(db.kysely, { ...asset('t1', 'a'), subject: '' })).rejects.toThrow(
      /event subject/,
    );
  });

  it('delivers committed events in order and never one from a rolled-back transaction', async (ctx) => {
    if (!db) return ctx.skip();
    const t = db;
    const bus = new EventBus(t, { pollMs: 200 });
    const seen: EventEnvelope[] = [];
    bus.subscribe('test.local', (e) => void seen.push(e), { durable: false });
    await bus.start();
    try {
      await t.kysely
        .transaction()
        .execute(async (trx) => {
          await publishEvent(trx, asset('t1', 'rolled-back'));
          throw new Error('abort');
        })
        .catch(() => {});
      await t.kysely.transaction().execute(async (trx) => {
        await publishEvent(trx, asset('t1', 'one'));
        await publishEvent(trx, asset('t1', 'two'));
      });
      await publishEvent(t.kysely, asset('t1', 'three'));
      expect(await until(() => seen.length >= 3, 3000)).toBe(true);
      await bus.drain();
      expect(seen.map((e) => e.data.asset_id)).toEqual(['one', 'two', 'three']);
      const seqs = seen.map((e) => e.seq);
      expect(seqs).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
      expect(seen[0]).toMatchObject({ type: 'asset.changed', tenant_id: 't1', subject: 'asset:one' });
    } finally {
      await bus.stop();
    }
  });

  it('a durable consumer that fails mid-batch gets the events again and ends as without failures', async (ctx) => {
    if (!db) return ctx.skip();
    const t = db;
    // 40 events over 6 subjects; the idempotent handler keeps the last value per subject.
    const base = await headSeq(t.kysely);
    for (let i = 0; i < 40; i++)
      await publishEvent(t.kysely, {
        type: 'findings.changed',
        tenantId: 't1',
        subject: `asset:s${i % 6}`,
        data: { advisory_ids: ['adv'], assets: 1, findings: i },
      });
    // PostgreSQL numbers committed events in the sequencer; every consumer's drain runs it.
    if (dialect === 'postgres') while ((await sequenceEvents(t.kysely)) > 0);
    const reference = new Map<string, number>();
    for (let i = 0; i < 40; i++) reference.set(`asset:s${i % 6}`, i);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 6 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 16 }),
        async (failAt, afterEffect, batch) => {
          const name = `test.durable.${++run}`;
          const bus = new EventBus(t, { batch, retryMs: 0 });
          const state = new Map<string, number>();
          let calls = 0;
          bus.subscribe(
            name,
            (e) => {
              if (e.seq <= base) return;
              const call = calls++;
              const fail = failAt.includes(call);
              if (fail && !afterEffect) throw new Error(`fail before call ${call}`);
              state.set(e.subject, e.data.findings as number);
              if (fail) throw new Error(`fail after call ${call}`);
            },
            { durable: true, from: 'start' },
          );
          const head = await headSeq(t.kysely);
          for (let i = 0; i < 200; i++) {
            await bus.drain();
            const row = await t.kysely
              .selectFrom('event_cursors')
              .select('seq')
              .where('name', '=', name)
              .executeTakeFirst();
            if (Number(row?.seq) >= head) break;
          }
          expect(state).toEqual(reference);
          const cursor = await t.kysely
            .selectFrom('event_cursors')
            .select('seq')
            .where('name', '=', name)
            .executeTakeFirstOrThrow();
          expect(Number(cursor.seq)).toBe(head);
          // Every failure costs at least one redelivery.
          expect(calls).toBeGreaterThanOrEqual(40 + failAt.filter((c) => c < 40).length);
        },
      ),
      { numRuns: dialect === 'postgres' ? 25 : 50 },
    );
  }, 60_000);

  it('retention keeps events a durable consumer has not handled, and always the newest', async (ctx) => {
    if (!db) return ctx.skip();
    const t = db;
    await t.kysely
      .insertInto('event_cursors')
      .values({ name: 'test.slow', seq: 2, updated_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('name').doUpdateSet({ seq: 2 }))
      .execute();
    const head = await headSeq(t.kysely);
    const later = new Date(Date.now() + 10 * 86_400_000);
    await pruneEvents(t.kysely, { olderThanDays: 1, now: later });
    const left = await t.kysely.selectFrom('events').select('seq').orderBy('seq').execute();
    expect(Number(left[0]?.seq)).toBe(3);
    await t.kysely.deleteFrom('event_cursors').execute();
    await pruneEvents(t.kysely, { olderThanDays: 1, now: later });
    const rest = await t.kysely.selectFrom('events').select('seq').execute();
    expect(rest.map((r) => Number(r.seq))).toEqual([head]);
    // Numbering continues after the newest event.
    await publishEvent(t.kysely, asset('t1', 'after-prune'));
    const bus = new EventBus(t);
    await bus.drain();
    expect(await headSeq(t.kysely)).toBe(head + 1);
  });
});

describe('event delivery across PostgreSQL replicas', () => {
  let a: TestDb | undefined;
  let b: Db | undefined;
  beforeAll(async () => {
    a = await openTestDb('postgres');
    if (!a) return;
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(a.kysely)).rows[0]!.s;
    b = await openDatabase({ url: TEST_PG_URL, dataDir: a.dataDir, pgSchema: schema, poolSize: 4 });
  });
  afterAll(async () => {
    await b?.close();
    await a?.dispose();
  });

  it('an event committed late (lower id, later commit) is delivered after the others, none skipped', async (ctx) => {
    if (!a) return ctx.skip();
    const t = a;
    const bus = new EventBus(t, { pollMs: 100 });
    const seen: EventEnvelope[] = [];
    bus.subscribe('test.order', (e) => void seen.push(e), { durable: false });
    await bus.start();
    try {
      const slow = await t.kysely.startTransaction().execute();
      await publishEvent(slow, asset('t1', 'low-id'));
      await t.kysely.transaction().execute((trx) => publishEvent(trx, asset('t1', 'high-id')));
      expect(await until(() => seen.length >= 1, 2000)).toBe(true);
      await bus.drain();
      expect(seen.map((e) => e.data.asset_id)).toEqual(['high-id']);
      await slow.commit().execute();
      expect(await until(() => seen.length >= 2, 2000)).toBe(true);
      expect(seen.map((e) => e.data.asset_id)).toEqual(['high-id', 'low-id']);
      expect(seen[1]!.seq).toBe(seen[0]!.seq + 1);
      const ids = await t.kysely.selectFrom('events').select(['id', 'seq']).orderBy('seq').execute();
      const last2 = ids.slice(-2);
      expect(Number(last2[1]!.id)).toBeLessThan(Number(last2[0]!.id));
    } finally {
      await bus.stop();
    }
  });

  it('an event published through replica A reaches B within 2 s, also after B lost its LISTEN connection', async (ctx) => {
    if (!a || !b) return ctx.skip();
    const ta = a;
    // A slow poll: delivery within the bound comes from the notification or the listener's reconnect.
    const busA = new EventBus(ta, { pollMs: 1500 });
    const busB = new EventBus(b, { pollMs: 1500 });
    const seenB: { e: EventEnvelope; at: number }[] = [];
    busB.subscribe('test.replica', (e) => void seenB.push({ e, at: Date.now() }), { durable: false });
    await busA.start();
    await busB.start();
    try {
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const sent = Date.now();
        await publishEvent(ta.kysely, asset('t1', `r${i}`));
        expect(await until(() => seenB.some((s) => s.e.data.asset_id === `r${i}`), 2000)).toBe(true);
        latencies.push(seenB.find((s) => s.e.data.asset_id === `r${i}`)!.at - sent);
      }
      const pid = busB.listenerPid();
      expect(pid).toBeTypeOf('number');
      const admin = new pg.Client({ connectionString: TEST_PG_URL });
      await admin.connect();
      try {
        await admin.query('select pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
      const sent = Date.now();
      await publishEvent(ta.kysely, asset('t1', 'after-kill'));
      expect(await until(() => seenB.some((s) => s.e.data.asset_id === 'after-kill'), 2000)).toBe(true);
      const afterKill = seenB.find((s) => s.e.data.asset_id === 'after-kill')!.at - sent;
      // The listener is back: a new backend.
      expect(await until(() => (busB.listenerPid() ?? pid) !== pid, 6000)).toBe(true);
      const sent2 = Date.now();
      await publishEvent(ta.kysely, asset('t1', 'after-reconnect'));
      expect(await until(() => seenB.some((s) => s.e.data.asset_id === 'after-reconnect'), 2000)).toBe(true);
      const afterReconnect = seenB.find((s) => s.e.data.asset_id === 'after-reconnect')!.at - sent2;
      expect(seenB.map((s) => s.e.data.asset_id)).toEqual([
        'r0',
        'r1',
        'r2',
        'r3',
        'r4',
        'after-kill',
        'after-reconnect',
      ]);
      console.log(
        `replica delivery latency ms: ${latencies.join(', ')}; after kill ${afterKill}; after reconnect ${afterReconnect}`,
      );
    } finally {
      await busA.stop();
      await busB.stop();
    }
  });

  it('without a LISTEN connection at all, the poll delivers within 2 s', async (ctx) => {
    if (!a || !b) return ctx.skip();
    const ta = a;
    // B's listener cannot connect (nothing listens on port 1): only the 1 s poll wakes it.
    const deaf: Db = {
      ...b,
      dedicatedClient: () =>
        new pg.Client({
          connectionString: 'postgres://nobody@127.0.0.1:1/none',
          connectionTimeoutMillis: 200,
        }),
    };
    const busB = new EventBus(deaf, { pollMs: 1000 });
    const seenB: EventEnvelope[] = [];
    busB.subscribe('test.poll', (e) => void seenB.push(e), { durable: false });
    await busB.start();
    try {
      expect(busB.listenerPid()).toBeUndefined();
      const sent = Date.now();
      await publishEvent(ta.kysely, asset('t1', 'polled'));
      expect(await until(() => seenB.some((e) => e.data.asset_id === 'polled'), 2000)).toBe(true);
      console.log(`delivery by poll alone: ${Date.now() - sent} ms`);
    } finally {
      await busB.stop();
    }
  });

  it('a durable consumer runs on one replica at a time and handles each event once when nothing fails', async (ctx) => {
    if (!a || !b) return ctx.skip();
    const ta = a;
    const handled: number[] = [];
    const busA = new EventBus(ta, { pollMs: 100 });
    const busB = new EventBus(b, { pollMs: 100 });
    const handler = async (e: EventEnvelope) => {
      handled.push(e.seq);
      await new Promise((r) => setTimeout(r, 2));
    };
    busA.subscribe('test.shared', handler, { durable: true });
    busB.subscribe('test.shared', handler, { durable: true });
    await busA.start();
    await busB.start();
    try {
      for (let i = 0; i < 30; i++) await publishEvent(ta.kysely, asset('t1', `d${i}`));
      const head = await headSeq(ta.kysely);
      expect(await until(() => handled.includes(head), 5000)).toBe(true);
      await busA.drain();
      await busB.drain();
      expect(handled.length).toBe(30);
      expect(new Set(handled).size).toBe(30);
    } finally {
      await busA.stop();
      await busB.stop();
    }
  });
});
