import fc from 'fast-check';
import { type Kysely, sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase, openSqlite } from '../db/connect.js';
import { openTestDb, TEST_DIALECTS, TEST_PG_URL, type TestDb } from '../db/db.testkit.js';
import type { Database } from '../db/schema.js';
import {
  AUDIT_LOCK_KEY,
  AuditChainer,
  appendAudit,
  auditHash,
  auditHead,
  canonicalJson,
  flushAudit,
  GENESIS_HASH,
  listAudit,
  pageAudit,
  REDACTED,
  redactDetail,
  verifyAudit,
} from './log.js';

async function appendMany(db: TestDb, n: number, tenant: (i: number) => string | null = () => null) {
  for (let i = 0; i < n; i++) {
    await db.kysely.transaction().execute((trx) =>
      appendAudit(trx, db.dialect, {
        actor: `user:u${i % 3}`,
        tenantId: tenant(i),
        action: 'asset.update',
        target: `asset:a${i}`,
        detail: { i, note: `change ${i}`, nested: { list: [i, 'x'] } },
      }),
    );
  }
  await flushAudit(db.kysely);
}

describe('canonical JSON and redaction', () => {
  it('sorts keys at every depth, including integer-like keys JavaScript would put first', () => {
    expect(canonicalJson({ b: 1, a: [{ z: 1, y: 2 }], 10: 'x', 2: 'y' })).toBe(
      '{"10":"x","2":"y","a":[{"y":2,"z":1}],"b":1}',
    );
    expect(canonicalJson({ u: undefined, d: new Date('2021-03-02T00:00:00Z'), n: Number.NaN })).toBe(
      '{"d":"2021-03-02T00:00:00.000Z","n":null}',
    );
  });

  it('gives the same text whatever the key order (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const shuffled = JSON.parse(JSON.stringify(v), (_k, x) =>
          x && typeof x === 'object' && !Array.isArray(x)
            ? Object.fromEntries(Object.entries(x).reverse())
            : x,
        );
        expect(canonicalJson(shuffled)).toBe(canonicalJson(v));
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it('replaces secrets at any depth and keeps everything else', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const out = redactDetail({
      email: 'a@example.com',
      password: 'hunter2',
      newPassword: 'x',
      user: { totp_secret: 'JBSWY3DP', apiToken: 't', profile: { name: 'A' } },
      steps: [{ code: '123456' }, { Cookie: 'sid=1' }, 'plain'],
      Authorization: 'Bearer abc',
      passphrase: 'p',
      cyclic,
    });
    expect(out).toEqual({
      email: 'a@example.com',
      password: REDACTED,
      newPassword: REDACTED,
      user: { totp_secret: REDACTED, apiToken: REDACTED, profile: { name: 'A' } },
      steps: [{ code: REDACTED }, { Cookie: REDACTED }, 'plain'],
      Authorization: REDACTED,
      passphrase: REDACTED,
      cyclic: { name: 'loop', self: '[circular]' },
    });
    expect(JSON.stringify(out)).not.toMatch(/hunter2|JBSWY3DP|123456|sid=1|Bearer/);
  });
});

