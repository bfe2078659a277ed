/**
 * The agent channel over real WebSockets on 127.0.0.1, on SQLite and PostgreSQL: handshake and its refusals,
 * revocation, clone detection, half-open detection, the connection-rate limit, job push, delivery at reconnect,
 * expiry, result intake, and arbitrary inbound frames.
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { factsHash } from '../../../api/agent-inventory.js';
import { CLOSE_CODES, channelServerBytes, verifyBytes } from '../../../api/agent-protocol.js';
import { openTestServer, type TestServer } from '../../app.testkit.js';
import { TEST_DIALECTS } from '../../db/db.testkit.js';
import { publishEvents } from '../../events/index.js';
import {
  channelUrl,
  queueJob,
  type SeededAgent,
  seedAgent,
  serverKeys,
  signedResult,
  TestClient,
  until,
} from './channel.testkit.js';

const TENANT = 'acme';
const ADVISORY = 'proxylogon-2021-03';

describe.each(TEST_DIALECTS)('agent channel on %s', (dialect) => {
  let s: TestServer | undefined;
  let keys: Map<string, KeyObject>;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    s = await openTestServer(dialect, { agent_heartbeat_s: 1 });
    if (!s) return;
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: TENANT, name: 'Acme' },
    });
    expect(res.statusCode).toBe(201);
    keys = await serverKeys(s);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await s?.dispose();
  });

  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };
  const open = (srv: TestServer, agent: SeededAgent | string) => {
    const c = TestClient.open(srv, typeof agent === 'string' ? agent : agent.agentId);
    clients.push(c);
    return c;
  };
  const agentRow = (srv: TestServer, id: string) =>
    srv.ctx.db.kysely.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const jobRow = (srv: TestServer, id: string) =>
    srv.ctx.db.kysely.selectFrom('agent_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const connected = async (srv: TestServer) => {
    const agent = await seedAgent(srv, TENANT);
    const c = open(srv, agent);
    const welcome = await c.handshake(agent, keys);
    return { agent, c, welcome };
  };

  it('completes the handshake: welcome with generation 1, generation stored, online, heartbeats acked', async (t) => {
    const srv = server(t);
    const { agent, c, welcome } = await connected(srv);
    expect(welcome).toMatchObject({
      t: 'welcome',
      agent_id: agent.agentId,
      generation: 1,
      heartbeat_s: 1,
      inventory_hash: null,
    });
    const row = await until(
      () => agentRow(srv, agent.agentId),
      (r) => r.generation === 1 && r.online === 1,
    );
    expect(row).toMatchObject({ generation: 1, pending_generation: null, online: 1 });
    expect(row.last_seen_at).not.toBeNull();
    c.send({ t: 'heartbeat', seq: 4242 });
    await until(
      async () => c.messages.some((m) => m.t === 'heartbeat_ack' && m.seq === 4242),
      (v) => v,
      2000,
    );
    expect(c.messages.some((m) => m.t === 'heartbeat_ack' && m.seq === 4242)).toBe(true);
    expect(srv.ctx.agentChannel!.holds(agent.agentId)).toBe(true);
    c.close();
  });

  it('signs the challenge over the client nonce: the client checks it, another nonce does not verify', async (t) => {
    const srv = server(t);
    const agent = await seedAgent(srv, TENANT);
    const c = open(srv, agent);
    const challenge = await c.next('challenge');
    const key = keys.get(challenge.key_id as string)!;
    expect(key).toBeDefined();
    const sig = challenge.server_signature as string;
    expect(verifyBytes(key, channelServerBytes(c.clientNonce, challenge.nonce as string), sig)).toBe(true);
    const other = randomBytes(16).toString('base64url');
    expect(verifyBytes(key, channelServerBytes(other, challenge.nonce as string), sig)).toBe(false);
    c.close();
  });

  it('refuses a hello signed with another key, an unknown agent, and a silent client', async (t) => {
    const srv = server(t);
    const agent = await seedAgent(srv, TENANT);
    const forged = open(srv, agent);
    await expect(
      forged.handshake(agent, keys, 0, { signWith: generateKeyPairSync('ed25519').privateKey }),
    ).rejects.toThrow();
    expect((await forged.closed).code).toBe(CLOSE_CODES.unauthorized);
    expect(forged.messages.filter((m) => m.t === 'error')).toHaveLength(1);
    expect((await agentRow(srv, agent.agentId)).state).toBe('active');

    const ghost = { ...agent, agentId: 'ag-doesnotexist0000' };
    const unknown = open(srv, ghost.agentId);
    await expect(unknown.handshake(ghost, keys)).rejects.toThrow();
    expect((await unknown.closed).code).toBe(CLOSE_CODES.unauthorized);
    expect(JSON.stringify(unknown.messages)).toContain('unknown agent');
  });

  it('closes a revoked agent 4403 on agent.changed and accepts nothing more from it', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    await srv.ctx.db.kysely.transaction().execute(async (trx) => {
      await trx
        .updateTable('agents')
        .set({ state: 'revoked', state_reason: 'revoked by an operator' })
        .where('id', '=', agent.agentId)
        .execute();
      await publishEvents(trx, [
        {
          type: 'agent.changed',
          tenantId: agent.tenantId,
          subject: `agent:${agent.agentId}`,
          data: { agent_id: agent.agentId, action: 'revoked' },
        },
      ]);
    });
    const revoked = await c.next('revoked', 3000);
    expect(revoked.reason).toBe('revoked by an operator');
    expect((await c.closed).code).toBe(CLOSE_CODES.stop);
    // A new connection of the revoked agent gets the same answer at the handshake.
    const again = open(srv, agent);
    await expect(again.handshake(agent, keys, 1)).rejects.toThrow();
    expect((await again.closed).code).toBe(CLOSE_CODES.stop);
    expect(again.messages.map((m) => m.t)).toEqual(['revoked']);
  });

  it('quarantines an agent that presents an older generation (cloned files)', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    await until(
      () => agentRow(srv, agent.agentId),
      (r) => r.generation === 1,
    );
    c.close();
    const clone = open(srv, agent);
    await expect(clone.handshake(agent, keys, 0)).rejects.toThrow();
    expect((await clone.closed).code).toBe(CLOSE_CODES.stop);
    expect(clone.messages[clone.messages.length - 1]).toMatchObject({ t: 'quarantined' });
    const row = await agentRow(srv, agent.agentId);
    expect(row.state).toBe('quarantined');
    expect(row.state_reason).toContain('clone');
  });

  it('quarantines one key connected from two live machines (ping probe answered)', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    await until(
      () => agentRow(srv, agent.agentId),
      (r) => r.generation === 1,
    );
    const twin = open(srv, agent);
    await expect(twin.handshake(agent, keys, 1)).rejects.toThrow();
    expect((await twin.closed).code).toBe(CLOSE_CODES.stop);
    expect((await c.closed).code).toBe(CLOSE_CODES.stop);
    expect(c.messages.some((m) => m.t === 'quarantined')).toBe(true);
    expect((await agentRow(srv, agent.agentId)).state).toBe('quarantined');
  });

  it('replaces a dead older connection of the agent (no pong) and keeps it active', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    await until(
      () => agentRow(srv, agent.agentId),
      (r) => r.generation === 1,
    );
    c.goSilent();
    const fresh = open(srv, agent);
    const welcome = await fresh.handshake(agent, keys, 1);
    expect(welcome.generation).toBe(2);
    expect((await agentRow(srv, agent.agentId)).state).toBe('active');
    expect(srv.ctx.agentChannel!.holds(agent.agentId)).toBe(true);
    fresh.close();
    c.close();
  }, 15_000);

  it('marks a half-open connection offline within two heartbeat intervals', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    await until(
      () => agentRow(srv, agent.agentId),
      (r) => r.online === 1,
    );
    c.goSilent();
    const silentAt = Date.now();
    await until(
      async () => srv.ctx.agentChannel!.holds(agent.agentId),
      (held) => !held,
      5000,
    );
    const closedAfter = Date.now() - silentAt;
    // 2 × heartbeat_s (1 s) after the last message, plus the sweep's step (100 ms).
    expect(closedAfter).toBeLessThanOrEqual(2 * 1000 + 400);
    const row = await until(
      () => agentRow(srv, agent.agentId),
      (r) => r.online === 0,
      2500,
    );
    expect(row.online).toBe(0);
    c.close();
  });

  it('pushes a job within 1 s of its creation, then takes status and the signed result once', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    const started = Date.now();
    const created = await srv.call(srv.admin, {
      method: 'POST',
      url: `/api/v1/tenants/${TENANT}/agent-jobs`,
      payload: { kind: 'hunt', params: { advisory_id: ADVISORY }, agents: [agent.agentId] },
    });
    expect(created.statusCode, created.body).toBe(202);
    const jobId = created.json().jobs[0].id as string;
    const job = await c.next('job', 2000);
    expect(Date.now() - started).toBeLessThan(1000);
    const signedJob = job.job as { envelope: { job_id: string; agent_id: string }; signature: string };
    expect(signedJob.envelope).toMatchObject({ job_id: jobId, agent_id: agent.agentId });
    await until(
      () => jobRow(srv, jobId),
      (r) => r.state === 'delivered',
    );
    expect((await jobRow(srv, jobId)).state).toBe('delivered');
    c.send({ t: 'job_status', job_id: jobId, state: 'received' });
    await until(
      () => jobRow(srv, jobId),
      (r) => r.state === 'received',
    );
    c.send({ t: 'job_status', job_id: jobId, state: 'running', progress: { done: 1, total: 4 } });
    await until(
      () => jobRow(srv, jobId),
      (r) => r.state === 'running',
    );
    const result = signedResult(agent, {
      job_id: jobId,
      agent_id: agent.agentId,
      status: 'succeeded',
      output: {
        advisory_id: ADVISORY,
        report: {
          host: `host-${agent.agentId}`,
          verdict: 'clean',
          window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' },
          summary: { text: 'no indicators in 2 log files' },
        },
      },
      finished_at: new Date().toISOString(),
    });
    c.send({ t: 'job_result', result });
    expect((await c.next('result_ack')).job_id).toBe(jobId);
    const row = await jobRow(srv, jobId);
    expect(row).toMatchObject({ state: 'succeeded', result_signature: result.signature });
    const answer = await srv.call(srv.admin, {
      method: 'GET',
      url: `/api/v1/tenants/${TENANT}/assets/${agent.agentId}/response?advisory=${ADVISORY}`,
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.json().items[0].compromise).toMatchObject({ state: 'clean', source: 'agent' });
    // The same result again: acknowledged, nothing changes.
    c.send({ t: 'job_result', result });
    expect((await c.next('result_ack')).job_id).toBe(jobId);
    expect((await jobRow(srv, jobId)).updated_at).toBe(row.updated_at);
    c.close();
  });

  it('delivers a job queued while the agent was offline when it reconnects', async (t) => {
    const srv = server(t);
    const agent = await seedAgent(srv, TENANT);
    const jobId = await queueJob(srv, agent, 'inventory');
    await new Promise((r) => setTimeout(r, 300));
    expect((await jobRow(srv, jobId)).state).toBe('queued');
    const c = open(srv, agent);
    await c.handshake(agent, keys);
    const job = await c.next('job', 2000);
    expect((job.job as { envelope: { job_id: string } }).envelope.job_id).toBe(jobId);
    c.close();
  });

  it('expires a job not run before its expiry, with its event', async (t) => {
    const srv = server(t);
    const agent = await seedAgent(srv, TENANT);
    const jobId = await queueJob(srv, agent, 'inventory', {}, { expiresAt: new Date(Date.now() + 200) });
    await new Promise((r) => setTimeout(r, 300));
    await srv.ctx.agentChannel!.maintain();
    const row = await jobRow(srv, jobId);
    expect(row.state).toBe('expired');
    expect(row.reason).toContain('expired');
    const event = await srv.ctx.db.kysely
      .selectFrom('events')
      .select('data')
      .where('type', '=', 'agent_job.updated')
      .where('subject', '=', `agent_job:${jobId}`)
      .execute();
    expect(event.map((e) => JSON.parse(e.data).state)).toContain('expired');
    // Reconnecting later does not bring it back.
    const c = open(srv, agent);
    await c.handshake(agent, keys);
    await expect(c.next('job', 500)).rejects.toThrow();
    c.close();
  });

  it('refuses a result with a forged signature and ignores a result for another agent’s job', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    const other = await seedAgent(srv, TENANT);
    const mine = await queueJob(srv, agent, 'inventory');
    const theirs = await queueJob(srv, other, 'inventory');
    await c.next('job', 2000);
    await until(
      () => jobRow(srv, mine),
      (r) => r.state === 'delivered',
    );
    const forged = signedResult(
      agent,
      {
        job_id: mine,
        agent_id: agent.agentId,
        status: 'failed',
        reason: 'x',
        finished_at: new Date().toISOString(),
      },
      generateKeyPairSync('ed25519').privateKey,
    );
    c.send({ t: 'job_result', result: forged });
    const error = await c.next('error');
    expect(error.message).toContain('signature');
    expect(c.messages.some((m) => m.t === 'result_ack')).toBe(false);
    expect((await jobRow(srv, mine)).state).toBe('delivered');
    for (const agentId of [agent.agentId, other.agentId]) {
      c.send({
        t: 'job_result',
        result: signedResult(agent, {
          job_id: theirs,
          agent_id: agentId,
          status: 'failed',
          reason: 'not mine',
          finished_at: new Date().toISOString(),
        }),
      });
      expect((await c.next('result_ack')).job_id).toBe(theirs);
    }
    expect((await jobRow(srv, theirs)).state).toBe('queued');
    // A refused job reads refused with its reason.
    c.send({
      t: 'job_result',
      result: signedResult(agent, {
        job_id: mine,
        agent_id: agent.agentId,
        status: 'refused',
        reason: 'replayed',
        finished_at: new Date().toISOString(),
      }),
    });
    await c.next('result_ack');
    expect(await jobRow(srv, mine)).toMatchObject({ state: 'refused', reason: 'replayed' });
    c.close();
  });

  it('applies an inventory report to the agent asset and renews the certificate', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    const facts = {
      id: agent.agentId,
      name: `host-${agent.agentId}`,
      os: { product: 'debian:debian_linux', version: '12' },
      products: [{ product: 'pkg:deb/debian/openssl', version: '3.0.11-1~deb12u2' }],
      installed_kbs: [],
      endpoints: [],
      tags: [],
    };
    const hash = factsHash(facts);
    c.send({ t: 'inventory', mode: 'full', hash, facts });
    expect(await c.next('inventory_ack', 5000)).toMatchObject({ hash, ok: true });
    expect((await agentRow(srv, agent.agentId)).inventory_hash).toBe(hash);
    c.send({ t: 'inventory', mode: 'full', hash: 'f'.repeat(64), facts });
    expect(await c.next('inventory_ack', 5000)).toMatchObject({ ok: false });
    expect((await c.next('error')).message).toContain('hash');

    const before = await agentRow(srv, agent.agentId);
    c.send({ t: 'renew' });
    const cert = await c.next('certificate', 5000);
    expect(cert.certificate_pem).toContain('BEGIN CERTIFICATE');
    const after = await agentRow(srv, agent.agentId);
    expect(after.cert_serial).not.toBe(before.cert_serial);
    const serials = await srv.ctx.db.kysely
      .selectFrom('agent_certificates')
      .select(['serial', 'revoked_at'])
      .where('agent_id', '=', agent.agentId)
      .execute();
    expect(serials).toHaveLength(2);
    expect(serials.every((x) => x.revoked_at === null)).toBe(true);
    c.close();
  });

  it('refuses other upgrade paths and bad queries before upgrading (no 500)', async (t) => {
    const srv = server(t);
    const statusOf = (url: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.terminate();
        });
        ws.on('error', () => resolve(-1));
      });
    const base = channelUrl(srv, '').split('?')[0]!;
    expect(await statusOf(base.replace('/api/v1/agents/channel', '/api/v1/events'))).toBe(404);
    expect(await statusOf(`${base}?agent=x`)).toBe(400);
    expect(await statusOf(`${base}?agent=${'%00'.repeat(3)}&cn=${'a'.repeat(30)}`)).toBe(400);
  });

  it('answers arbitrary frames without crashing: garbage gets one error, then the channel closes', async (t) => {
    const srv = server(t);
    const { agent, c } = await connected(srv);
    c.close();
    const frame = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.record({
        t: fc.constantFrom('hello', 'heartbeat', 'job_status', 'job_result', 'inventory', 'renew', 'x'),
        seq: fc.oneof(fc.integer(), fc.string()),
        job_id: fc.string({ maxLength: 20 }),
        state: fc.string({ maxLength: 10 }),
      }),
    );
    let generation = 1;
    await fc.assert(
      fc.asyncProperty(frame, fc.boolean(), async (f, beforeHello) => {
        const client = open(srv, agent);
        if (!beforeHello) {
          const welcome = await client.handshake(agent, keys, generation, { heartbeats: false });
          generation = welcome.generation as number;
          await until(
            () => agentRow(srv, agent.agentId),
            (r) => r.generation === generation,
            2000,
          );
        } else await client.next('challenge');
        client.messages.length = 0;
        if (f instanceof Uint8Array) client.ws.send(f, { binary: true });
        else client.send(typeof f === 'string' ? f : JSON.stringify(f));
        await Promise.race([client.closed, new Promise((r) => setTimeout(r, 300))]);
        const errors = client.messages.filter((m) => m.t === 'error');
        if (client.isClosed) {
          expect(errors.length).toBeLessThanOrEqual(1);
          expect([1002, 1009, CLOSE_CODES.unauthorized, 1011]).toContain(client.closeCode);
        } else expect(errors.every((e) => e.fatal !== true)).toBe(true);
        client.close();
        await client.closed;
        await until(
          async () => srv.ctx.agentChannel!.holds(agent.agentId),
          (held) => !held,
          2000,
        );
      }),
      { numRuns: 25 },
    );
    const health = await srv.call(undefined, { method: 'GET', url: '/api/v1/health' });
    expect(health.statusCode).toBeLessThan(500);
    expect((await agentRow(srv, agent.agentId)).state).toBe('active');
  }, 60_000);
});

describe.each(TEST_DIALECTS)('agent channel connection rate on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect, { agent_connect_rate: 1 });
    if (s) await s.app.listen({ host: '127.0.0.1', port: 0 });
  }, 60_000);
  afterAll(async () => s?.dispose());

  it('answers 503 with Retry-After beyond the rate (burst twice the rate), before upgrading', async (t) => {
    if (!s) return t.skip();
    const answers: { status: number; retryAfter?: string }[] = [];
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 3; i++) {
      answers.push(
        await new Promise((resolve) => {
          const ws = new WebSocket(
            channelUrl(s!, `agent=ag-x${i}&cn=${randomBytes(16).toString('base64url')}`),
          );
          sockets.push(ws);
          ws.on('unexpected-response', (_req, res) =>
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string }),
          );
          ws.on('open', () => resolve({ status: 101 }));
          ws.on('error', () => {});
        }),
      );
    }
    expect(answers.map((a) => a.status)).toEqual([101, 101, 503]);
    expect(Number(answers[2]!.retryAfter)).toBeGreaterThanOrEqual(1);
    for (const ws of sockets) ws.terminate();
  });

  it('closes every channel when the app closes', async (t) => {
    if (!s) return t.skip();
    await new Promise((r) => setTimeout(r, 1100));
    const ws = new WebSocket(channelUrl(s, `agent=ag-y&cn=${randomBytes(16).toString('base64url')}`));
    await new Promise((resolve) => ws.on('open', resolve));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await s.app.close();
    expect(await closed).toBe(1001);
    expect(s.ctx.agentChannel!.sockets).toBe(0);
  });
});
