/**
 * The write batch's invariant, on both databases: whatever sequence of writes is queued — upserts that replace or
 * add, plain inserts that merge, replacements of assets' rows, steps that run statements of their own — the tables
 * after `flush` hold exactly what applying the same writes one after the other gives (a model in memory), and
 * nothing is written before `flush`.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulkWriter } from './bulk.js';
import type { DialectName } from './connect.js';
import { openTestDb, TEST_DIALECTS, type TestDb } from './db.testkit.js';
import { WriteBatch } from './write-batch.js';

const TENANTS = ['t1', 't2'];
const ASSETS = ['a1', 'a2', 'a3'];
const PRODUCTS = ['p1', 'p2', 'p3', 'p4'];
const ADVISORIES = ['x1', 'x2'];
const VERDICTS = ['affected', 'fixed', 'unknown'];

type Op =
  | { kind: 'counts'; rows: { tenant_id: string; advisory_id: string; verdict: string; assets: number }[] }
  | {
      kind: 'exposure';
      rows: { tenant_id: string; asset_id: string; advisory_id: string; verdict: string }[];
    }
  | {
      kind: 'products';
      keys: [string, string][];
      rows: { tenant_id: string; asset_id: string; product: string }[];
    }
  | { kind: 'pending'; actions: string[] }
  | { kind: 'run'; action: string };

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const uniqueBy = <T>(arb: fc.Arbitrary<T>, key: (t: T) => string, max: number) =>
  fc.uniqueArray(arb, { selector: key, maxLength: max });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  uniqueBy(
    fc.record({
      tenant_id: pick(TENANTS),
      advisory_id: pick(ADVISORIES),
      verdict: pick(VERDICTS),
      assets: fc.integer({ min: -3, max: 5 }),
    }),
    (r) => `${r.tenant_id}/${r.advisory_id}/${r.verdict}`,
    6,
  ).map((rows) => ({ kind: 'counts' as const, rows })),
  uniqueBy(
    fc.record({
      tenant_id: pick(TENANTS),
      asset_id: pick(ASSETS),
      advisory_id: pick(ADVISORIES),
      verdict: pick(VERDICTS),
    }),
    (r) => `${r.tenant_id}/${r.asset_id}/${r.advisory_id}`,
    6,
  ).map((rows) => ({ kind: 'exposure' as const, rows })),
  uniqueBy(fc.tuple(pick(TENANTS), pick(ASSETS)), (k) => k.join('/'), 3).chain((keys) =>
    fc.tuple(...keys.map(() => fc.subarray(PRODUCTS))).map((lists) => ({
      kind: 'products' as const,
      keys: keys as [string, string][],
      rows: keys.flatMap(([tenant_id, asset_id], i) =>
        (lists[i] ?? []).map((product) => ({ tenant_id, asset_id, product })),
      ),
    })),
  ),
  fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { minLength: 1, maxLength: 3 }).map((actions) => ({
    kind: 'pending' as const,
    actions,
  })),
  fc.stringMatching(/^[a-z]{1,8}$/).map((action) => ({ kind: 'run' as const, action })),
);

interface Model {
  counts: Map<string, number>;
  exposure: Map<string, string>;
  products: Set<string>;
  pending: string[];
}

function apply(model: Model, op: Op): void {
  if (op.kind === 'counts')
    for (const r of op.rows) {
      const k = `${r.tenant_id}/${r.advisory_id}/${r.verdict}`;
      model.counts.set(k, (model.counts.get(k) ?? 0) + r.assets);
    }
  else if (op.kind === 'exposure')
    for (const r of op.rows) model.exposure.set(`${r.tenant_id}/${r.asset_id}/${r.advisory_id}`, r.verdict);
  else if (op.kind === 'products') {
    for (const [t, a] of op.keys)
      for (const p of [...model.products]) if (p.startsWith(`${t}/${a}/`)) model.products.delete(p);
    for (const r of op.rows) model.products.add(`${r.tenant_id}/${r.asset_id}/${r.product}`);
  } else if (op.kind === 'pending') model.pending.push(...op.actions);
  else model.pending.push(`run:${op.action}`);
}

function queue(batch: WriteBatch, op: Op): void {
  if (op.kind === 'counts')
    batch.upsert(
      {
        table: 'exposure_counts',
        columns: ['tenant_id', 'advisory_id', 'verdict', 'assets'],
        key: ['tenant_id', 'advisory_id', 'verdict'],
        add: ['assets'],
        ints: ['assets'],
      },
      op.rows,
    );
  else if (op.kind === 'exposure')
    batch.upsert(
      {
        table: 'asset_exposure',
        columns: ['tenant_id', 'asset_id', 'advisory_id', 'verdict', 'updated_at'],
        key: ['tenant_id', 'asset_id', 'advisory_id'],
        replace: ['verdict', 'updated_at'],
      },
      op.rows.map((r) => ({ ...r, updated_at: 'now' })),
    );
  else if (op.kind === 'products')
    batch.replace(
      { table: 'asset_products', columns: ['tenant_id', 'asset_id', 'product'] },
      op.keys,
      op.rows,
    );
  else if (op.kind === 'pending')
    batch.upsert(
      { table: 'audit_pending', columns: ['at', 'actor', 'action', 'target', 'detail'] },
      op.actions.map((action) => ({ at: 'now', actor: 'test', action, target: 'x', detail: '{}' })),
    );
  else
    batch.run((trx) =>
      trx
        .insertInto('audit_pending')
        .values({
          at: 'now',
          actor: 'test',
          action: `run:${op.action}`,
          target: 'x',
          detail: '{}',
          tenant_id: null,
        })
        .execute(),
    );
}

async function read(db: TestDb, k = db.kysely): Promise<Model> {
  const counts = await k.selectFrom('exposure_counts').selectAll().execute();
  const exposure = await k.selectFrom('asset_exposure').selectAll().execute();
  const products = await k.selectFrom('asset_products').selectAll().execute();
  const pending = await k.selectFrom('audit_pending').select(['action']).orderBy('id').execute();
  return {
    counts: new Map(counts.map((r) => [`${r.tenant_id}/${r.advisory_id}/${r.verdict}`, Number(r.assets)])),
    exposure: new Map(exposure.map((r) => [`${r.tenant_id}/${r.asset_id}/${r.advisory_id}`, r.verdict])),
    products: new Set(products.map((r) => `${r.tenant_id}/${r.asset_id}/${r.product}`)),
    pending: pending.map((r) => r.action),
  };
}

describe.each(TEST_DIALECTS)('write batch on %s', (dialect: DialectName) => {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb(dialect);
    if (!db) return;
    for (const t of TENANTS) {
      await db.kysely.insertInto('tenants').values({ id: t, name: t, created_at: 'now' }).execute();
      for (const a of ASSETS)
        await db.kysely
          .insertInto('assets')
          .values({
            tenant_id: t,
            id: a,
            site_id: null,
            name: null,
            facts: '{}',
            facts_hash: '-',
            source: 'test',
            created_at: 'now',
            updated_at: 'now',
          })
          .execute();
    }
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('leaves the tables as applying the writes one by one would, and writes nothing before flush', async (ctx) => {
    if (!db) return ctx.skip();
    const live = db;
    const bulk = new BulkWriter(live);
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), fc.nat({ max: 12 }), async (ops, cut) => {
        for (const table of ['exposure_counts', 'asset_exposure', 'asset_products', 'audit_pending'] as const)
          await live.kysely.deleteFrom(table).execute();
        const model: Model = { counts: new Map(), exposure: new Map(), products: new Set(), pending: [] };
        await live.kysely.transaction().execute(async (trx) => {
          const batch = new WriteBatch(bulk, trx, dialect);
          // Two flushes: the batch is reusable, and the second sees what the first wrote.
          const first = ops.slice(0, cut);
          for (const op of first) queue(batch, op);
          const before = await read(live, trx);
          expect(before.pending).toEqual([]);
          expect(before.products.size).toBe(0);
          await batch.flush();
          for (const op of first) apply(model, op);
          for (const op of ops.slice(cut)) queue(batch, op);
          await batch.flush();
          for (const op of ops.slice(cut)) apply(model, op);
        });
        const got = await read(live);
        expect(got.counts).toEqual(model.counts);
        expect(got.exposure).toEqual(model.exposure);
        expect(got.products).toEqual(model.products);
        expect(got.pending).toEqual(model.pending);
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('splits a replacement larger than one statement and refuses rows of assets it was not given', async (ctx) => {
    if (!db) return ctx.skip();
    const live = db;
    const bulk = new BulkWriter(live);
    await live.kysely.deleteFrom('asset_products').execute();
    await live.kysely.transaction().execute(async (trx) => {
      const batch = new WriteBatch(bulk, trx, dialect);
      expect(() =>
        batch.replace(
          { table: 'asset_products', columns: ['tenant_id', 'asset_id', 'product'] },
          [['t1', 'a1']],
          [{ tenant_id: 't1', asset_id: 'a2', product: 'p1' }],
        ),
      ).toThrow(/not in the keys/);
      const rows = Array.from({ length: 6000 }, (_, i) => ({
        tenant_id: 't1',
        asset_id: 'a1',
        product: `p${i}`,
      }));
      batch.replace(
        { table: 'asset_products', columns: ['tenant_id', 'asset_id', 'product'] },
        [['t1', 'a1']],
        rows,
      );
      await batch.flush();
    });
    const n = await live.kysely
      .selectFrom('asset_products')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('asset_id', '=', 'a1')
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(6000);
  }, 60_000);
});