describe.each(TEST_DIALECTS)('audit log on %s', (dialect) => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.dispose();
    db = undefined;
  });

  it('chains records from the genesis hash and verifies', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    expect(await verifyAudit(db.kysely)).toMatchObject({
      ok: true,
      records: 0,
      head: GENESIS_HASH,
      headSeq: 0,
    });
    await appendMany(db, 23);
    const rows = await db.kysely.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(rows[0]?.prev_hash).toBe(GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) expect(rows[i]?.prev_hash).toBe(rows[i - 1]?.hash);
    // Small pages: the walk carries the chain across page boundaries.
    const v = await verifyAudit(db.kysely, { pageSize: 5 });
    expect(v).toMatchObject({ ok: true, records: 23, headSeq: 23, head: rows[22]?.hash, problems: [] });
    expect(v.head).toBe(
      auditHash({ ...rows[22]!, seq: 23, detail: rows[22]!.detail, prev_hash: rows[22]!.prev_hash }),
    );
  });

  it('returns the stored record, and opens its own transaction when given no transaction', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const r = await appendAudit(db.kysely, db.dialect, {
      actor: 'system',
      tenantId: null,
      action: 'server.start',
      target: 'installation',
    });
    expect(r).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, detail: {}, tenantId: null });
    const [listed] = await listAudit(db.kysely, { limit: 10 });
    expect(listed).toEqual(r);
  });

  it('rolls back with the transaction it belongs to', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 2);
    await expect(
      db.kysely.transaction().execute(async (trx) => {
        await appendAudit(trx, db!.dialect, { actor: 'x', tenantId: null, action: 'a', target: 't' });
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    await appendMany(db, 1);
    expect(await verifyAudit(db.kysely)).toMatchObject({ ok: true, records: 3 });
  });

  it('detects a changed detail, actor or time, naming the record', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 10);
    const k = db.kysely;
    await k
      .updateTable('audit_log')
      .set({ detail: '{"i":4,"note":"nothing to see"}' })
      .where('seq', '=', 5)
      .execute();
    await k.updateTable('audit_log').set({ actor: 'user:someone-else' }).where('seq', '=', 7).execute();
    await k.updateTable('audit_log').set({ at: '2020-01-01T00:00:00.000Z' }).where('seq', '=', 9).execute();
    const v = await verifyAudit(k);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => [p.seq, p.kind])).toEqual([
      [5, 'changed'],
      [7, 'changed'],
      [9, 'changed'],
    ]);
    expect(v.problems[0]?.problem).toMatch(/record 5 was changed/);
  });

  it('detects a changed record that was re-hashed, at the link to the next record', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 6);
    const row = await db.kysely
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '=', 3)
      .executeTakeFirstOrThrow();
    const forged = { ...row, seq: 3, actor: 'user:innocent' };
    await db.kysely
      .updateTable('audit_log')
      .set({ actor: forged.actor, hash: auditHash(forged) })
      .where('seq', '=', 3)
      .execute();
    const v = await verifyAudit(db.kysely);
    expect(v.problems).toEqual([
      expect.objectContaining({ seq: 4, kind: 'broken_link', problem: expect.stringMatching(/record 3/) }),
    ]);
  });

  it('detects a removed middle record and a removed first record', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 8);
    await db.kysely.deleteFrom('audit_log').where('seq', 'in', [4, 5]).execute();
    await db.kysely.deleteFrom('audit_log').where('seq', '=', 1).execute();
    const v = await verifyAudit(db.kysely);
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([
      expect.objectContaining({ seq: 1, kind: 'missing', problem: 'record 1 is missing (removed)' }),
      expect.objectContaining({ seq: 2, kind: 'broken_link' }),
      expect.objectContaining({ seq: 4, kind: 'missing', problem: 'records 4–5 are missing (removed)' }),
      expect.objectContaining({ seq: 6, kind: 'broken_link' }),
    ]);
  });

  it('detects records swapped in order and a record inserted with a fresh seq', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 6);
    const k = db.kysely;
    // Swap records 2 and 3 (content and hashes move together).
    await k.updateTable('audit_log').set({ seq: 100 }).where('seq', '=', 2).execute();
    await k.updateTable('audit_log').set({ seq: 2 }).where('seq', '=', 3).execute();
    await k.updateTable('audit_log').set({ seq: 3 }).where('seq', '=', 100).execute();
    const v = await verifyAudit(k);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.seq)).toEqual(expect.arrayContaining([2, 3]));
  });

  it('detects a record inserted after the head with a hash of its own', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 3);
    const fake = {
      seq: 4,
      at: new Date().toISOString(),
      actor: 'user:ghost',
      tenant_id: null,
      action: 'user.create',
      target: 'user:ghost',
      detail: '{}',
      prev_hash: GENESIS_HASH,
    };
    await db.kysely
      .insertInto('audit_log')
      .values({ ...fake, hash: auditHash(fake) })
      .execute();
    const v = await verifyAudit(db.kysely);
    expect(v.problems).toEqual([expect.objectContaining({ seq: 4, kind: 'broken_link' })]);
  });

  it('detects records removed from the end only against a head recorded earlier', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    await appendMany(db, 5);
    const { head } = await verifyAudit(db.kysely);
    await appendMany(db, 2);
    // Grown since: still fine.
    expect(await verifyAudit(db.kysely, { expectHead: head })).toMatchObject({ ok: true, records: 7 });
    await db.kysely.deleteFrom('audit_log').where('seq', '>=', 5).execute();
    expect((await verifyAudit(db.kysely)).ok).toBe(true);
    const v = await verifyAudit(db.kysely, { expectHead: head.toUpperCase() });
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([
      expect.objectContaining({
        seq: 5,
        kind: 'head_not_found',
        problem: expect.stringMatching(/removed from the end/),
      }),
    ]);
    await expect(verifyAudit(db.kysely, { expectHead: 'abc' })).rejects.toThrow(/64 hexadecimal/);
  });

  it('lists oldest first, by tenant and after a seq', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const k = db.kysely;
    await k
      .insertInto('tenants')
      .values([
        { id: 'acme', name: 'Acme', created_at: '2024-01-01T00:00:00Z' },
        { id: 'globex', name: 'Globex', created_at: '2024-01-01T00:00:00Z' },
      ])
      .execute();
    await appendMany(db, 9, (i) => (i % 3 === 0 ? null : i % 3 === 1 ? 'acme' : 'globex'));
    expect((await listAudit(k, { limit: 100 })).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await listAudit(k, { limit: 100, tenantId: 'acme' })).map((r) => r.seq)).toEqual([2, 5, 8]);
    expect((await listAudit(k, { limit: 100, tenantId: null })).map((r) => r.seq)).toEqual([1, 4, 7]);
    expect((await listAudit(k, { limit: 2, after: 3 })).map((r) => r.seq)).toEqual([4, 5]);
    const [r] = await listAudit(k, { limit: 1, after: 1, tenantId: 'acme' });
    expect(r).toMatchObject({
      tenantId: 'acme',
      detail: { i: 1, note: 'change 1', nested: { list: [1, 'x'] } },
    });
  });

  it('stores no secret given in the detail', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const r = await appendAudit(db.kysely, db.dialect, {
      actor: 'user:admin@example.com',
      tenantId: null,
      action: 'user.create',
      target: 'user:u1',
      detail: { email: 'new@example.com', password: 'correct horse', mfa: { totpCode: '123456' } },
    });
    expect(r.detail).toEqual({ email: 'new@example.com', password: REDACTED, mfa: { totpCode: REDACTED } });
    const row = await db.kysely.selectFrom('audit_log').selectAll().executeTakeFirstOrThrow();
    expect(row.detail).toBe(
      '{"email":"new@example.com","mfa":{"totpCode":"[redacted]"},"password":"[redacted]"}',
    );
    expect((await verifyAudit(db.kysely)).ok).toBe(true);
  });

  it('keeps a gapless, valid chain under 50 concurrent transactions', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const k = db.kysely;
    await k
      .insertInto('tenants')
      .values({ id: 't', name: 'T', created_at: '2024-01-01T00:00:00Z' })
      .execute();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        k.transaction().execute(async (trx) => {
          // Some work of its own first, so the transactions overlap before they append.
          await trx
            .insertInto('sites')
            .values({ tenant_id: 't', id: `s${i}`, name: `site ${i}`, created_at: '2024-01-01T00:00:00Z' })
            .execute();
          await sql`select 1`.execute(trx);
          return appendAudit(trx, db!.dialect, {
            actor: `user:u${i}`,
            tenantId: 't',
            action: 'site.create',
            target: `site:s${i}`,
          });
        }),
      ),
    );
    const v = await verifyAudit(k);
    expect(v).toMatchObject({ ok: true, records: 50, headSeq: 50 });
    const seqs = (await listAudit(k, { limit: 1000 })).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});

