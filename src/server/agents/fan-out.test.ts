/**
 * The fan-out job over many agents, on SQLite and PostgreSQL: every active agent matching the filter gets exactly
 * one signed job, in batches, with progress; the time it takes is printed. 2,500 agents by default (three batches);
 * BULWARK_FAN_OUT_AGENTS=10000 measures the size the report quotes.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobSigningBytes, publicKeyFromRaw, publicKeyToRaw, verifyBytes } from '../../api/agent-protocol.js';
import { openTestServer, type TestServer } from '../app.testkit.js';
import { TEST_DIALECTS } from '../db/db.testkit.js';
import type { Database } from '../db/schema.js';

const N = Number(process.env.BULWARK_FAN_OUT_AGENTS ?? 2500);

describe.each(TEST_DIALECTS)('agent job fan-out (%s)', (dialect) => {
  let t: TestServer | undefined;
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    const now = new Date().toISOString();
    for (const id of ['f1', 'f2'])
      await t.db.kysely.insertInto('tenants').values({ id, name: id, created_at: now }).execute();
    const raw = publicKeyToRaw(generateKeyPairSync('ed25519').publicKey);
    const rows: Database['agents'][] = [];
    for (let i = 0; i < N; i++) {
      rows.push({
        tenant_id: i % 2 ? 'f2' : 'f1',
        id: `ag-${String(i).padStart(16, '0')}`,
        site_id: null,
        // Distinct keys are not checked here; the column is unique, so each row gets its own text.
        public_key: `${raw.slice(0, 33)}${String(i).padStart(10, '0')}`,
        hostname: `h${i}`,
        os: null,
        version: '1',
        state: i === 7 ? 'revoked' : 'active',
        state_reason: null,
        generation: 0,
        pending_generation: null,
        cert_serial: `s${i}`,
        cert_not_after: now,
        enrolled_at: now,
        token_id: 'tok',
        last_seen_at: null,
        online: 0,
        connected_replica: null,
        connected_at: null,
        inventory_hash: null,
        inventory_at: null,
        updated_at: now,
      });
    }
    for (let i = 0; i < rows.length; i += 500)
      await t.db.kysely
        .insertInto('agents')
        .values(rows.slice(i, i + 500))
        .execute();
  }, 120_000);
  afterAll(async () => t?.dispose());

  it(`signs and queues one job per active agent (${N} agents) in batches with progress`, async () => {
    if (!t) return;
    const started = performance.now();
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/agent-jobs/fan-out',
      payload: { kind: 'hunt', params: { advisory_id: 'proxylogon-2021-03' }, filter: {} },
    });
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json().id as string;
    let job = res.json();
    const seen: number[] = [];
    for (let i = 0; i < 1200 && !['succeeded', 'failed'].includes(job.state); i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await t.call(t.admin, { method: 'GET', url: `/api/v1/jobs/${id}` })).json();
      seen.push(job.progress.done);
    }
    const ms = performance.now() - started;
    console.log(`fan-out to ${N - 1} agents (${dialect}): ${(ms / 1000).toFixed(2)} s`);
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.result).toMatchObject({ agents: N - 1, tenants: 2, batch_id: id });
    expect(job.progress).toEqual({ done: N - 1, total: N - 1 });
    const count = await t.db.kysely
      .selectFrom('agent_jobs')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.count<number>('agent_id').distinct().as('agents'),
      ])
      .where('batch_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(N - 1);
    expect(Number(count.agents)).toBe(N - 1);
    // A sample verifies with the installation's signing key.
    const [key] = await t.ctx.agents.keys.serverKeys();
    const sample = await t.db.kysely
      .selectFrom('agent_jobs')
      .select(['envelope', 'signature'])
      .where('batch_id', '=', id)
      .limit(5)
      .execute();
    for (const r of sample)
      expect(
        verifyBytes(publicKeyFromRaw(key!.public_key), jobSigningBytes(JSON.parse(r.envelope)), r.signature),
      ).toBe(true);
    const events = await t.db.kysely
      .selectFrom('events')
      .select('data')
      .where('type', '=', 'agent_jobs.queued')
      .execute();
    const ids = events.flatMap((e) => (JSON.parse(e.data) as { agent_ids: string[] }).agent_ids);
    expect(new Set(ids).size).toBe(N - 1);
  }, 180_000);
});
