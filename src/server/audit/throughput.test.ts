/**
 * Audit append throughput on PostgreSQL: 8 connections, each running N transactions of {a small UPDATE of its own
 * row + appendAudit}, with an AuditChainer running as in a server. Skipped unless AUDIT_BENCH=1. To compare with
 * another implementation of appendAudit (same signature), point AUDIT_BENCH_IMPL at its module.
 *
 *   AUDIT_BENCH=1 [AUDIT_BENCH_TX=500] npx vitest run src/server/audit-throughput.test.ts
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../db/connect.js';
import { openTestDb, TEST_PG_URL } from '../db/db.testkit.js';
import { AuditChainer, verifyAudit } from './log.js';

const CLIENTS = 8;
const TX = Number(process.env.AUDIT_BENCH_TX ?? 500);

describe.skipIf(process.env.AUDIT_BENCH !== '1')('audit append throughput (PostgreSQL)', () => {
  it(`${CLIENTS} clients x ${TX} transactions`, { timeout: 600_000 }, async (ctx) => {
    const db = await openTestDb('postgres');
    if (!db) return ctx.skip();
    const impl = process.env.AUDIT_BENCH_IMPL || undefined;
    const { appendAudit } = (await import(impl ?? './log.js')) as typeof import('./log.js');
    const { rows } = await sql<{ s: string }>`select current_schema() as s`.execute(db.kysely);
    const writers = await openDatabase({
      url: TEST_PG_URL,
      dataDir: db.dataDir,
      pgSchema: rows[0]!.s,
      poolSize: CLIENTS,
    });
    const chainer = new AuditChainer(db.kysely);
    chainer.start();
    try {
      const k = writers.kysely;
      await k
        .insertInto('tenants')
        .values(Array.from({ length: CLIENTS }, (_, c) => ({ id: `b${c}`, name: 'x', created_at: 'now' })))
        .execute();
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          for (let i = 0; i < TX; i++) {
            await k.transaction().execute(async (trx) => {
              await trx
                .updateTable('tenants')
                .set({ name: `n${i}` })
                .where('id', '=', `b${c}`)
                .execute();
              await appendAudit(trx, 'postgres', {
                actor: `client:${c}`,
                tenantId: `b${c}`,
                action: 'tenant.update',
                target: `tenant:b${c}`,
                detail: { i },
              });
            });
          }
        }),
      );
      // Whatever is still pending counts too: the time ends when every record is chained.
      await chainer.flush();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const v = await verifyAudit(db.kysely);
      const total = CLIENTS * TX;
      console.log(
        `audit append (${impl ?? 'group commit'}): ${total} transactions in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} tx/s; chain ok=${v.ok}, records=${v.records}`,
      );
      expect(v).toMatchObject({ ok: true, records: total });
    } finally {
      await chainer.stop();
      await writers.close();
      await db.dispose();
    }
  });
});