describe.each(TEST_DIALECTS)('audit tampering on %s (property)', (dialect) => {
  let db: TestDb | undefined;
  const N = 8;
  beforeAll(async () => {
    db = await openTestDb(dialect);
    if (db) await appendMany(db, N, (i) => (i % 2 ? null : 'acme'));
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('detects any change of any single field of any record, naming that record', async (ctx) => {
    if (!db) return ctx.skip();
    const k = db.kysely;
    type Field = 'seq' | 'at' | 'actor' | 'tenant_id' | 'action' | 'target' | 'detail' | 'prev_hash' | 'hash';
    const fields: Field[] = [
      'seq',
      'at',
      'actor',
      'tenant_id',
      'action',
      'target',
      'detail',
      'prev_hash',
      'hash',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: N }),
        fc.constantFrom(...fields),
        fc.string({ maxLength: 20 }),
        fc.integer({ min: N + 1, max: 1_000_000 }),
        async (seq, field, text, newSeq) => {
          const before = await k
            .selectFrom('audit_log')
            .selectAll()
            .where('seq', '=', seq)
            .executeTakeFirstOrThrow();
          const original = before[field];
          let value: string | number | null;
          if (field === 'seq') value = newSeq;
          else if (field === 'tenant_id') value = original === null ? text : null;
          else if (field === 'prev_hash' || field === 'hash')
            value = (original as string).replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
          else value = text === original ? `${text}!` : text;
          await k
            .updateTable('audit_log')
            .set({ [field]: value })
            .where('seq', '=', seq)
            .execute();
          try {
            const v = await verifyAudit(k, { pageSize: 3 });
            expect(v.ok).toBe(false);
            expect(v.problems.map((p) => p.seq)).toContain(seq);
          } finally {
            await k
              .updateTable('audit_log')
              .set({ [field]: original })
              .where('seq', '=', field === 'seq' ? (value as number) : seq)
              .execute();
          }
        },
      ),
      { numRuns: dialect === 'postgres' ? 40 : 80 },
    );
    expect((await verifyAudit(k)).ok).toBe(true);
  });
});

