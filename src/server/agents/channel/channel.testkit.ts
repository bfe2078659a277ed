/**
 * Channel tests' helpers: an enrolled agent seeded in the database (key, certificate row, asset), a minimal
 * protocol client over `ws` and the protocol helpers (the full agent is src/agent), and a signed job queued the
 * way the job service does (row + `agent_jobs.queued` in one transaction).
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import {
  AGENT_CHANNEL_PATH,
  canonicalJson,
  channelAgentBytes,
  channelServerBytes,
  type JobKind,
  type JobResult,
  publicKeyFromRaw,
  publicKeyToRaw,
  resultSigningBytes,
  signBytes,
  verifyBytes,
} from '../../../api/agent-protocol.js';
import type { TestServer } from '../../app.testkit.js';
import { publishEvents } from '../../events/index.js';

export interface SeededAgent {
  tenantId: string;
  agentId: string;
  privateKey: KeyObject;
  publicRaw: string;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomId(prefix: string, n = 16): string {
  const bytes = randomBytes(n);
  let out = prefix;
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

export function channelUrl(s: TestServer, query: string): string {
  const { port } = s.app.server.address() as AddressInfo;
  return `ws://127.0.0.1:${port}${AGENT_CHANNEL_PATH}?${query}`;
}

/** An enrolled, active agent of `tenantId` with its asset (the tenant must exist). */
export async function seedAgent(s: TestServer, tenantId: string): Promise<SeededAgent> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const agentId = randomId('ag-');
  const publicRaw = publicKeyToRaw(publicKey);
  const now = new Date();
  const notAfter = new Date(now.getTime() + 30 * 86_400_000).toISOString();
  const serial = randomBytes(16).toString('hex');
  const res = await s.call(s.admin, {
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/assets`,
    payload: { assets: [{ id: agentId, name: `host-${agentId}` }] },
  });
  if (res.statusCode !== 200) throw new Error(`asset: ${res.statusCode} ${res.body}`);
  const k = s.ctx.db.kysely;
  await k
    .insertInto('agent_certificates')
    .values({
      serial,
      tenant_id: tenantId,
      agent_id: agentId,
      not_before: now.toISOString(),
      not_after: notAfter,
      revoked_at: null,
    })
    .execute();
  await k
    .insertInto('agents')
    .values({
      tenant_id: tenantId,
      id: agentId,
      site_id: null,
      public_key: publicRaw,
      hostname: `host-${agentId}`,
      os: 'linux',
      version: 'test',
      state: 'active',
      state_reason: null,
      generation: 0,
      pending_generation: null,
      cert_serial: serial,
      cert_not_after: notAfter,
      enrolled_at: now.toISOString(),
      token_id: 'test-token',
      last_seen_at: null,
      online: 0,
      connected_replica: null,
      connected_at: null,
      inventory_hash: null,
      inventory_at: null,
      updated_at: now.toISOString(),
    })
    .execute();
  return { tenantId, agentId, privateKey, publicRaw };
}

export async function serverKeys(s: TestServer): Promise<Map<string, KeyObject>> {
  const keys = await s.ctx.agents.keys.serverKeys();
  return new Map(keys.map((k) => [k.key_id, publicKeyFromRaw(k.public_key)]));
}

type Msg = { t: string; [k: string]: unknown };

/** A minimal agent end of the channel. */
export class TestClient {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  #waiters: (() => void)[] = [];
  #heartbeat: NodeJS.Timeout | undefined;
  #seq = 0;
  isClosed = false;
  closeCode: number | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly clientNonce: string,
  ) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(data.toString()) as Msg);
      this.#wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        this.closeCode = code;
        this.stopHeartbeats();
        resolve({ code, reason: reason.toString() });
        this.#wake();
      }),
    );
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`unexpected response ${res.statusCode}`)),
      );
    });
    this.opened.catch(() => {});
    ws.on('error', () => {});
  }

  static open(s: TestServer, agentId: string, cn = randomBytes(16).toString('base64url')): TestClient {
    return new TestClient(new WebSocket(channelUrl(s, `agent=${agentId}&cn=${cn}`)), cn);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** The first message of type `t` not taken yet (removed from the buffer), waiting up to `ms`. */
  async next(t: string, ms = 5000): Promise<Msg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex((m) => m.t === t);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0 || this.isClosed)
        throw new Error(
          `no ${t} message (closed: ${this.isClosed}, code ${this.closeCode}; got ${JSON.stringify(this.messages).slice(0, 300)})`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(message: object | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Challenge checked against the server's keys, hello signed; answers the welcome. */
  async handshake(
    agent: SeededAgent,
    keys: Map<string, KeyObject>,
    generation = 0,
    opts: { save?: boolean; heartbeats?: boolean; signWith?: KeyObject; timeoutMs?: number } = {},
  ): Promise<Msg> {
    const challenge = await this.next('challenge', opts.timeoutMs ?? 5000);
    const key = keys.get(challenge.key_id as string);
    if (
      !key ||
      !verifyBytes(
        key,
        channelServerBytes(this.clientNonce, challenge.nonce as string),
        challenge.server_signature as string,
      )
    )
      throw new Error('the server signature does not verify');
    this.send({
      t: 'hello',
      agent_id: agent.agentId,
      generation,
      signature: signBytes(
        opts.signWith ?? agent.privateKey,
        channelAgentBytes(challenge.nonce as string, agent.agentId, generation),
      ),
      version: 'test',
    });
    const welcome = await this.next('welcome', opts.timeoutMs ?? 8000);
    if (opts.save !== false) this.send({ t: 'generation_saved', generation: welcome.generation });
    if (opts.heartbeats !== false) this.startHeartbeats((welcome.heartbeat_s as number) * 1000);
    return welcome;
  }

  startHeartbeats(ms: number): void {
    this.stopHeartbeats();
    this.#heartbeat = setInterval(() => {
      if (this.ws.readyState === 1) this.send({ t: 'heartbeat', seq: this.#seq++ });
    }, ms);
  }

  stopHeartbeats(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Stops reading and writing without closing TCP: a half-open peer (no pongs either). */
  goSilent(): void {
    this.stopHeartbeats();
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  close(): void {
    this.stopHeartbeats();
    this.ws.terminate();
  }
}

/** A signed result of `agent` (or signed with `signWith`). */
export function signedResult(agent: SeededAgent, result: Omit<JobResult, 'v'>, signWith?: KeyObject) {
  const full: JobResult = { v: 1, ...result };
  return { result: full, signature: signBytes(signWith ?? agent.privateKey, resultSigningBytes(full)) };
}

/** Queues one signed job for the agent as the job service does: row + agent_jobs.queued in one transaction. */
export async function queueJob(
  s: TestServer,
  agent: SeededAgent,
  kind: JobKind,
  params: Record<string, unknown> = {},
  opts: { notBefore?: Date; expiresAt?: Date } = {},
): Promise<string> {
  const signer = await s.ctx.agents.keys.jobSigner();
  const jobId = randomId('aj-');
  const now = new Date();
  const notBefore = (opts.notBefore ?? new Date(now.getTime() - 1000)).toISOString();
  const expiresAt = (opts.expiresAt ?? new Date(now.getTime() + 3_600_000)).toISOString();
  const signed = signer.sign({
    v: 1,
    job_id: jobId,
    agent_id: agent.agentId,
    tenant_id: agent.tenantId,
    kind,
    params,
    not_before: notBefore,
    expires_at: expiresAt,
    nonce: randomBytes(16).toString('base64url'),
  });
  await s.ctx.db.kysely.transaction().execute(async (trx) => {
    await trx
      .insertInto('agent_jobs')
      .values({
        tenant_id: agent.tenantId,
        id: jobId,
        agent_id: agent.agentId,
        kind,
        params: JSON.stringify(params),
        envelope: canonicalJson(signed.envelope),
        signature: signed.signature,
        state: 'queued',
        progress: null,
        result: null,
        result_signature: null,
        reason: null,
        not_before: notBefore,
        expires_at: expiresAt,
        created_by: 'test',
        created_at: now.toISOString(),
        updated_at: now.toISOString(),
        delivered_at: null,
        started_at: null,
        finished_at: null,
        batch_id: null,
      })
      .execute();
    await publishEvents(trx, [
      {
        type: 'agent_jobs.queued',
        tenantId: agent.tenantId,
        subject: `agent:${agent.agentId}`,
        data: { agent_ids: [agent.agentId] },
      },
    ]);
  });
  return jobId;
}

/** Polls `read` until `ok` holds or `ms` passed; returns the last value. */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}