describe('the PostgreSQL lock key', () => {
  it('is a signed 64-bit integer', () => {
    expect(BigInt(AUDIT_LOCK_KEY) < 2n ** 63n).toBe(true);
    expect(BigInt(AUDIT_LOCK_KEY) > 0n).toBe(true);
  });
});

/** A second handle on the same database, like another replica (PostgreSQL: its own pool of `poolSize`). */
async function openAnother(db: TestDb, poolSize = 8): Promise<Db> {
  if (db.dialect === 'sqlite') return openSqlite(db.sqlitePath!);
  const { rows } = await sql<{ s: string }>`select current_schema() as s`.execute(db.kysely);
  return openDatabase({ url: TEST_PG_URL, dataDir: db.dataDir, pgSchema: rows[0]!.s, poolSize });
}

async function pendingCount(k: Kysely<Database>): Promise<number> {
  const r = await k
    .selectFrom('audit_pending')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Every record in seq order, checked to be one gapless chain from the genesis hash. */
async function gaplessChain(k: Kysely<Database>) {
  const rows = await k.selectFrom('audit_log').selectAll().orderBy('seq').execute();
  let prev = GENESIS_HASH;
  rows.forEach((r, i) => {
    expect(Number(r.seq)).toBe(i + 1);
    expect(r.prev_hash).toBe(prev);
    prev = r.hash;
  });
  return rows;
}

describe.each(TEST_DIALECTS)('audit group commit on %s', (dialect) => {
  let db: TestDb | undefined;
  const others: Db[] = [];
  const chainers: AuditChainer[] = [];
  afterEach(async () => {
    for (const c of chainers.splice(0)) await c.stop();
    for (const o of others.splice(0)) await o.close();
    await db?.dispose();
    db = undefined;
  });

  it('commits the record with the change, unchained, and chains it for any complete read', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const k = db.kysely;
    const pending = await k
      .transaction()
      .execute((trx) =>
        appendAudit(trx, db!.dialect, { actor: 'system', tenantId: null, action: 'a.b', target: 't:1' }),
      );
    expect(pending).toMatchObject({ pendingId: expect.any(Number), action: 'a.b', detail: {} });
    expect(await pendingCount(k)).toBe(1);
    expect(await k.selectFrom('audit_log').selectAll().execute()).toEqual([]);
    // Each read that promises a complete log chains first.
    const page = await pageAudit(k, {});
    expect(page).toMatchObject({ total: 1, items: [{ seq: 1, action: 'a.b', at: pending.at }] });
    expect(await pendingCount(k)).toBe(0);
    await k
      .transaction()
      .execute((trx) =>
        appendAudit(trx, db!.dialect, { actor: 'system', tenantId: null, action: 'a.c', target: 't:2' }),
      );
    expect(await auditHead(k)).toMatchObject({ seq: 2 });
    await k
      .transaction()
      .execute((trx) =>
        appendAudit(trx, db!.dialect, { actor: 'system', tenantId: null, action: 'a.d', target: 't:3' }),
      );
    expect((await listAudit(k, { limit: 10 })).map((r) => r.action)).toEqual(['a.b', 'a.c', 'a.d']);
    await k
      .transaction()
      .execute((trx) =>
        appendAudit(trx, db!.dialect, { actor: 'system', tenantId: null, action: 'a.e', target: 't:4' }),
      );
    // A copy being checked is not chained into.
    expect(await verifyAudit(k, { flush: false })).toMatchObject({ ok: true, records: 3 });
    expect(await verifyAudit(k)).toMatchObject({ ok: true, records: 4, headSeq: 4 });
  });

  it('leaves nothing behind from a transaction that rolls back', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const k = db.kysely;
    await expect(
      k.transaction().execute(async (trx) => {
        await appendAudit(trx, db!.dialect, { actor: 'x', tenantId: null, action: 'a', target: 't' });
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    expect(await pendingCount(k)).toBe(0);
    expect(await flushAudit(k)).toBe(0);
    expect(await verifyAudit(k)).toMatchObject({ ok: true, records: 0 });
  });

  it('chains what a process left pending when it died, in a new process', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    // The "dead" process: appends committed, no chainer ran.
    await appendMany(db, 2);
    for (let i = 0; i < 5; i++) {
      await db.kysely
        .transaction()
        .execute((trx) =>
          appendAudit(trx, db!.dialect, { actor: 'dead', tenantId: null, action: 'x', target: `t:${i}` }),
        );
    }
    const next = await openAnother(db, 2);
    others.push(next);
    expect(await pendingCount(next.kysely)).toBe(5);
    const chainer = new AuditChainer(next.kysely, { intervalMs: 50 });
    chainers.push(chainer);
    chainer.start();
    await until(async () => (await pendingCount(next.kysely)) === 0);
    const rows = await gaplessChain(next.kysely);
    expect(rows.map((r) => r.target)).toEqual([
      'asset:a0',
      'asset:a1',
      ...Array.from({ length: 5 }, (_, i) => `t:${i}`),
    ]);
    expect(await verifyAudit(next.kysely)).toMatchObject({ ok: true, records: 7 });
  });

  it('a started chainer chains an appended record soon after its commit, without a read', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const chainer = new AuditChainer(db.kysely, { intervalMs: 60_000 });
    chainers.push(chainer);
    chainer.start();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await db.kysely.transaction().execute(async (trx) => {
        await appendAudit(trx, db!.dialect, { actor: 'a', tenantId: null, action: 'x', target: `t:${i}` });
        // The commit lands after the run the append woke.
        await new Promise((r) => setTimeout(r, 10));
      });
      await until(async () => (await pendingCount(db!.kysely)) === 0, 2000);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    expect(await chainer.flush()).toBe(0);
    expect((await gaplessChain(db.kysely)).length).toBe(3);
  });

  it('keeps one gapless chain with many writers and two chaining replicas', async (ctx) => {
    db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const clients = 8;
    const each = dialect === 'postgres' ? 200 : 100;
    // PostgreSQL: 8 connections writing, two "replicas" chaining; SQLite: one connection, as the server has.
    const writers = dialect === 'postgres' ? await openAnother(db, clients) : undefined;
    if (writers) others.push(writers);
    const w = writers?.kysely ?? db.kysely;
    const replicaB = dialect === 'postgres' ? await openAnother(db, 2) : undefined;
    if (replicaB) others.push(replicaB);
    for (const k of [db.kysely, replicaB?.kysely]) {
      if (!k) continue;
      const c = new AuditChainer(k, { intervalMs: 20 });
      chainers.push(c);
      c.start();
    }
    let rolledBack = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < each; i++) {
          const fail = i % 37 === 5;
          try {
            await w.transaction().execute(async (trx) => {
              await appendAudit(trx, dialect, {
                actor: `client:${c}`,
                tenantId: null,
                action: 'x',
                target: `c${c}:${i}`,
              });
              if (fail) throw new Error('rolled back');
            });
          } catch {
            rolledBack++;
          }
        }
      }),
    );
    expect(rolledBack).toBe(clients * Math.ceil((each - 5) / 37));
    const v = await verifyAudit(db.kysely);
    const committed = clients * each - rolledBack;
    expect(v).toMatchObject({ ok: true, records: committed, headSeq: committed });
    const rows = await gaplessChain(db.kysely);
    const targets = rows.map((r) => r.target);
    expect(new Set(targets).size).toBe(committed);
    const expected = [];
    for (let c = 0; c < clients; c++)
      for (let i = 0; i < each; i++) if (i % 37 !== 5) expected.push(`c${c}:${i}`);
    expect([...targets].sort()).toEqual(expected.sort());
    // Each client's records keep its order (one client commits one after another).
    for (let c = 0; c < clients; c++) {
      const mine = targets.filter((t) => t.startsWith(`c${c}:`)).map((t) => Number(t.split(':')[1]));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });
});

describe.each(TEST_DIALECTS)('audit group commit on %s (property)', (dialect) => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb(dialect);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  type Step = { kind: 'commit' | 'rollback' | 'direct' | 'flush' };
  it('any interleaving of appends, rollbacks and flushes yields one chain of exactly the committed records', async (ctx) => {
    if (!db) return ctx.skip();
    const k = db.kysely;
    let run = 0;
    const step = fc.record({
      kind: fc.constantFrom('commit', 'rollback', 'direct', 'flush'),
    }) as fc.Arbitrary<Step>;
    await fc.assert(
      fc.asyncProperty(
        // Groups of steps run concurrently; groups run one after another.
        fc.array(fc.array(step, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }),
        async (groups) => {
          const id = ++run;
          const committed: string[] = [];
          let n = 0;
          for (const group of groups) {
            await Promise.all(
              group.map(async (s) => {
                const target = `r${id}:${n++}`;
                if (s.kind === 'flush') return flushAudit(k);
                const entry = { actor: 'p', tenantId: null, action: s.kind, target };
                if (s.kind === 'direct') {
                  const r = await appendAudit(k, dialect, entry);
                  expect(r).toMatchObject({ target, seq: expect.any(Number) });
                  committed.push(target);
                  return;
                }
                await k
                  .transaction()
                  .execute(async (trx) => {
                    await appendAudit(trx, dialect, entry);
                    if (s.kind === 'rollback') throw new Error('rolled back');
                  })
                  .then(
                    () => committed.push(target),
                    () => {},
                  );
              }),
            );
          }
          const v = await verifyAudit(k);
          expect(v.ok).toBe(true);
          const rows = await gaplessChain(k);
          const mine = rows.map((r) => r.target).filter((t) => t.startsWith(`r${id}:`));
          expect([...mine].sort()).toEqual([...committed].sort());
          expect(await pendingCount(k)).toBe(0);
        },
      ),
      { numRuns: dialect === 'postgres' ? 25 : 50 },
    );
  });
});

/** Polls `check` until it holds, for at most `ms`. */
async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
