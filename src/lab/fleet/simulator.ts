/**
 * Fleet simulator — a TEST AND BENCHMARK FIXTURE: N simulated agents in one process speaking the real agent
 * protocol (src/api/agent-protocol.ts) to a real server: enrolment through POST /api/v1/agents/enroll with real
 * Ed25519 keys, then one real WebSocket per agent from many loopback source addresses (127.0.0.1 … 127.0.0.K; an
 * ephemeral port range gives about 28,000 sockets per source address). Each agent checks the server's challenge
 * signature with the pinned key, answers hello, keeps its generation in memory, sends heartbeats, verifies every
 * job's envelope and answers it with a signed result, and reconnects with full-jitter back-off.
 *
 * Built for 100,000 agents in one process: per agent only a small record (no key object, no stored facts: keys are
 * derived from a fleet secret, facts from a seed), and one shared timer sweep instead of timers per agent.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { DEFAULT_BACKOFF, fullJitter, waitAfterRefusal } from '../../agent/backoff.js';
import {
  AGENT_CHANNEL_PATH,
  AGENT_MAX_MESSAGE_BYTES,
  AGENT_PROTOCOL_VERSION,
  CLOSE_CODES,
  channelAgentBytes,
  channelServerBytes,
  enrollSigningBytes,
  type JobEnvelope,
  type JobResult,
  jobSigningBytes,
  publicKeyFromRaw,
  type RefusalReason,
  resultSigningBytes,
  type SignedJob,
  type SignedResult,
  signBytes,
  verifyBytes,
} from '../../api/agent-protocol.js';
import { FleetHttpError, jsonRequest, SourceAgents } from './http.js';
import { type FleetHost, factsHash, factsOf, hostOf, type InventoryPlan } from './inventory.js';
import { DerivedKeys } from './keys.js';
import { LatencyRing } from './stats.js';

export const FLEET_VERSION = 'fleet-sim-1';
/** Sockets one loopback source address gives (the ephemeral port range, with a margin). */
export const SOCKETS_PER_SOURCE = 20_000;
/** Largest fleet one process simulates. */
export const MAX_FLEET_AGENTS = 200_000;
/** Uses one enrolment token allows (the API's limit). */
const MAX_TOKEN_USES = 100_000;
const SWEEP_MS = 250;
/** A channel that is open but not welcomed after this long is dropped. */
const HANDSHAKE_MS = 30_000;
/** Clock skew a job's not_before may show (as the real agent allows). */
const SKEW_MS = 60_000;

export interface FleetOptions {
  /** The server's base URL (http or https). */
  server: string;
  /** API token (operator with write on the tenants) to create tenants and enrolment tokens. */
  apiToken?: string;
  agents: number;
  tenants: number;
  /** Tenant ids are `<prefix>-<nnn>`; default `fleet`. */
  tenantPrefix?: string;
  /** Enrolment tokens per tenant made elsewhere (a benchmark's shards share them); else made with `apiToken`. */
  enrollTokens?: Record<string, string>;
  /** Loopback source addresses (default: one per 20,000 agents). */
  sources?: number;
  /** The first source address is 127.0.0.<sourceBase> (counting on into 127.0.1.x beyond 254); default 1. */
  sourceBase?: number;
  /** Index of this fleet's first agent (host names and inventories), for fleets split over processes. */
  firstIndex?: number;
  /** Heartbeat interval in seconds; default the one the server sends in welcome. */
  heartbeatS?: number;
  /** Share of Exchange servers, 0..1 (default 0.3). */
  exchangeShare?: number;
  /** Exchange 2013/2016/2019 builds of the catalog. */
  exchangeBuilds: readonly { build: string; name: string }[];
  seed?: number;
  /** Connection attempts in flight at once (default 512). */
  connectConcurrency?: number;
  /** Enrolment requests in flight at once (default 16). */
  enrollConcurrency?: number;
  /** Reconnect back-off (default: the agent's, 1 s base, 60 s cap). */
  backoff?: { baseMs: number; capMs: number; resetAfterMs: number };
  /** Exchange agents backed by a lab Exchange emulator (see emulators.ts), the first K Exchange agents. */
  emulators?: FleetEmulators;
  log?: (line: string) => void;
}

/** A lab Exchange emulator per simulated Exchange agent (the first K of them); see emulators.ts. */
export interface FleetEmulators {
  count: number;
  start(agentIndex: number, build: string): Promise<{ url: string }>;
  patch(agentIndex: number, build: string): Promise<{ url: string }>;
  shield(agentIndex: number, shielded: boolean): Promise<void>;
  close(): Promise<void>;
}

enum S {
  Idle = 0,
  Connecting = 1,
  Handshake = 2,
  Online = 3,
  Stopped = 4,
}

/** One simulated agent: what it must remember, nothing more. */
class SimAgent {
  agentId = '';
  generation = 0;
  state = S.Idle;
  ws: WebSocket | null = null;
  cn = '';
  seq = 0;
  beatSentAt = 0;
  nextBeatAt = 0;
  lastRecvAt = 0;
  connectedAt = 0;
  attempt = 0;
  dueAt = 0;
  hash: string | null = null;
  /** A patched emulator's build (else the planned one). */
  build: string | undefined = undefined;
  url: string | undefined = undefined;
  constructor(
    readonly index: number,
    readonly tenant: number,
    readonly source: string,
  ) {}
}

export interface FleetStats {
  agents: number;
  enrolled: number;
  online: number;
  stopped: number;
  /** Agents by kind (exchange, windows, debian, rhel). */
  kinds: Record<string, number>;
  connectAttempts: number;
  welcomes: number;
  busy: number;
  closes: Record<string, number>;
  errors: Record<string, number>;
  heartbeats: { sent: number; acked: number; p50: number | null; p99: number | null; max: number | null };
  jobs: {
    received: number;
    byKind: Record<string, number>;
    refused: number;
    results: number;
    acked: number;
    /** Epoch milliseconds. */
    firstReceivedAt: number | null;
    lastReceivedAt: number | null;
    lastResultAt: number | null;
    lastAckAt: number | null;
  };
  inventories: number;
  rssBytes: number;
  heapBytes: number;
}

export interface FleetAgentInfo {
  agent_id: string;
  tenant_id: string;
  hostname: string;
  kind: string;
  exchange_build?: string;
  emulator_url?: string;
  online: boolean;
  generation: number;
}

const inc = (o: Record<string, number>, k: string) => {
  o[k] = (o[k] ?? 0) + 1;
};

function loopbackSource(n: number): string {
  // 127.0.0.1 … 127.0.0.254, then 127.0.1.1 …
  return `127.0.${Math.floor((n - 1) / 254)}.${1 + ((n - 1) % 254)}`;
}

export class Fleet {
  readonly base: URL;
  readonly tenantIds: string[];
  readonly #o: FleetOptions;
  readonly #agents: SimAgent[];
  readonly #byId = new Map<string, SimAgent>();
  readonly #keys = new DerivedKeys();
  readonly #plan: InventoryPlan;
  readonly #http: SourceAgents;
  readonly #serverKeys = new Map<string, KeyObject>();
  readonly #serverKeyText = new Map<string, string>();
  readonly #beats = new LatencyRing();
  /** Results sent and not acknowledged yet (resent after a reconnect), by job id. */
  readonly #unacked = new Map<string, { agent: SimAgent; message: string }>();
  /** Jobs answered, so a redelivery is answered again instead of run twice. */
  readonly #answered = new Set<string>();
  readonly #firstIndex: number;
  #serverHeartbeatS = 60;
  #sweep: NodeJS.Timeout | undefined;
  #inflight = 0;
  #closed = false;
  #online = 0;
  #enrolled = 0;
  #s = {
    connectAttempts: 0,
    welcomes: 0,
    busy: 0,
    closes: {} as Record<string, number>,
    errors: {} as Record<string, number>,
    beatsSent: 0,
    beatsAcked: 0,
    jobs: 0,
    byKind: {} as Record<string, number>,
    refused: 0,
    results: 0,
    acked: 0,
    firstJobAt: null as number | null,
    lastJobAt: null as number | null,
    lastResultAt: null as number | null,
    lastAckAt: null as number | null,
    inventories: 0,
  };

  constructor(opts: FleetOptions) {
    if (!Number.isInteger(opts.agents) || opts.agents < 1 || opts.agents > MAX_FLEET_AGENTS)
      throw new RangeError(`agents: expected 1..${MAX_FLEET_AGENTS}, got ${opts.agents}`);
    if (!Number.isInteger(opts.tenants) || opts.tenants < 1 || opts.tenants > 10_000)
      throw new RangeError(`tenants: expected 1..10000, got ${opts.tenants}`);
    this.#o = opts;
    this.base = new URL(opts.server);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new RangeError(`server: expected an http(s) URL, got ${opts.server}`);
    const prefix = opts.tenantPrefix ?? 'fleet';
    const width = Math.max(3, String(opts.tenants).length);
    this.tenantIds = Array.from(
      { length: opts.tenants },
      (_, t) => `${prefix}-${String(t + 1).padStart(width, '0')}`,
    );
    const sources = opts.sources ?? Math.ceil(opts.agents / SOCKETS_PER_SOURCE);
    if (!Number.isInteger(sources) || sources < 1 || sources > 10_000)
      throw new RangeError(`sources: expected 1..10000, got ${sources}`);
    const sourceBase = opts.sourceBase ?? 1;
    this.#firstIndex = opts.firstIndex ?? 0;
    this.#plan = {
      seed: opts.seed ?? 1,
      exchangeShare: opts.exchangeShare ?? 0.3,
      exchangeBuilds: opts.exchangeBuilds,
    };
    this.#agents = Array.from({ length: opts.agents }, (_, i) => {
      const index = this.#firstIndex + i;
      return new SimAgent(index, index % opts.tenants, loopbackSource(sourceBase + (i % sources)));
    });
    this.#http = new SourceAgents(this.base.protocol === 'https:', 4);
  }

  #log(line: string): void {
    this.#o.log?.(line);
  }

  #host(a: SimAgent): FleetHost {
    return hostOf(this.#plan, a.index, this.tenantIds[a.tenant] as string);
  }

  /** Creates the tenants that are missing and one multi-use enrolment token per tenant; answers them. */
  async prepare(): Promise<Record<string, string>> {
    if (this.#o.enrollTokens) return this.#o.enrollTokens;
    const token = this.#o.apiToken;
    if (!token) throw new RangeError('apiToken: needed to create tenants and enrolment tokens');
    const headers = { authorization: `Bearer ${token}` };
    const perTenant = new Map<number, number>();
    for (const a of this.#agents) perTenant.set(a.tenant, (perTenant.get(a.tenant) ?? 0) + 1);
    const tokens: Record<string, string> = {};
    for (const [t, count] of perTenant) {
      const id = this.tenantIds[t] as string;
      await jsonRequest(this.base, this.#http, 'POST', '/api/v1/tenants', {
        body: { id, name: `Fleet customer ${t + 1}` },
        headers,
        accept: [409],
      });
      const made = await jsonRequest(
        this.base,
        this.#http,
        'POST',
        `/api/v1/tenants/${encodeURIComponent(id)}/agent-tokens`,
        {
          body: { uses: Math.min(MAX_TOKEN_USES, count), ttl_s: 86_400, note: 'bulwark lab fleet' },
          headers,
        },
      );
      tokens[id] = (made.body as { token: string }).token;
    }
    this.#o.enrollTokens = tokens;
    return tokens;
  }

  /** Enrols every agent not enrolled yet (`enrollConcurrency` at a time); answers the seconds it took. */
  async enroll(): Promise<number> {
    const tokens = await this.prepare();
    const t0 = performance.now();
    let next = 0;
    const todo = this.#agents.filter((a) => !a.agentId);
    const worker = async () => {
      while (next < todo.length && !this.#closed) {
        const a = todo[next++] as SimAgent;
        const tenant = this.tenantIds[a.tenant] as string;
        const token = tokens[tenant];
        if (!token) throw new RangeError(`enrollTokens: no enrolment token for tenant ${tenant}`);
        await this.#enrollOne(a, token);
      }
    };
    await Promise.all(Array.from({ length: this.#o.enrollConcurrency ?? 16 }, worker));
    return (performance.now() - t0) / 1000;
  }

  async #enrollOne(a: SimAgent, token: string): Promise<void> {
    const m = /^bwe_([A-Za-z0-9]+)_/.exec(token ?? '');
    if (!m) throw new RangeError('enrolment token: expected bwe_<id>_<secret>');
    const key = this.#keys.privateKey(a.index);
    const publicKey = this.#keys.publicKeyRaw(a.index);
    const host = this.#host(a);
    const res = await jsonRequest(this.base, this.#http, 'POST', '/api/v1/agents/enroll', {
      body: {
        token,
        public_key: publicKey,
        proof: signBytes(key, enrollSigningBytes(m[1] as string, publicKey)),
        hostname: host.hostname,
        os: host.os,
        version: FLEET_VERSION,
      },
      localAddress: a.source,
    });
    const body = res.body as {
      agent_id: string;
      server_keys: { key_id: string; public_key: string }[];
      heartbeat_s: number;
      generation: number;
    };
    for (const k of body.server_keys) {
      const known = this.#serverKeyText.get(k.key_id);
      if (known === undefined) {
        this.#serverKeys.set(k.key_id, publicKeyFromRaw(k.public_key));
        this.#serverKeyText.set(k.key_id, k.public_key);
      } else if (known !== k.public_key) {
        throw new Error(`enrol: the server sent two public keys for key id ${k.key_id}`);
      }
    }
    this.#serverHeartbeatS = body.heartbeat_s;
    a.agentId = body.agent_id;
    a.generation = body.generation;
    this.#byId.set(a.agentId, a);
    this.#enrolled++;
    const em = this.#o.emulators;
    if (em && host.kind === 'exchange' && host.exchangeBuild && this.#emulatorSlots < em.count) {
      this.#emulatorSlots++;
      const { url } = await em.start(a.index, host.exchangeBuild);
      a.url = url;
    }
  }
  #emulatorSlots = 0;
  #kinds: Record<string, number> | undefined;

  /** Starts every enrolled agent's channel (and the sweep that keeps them). */
  connect(): void {
    const now = Date.now();
    for (const a of this.#agents) {
      if (a.agentId && a.state === S.Idle) {
        a.dueAt = now;
        a.attempt = 0;
      }
    }
    this.#sweep ??= setInterval(() => this.#tick(), SWEEP_MS);
    this.#tick();
  }

  get heartbeatMs(): number {
    return (this.#o.heartbeatS ?? this.#serverHeartbeatS) * 1000;
  }

  /** The shared sweep: connects that are due (bounded in flight), heartbeats due, silent peers dropped. */
  #tick(): void {
    if (this.#closed) return;
    const now = Date.now();
    const hb = this.heartbeatMs;
    const cap = this.#o.connectConcurrency ?? 512;
    for (const a of this.#agents) {
      if (a.state === S.Idle) {
        if (a.agentId && a.dueAt && a.dueAt <= now && this.#inflight < cap) this.#open(a, now);
      } else if (a.state === S.Handshake) {
        // No welcome within the handshake window: drop and back off, as the agent does.
        if (now - a.connectedAt > HANDSHAKE_MS) {
          inc(this.#s.closes, 'handshake-timeout');
          a.ws?.terminate();
        }
      } else if (a.state === S.Online) {
        if (now - a.lastRecvAt > 2 * hb) {
          inc(this.#s.closes, 'silent');
          a.ws?.terminate();
        } else if (now >= a.nextBeatAt) {
          a.seq++;
          a.beatSentAt = performance.now();
          a.nextBeatAt = now + hb;
          this.#s.beatsSent++;
          this.#send(a, { t: 'heartbeat', seq: a.seq });
        }
      }
    }
  }

  #open(a: SimAgent, now: number): void {
    a.state = S.Connecting;
    a.dueAt = 0;
    a.cn = randomBytes(16).toString('base64url');
    this.#inflight++;
    this.#s.connectAttempts++;
    const ws = `${this.base.protocol === 'https:' ? 'wss' : 'ws'}://${this.base.host}${AGENT_CHANNEL_PATH}`;
    const url = `${ws}?agent=${encodeURIComponent(a.agentId)}&cn=${a.cn}`;
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        this.#inflight--;
      }
    };
    const socket = new WebSocket(url, {
      localAddress: a.source,
      perMessageDeflate: false,
      maxPayload: AGENT_MAX_MESSAGE_BYTES,
      handshakeTimeout: 15_000,
    });
    a.ws = socket;
    a.lastRecvAt = now;
    let retryAfterMs: number | undefined;
    socket.on('unexpected-response', (_req, res) => {
      const ra = Number(res.headers['retry-after']);
      retryAfterMs = Number.isFinite(ra) ? ra * 1000 : 1000;
      this.#s.busy++;
      inc(this.#s.closes, `http-${res.statusCode}`);
      res.resume();
      socket.terminate();
    });
    socket.on('open', () => {
      settle();
      a.state = S.Handshake;
      a.connectedAt = Date.now();
    });
    socket.on('message', (data, isBinary) => {
      a.lastRecvAt = Date.now();
      if (isBinary) return;
      let msg: { t?: unknown } & Record<string, unknown>;
      try {
        msg = JSON.parse(String(data));
      } catch {
        inc(this.#s.errors, 'bad_json');
        return;
      }
      this.#onMessage(a, msg);
    });
    socket.on('error', (err) => {
      inc(this.#s.errors, (err as NodeJS.ErrnoException).code ?? err.message.slice(0, 40));
    });
    socket.on('close', (code) => {
      settle();
      if (a.ws === socket) a.ws = null;
      if (a.state === S.Online) this.#online--;
      if (retryAfterMs === undefined) inc(this.#s.closes, String(code));
      if (a.state === S.Stopped || this.#closed) return;
      if (code === CLOSE_CODES.stop) {
        a.state = S.Stopped;
        return;
      }
      const lived = a.connectedAt ? Date.now() - a.connectedAt : 0;
      const backoff = this.#o.backoff ?? DEFAULT_BACKOFF;
      if (lived > backoff.resetAfterMs) a.attempt = 0;
      const wait =
        retryAfterMs !== undefined || code === CLOSE_CODES.busy
          ? waitAfterRefusal(retryAfterMs ?? 1000, a.attempt, backoff)
          : fullJitter(a.attempt, backoff);
      a.attempt++;
      a.connectedAt = 0;
      a.state = S.Idle;
      a.dueAt = Date.now() + Math.max(1, wait);
    });
  }

  #send(a: SimAgent, msg: unknown): void {
    const ws = a.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  #onMessage(a: SimAgent, msg: Record<string, unknown>): void {
    switch (msg.t) {
      case 'challenge': {
        const key = this.#serverKeys.get(String(msg.key_id));
        if (
          !key ||
          !verifyBytes(key, channelServerBytes(a.cn, String(msg.nonce)), String(msg.server_signature))
        ) {
          inc(this.#s.errors, 'bad_server_signature');
          a.ws?.close(CLOSE_CODES.unauthorized, 'server signature');
          return;
        }
        this.#send(a, {
          t: 'hello',
          agent_id: a.agentId,
          generation: a.generation,
          signature: signBytes(
            this.#keys.privateKey(a.index),
            channelAgentBytes(String(msg.nonce), a.agentId, a.generation),
          ),
          version: FLEET_VERSION,
        });
        return;
      }
      case 'welcome': {
        const g = Number(msg.generation);
        a.generation = g;
        this.#send(a, { t: 'generation_saved', generation: g });
        if (a.state !== S.Online) this.#online++;
        a.state = S.Online;
        this.#s.welcomes++;
        // The first heartbeat at a random point of the interval: a fleet connecting together beats spread out.
        a.nextBeatAt = Date.now() + Math.floor(Math.random() * this.heartbeatMs);
        if (msg.inventory_hash !== this.#hashOf(a)) this.#sendInventory(a);
        if (msg.renew_certificate === true) this.#send(a, { t: 'renew' });
        for (const [, r] of this.#unacked) if (r.agent === a) a.ws?.send(r.message);
        return;
      }
      case 'heartbeat_ack':
        if (msg.seq === a.seq && a.beatSentAt) {
          this.#beats.add(performance.now() - a.beatSentAt);
          a.beatSentAt = 0;
          this.#s.beatsAcked++;
        }
        return;
      case 'job':
        this.#onJob(a, msg.job as SignedJob);
        return;
      case 'result_ack': {
        const r = this.#unacked.get(String(msg.job_id));
        if (r?.agent === a) {
          this.#unacked.delete(String(msg.job_id));
          this.#s.acked++;
          this.#s.lastAckAt = Date.now();
        }
        return;
      }
      case 'inventory_ack':
        if (msg.ok === false && msg.need === 'full') this.#sendInventory(a);
        return;
      case 'revoked':
      case 'quarantined':
        inc(this.#s.errors, String(msg.t));
        if (a.state === S.Online) this.#online--;
        a.state = S.Stopped;
        return;
      case 'error':
        inc(this.#s.errors, `server: ${String(msg.message).slice(0, 60)}`);
        return;
      default:
        return;
    }
  }

  #facts(a: SimAgent) {
    return factsOf(this.#plan, a.index, a.agentId, this.#host(a), a.build);
  }

  #hashOf(a: SimAgent): string {
    a.hash ??= factsHash(this.#facts(a));
    return a.hash;
  }

  #sendInventory(a: SimAgent): void {
    const facts = this.#facts(a);
    a.hash = factsHash(facts);
    this.#s.inventories++;
    this.#send(a, { t: 'inventory', mode: 'full', hash: a.hash, facts });
  }

  /** The checks the real agent makes, in its order; undefined when the job may run. */
  #refusal(a: SimAgent, job: SignedJob): RefusalReason | undefined {
    const e = job?.envelope;
    if (!e || typeof e !== 'object' || e.v !== AGENT_PROTOCOL_VERSION || typeof job.signature !== 'string')
      return 'malformed';
    const key = this.#serverKeys.get(e.key_id);
    if (!key) return 'unknown_key';
    if (!verifyBytes(key, jobSigningBytes(e), job.signature)) return 'bad_signature';
    if (e.agent_id !== a.agentId) return 'foreign_agent';
    if (e.tenant_id !== this.tenantIds[a.tenant]) return 'foreign_tenant';
    const now = Date.now();
    if (Date.parse(e.not_before) > now + SKEW_MS) return 'not_yet_valid';
    if (!(Date.parse(e.expires_at) > now)) return 'expired';
    return undefined;
  }

  #onJob(a: SimAgent, job: SignedJob): void {
    const now = Date.now();
    this.#s.jobs++;
    this.#s.firstJobAt ??= now;
    this.#s.lastJobAt = now;
    const e = job?.envelope as JobEnvelope | undefined;
    const jobId = typeof e?.job_id === 'string' ? e.job_id : '';
    inc(this.#s.byKind, String(e?.kind));
    const pending = this.#unacked.get(jobId);
    if (pending) {
      a.ws?.send(pending.message);
      return;
    }
    if (this.#answered.has(jobId)) return;
    const started = new Date(now).toISOString();
    this.#send(a, { t: 'job_status', job_id: jobId, state: 'received' });
    const refused = this.#refusal(a, job);
    if (refused) {
      this.#s.refused++;
      this.#answer(a, jobId, { status: 'refused', reason: refused });
      return;
    }
    const env = e as JobEnvelope;
    void this.#run(a, env).then(
      (output) => this.#answer(a, jobId, { status: 'succeeded', output, started_at: started }),
      (err: Error) =>
        this.#answer(a, jobId, { status: 'failed', reason: err.message.slice(0, 500), started_at: started }),
    );
  }

  #answer(
    a: SimAgent,
    jobId: string,
    outcome: Pick<JobResult, 'status' | 'reason' | 'output' | 'started_at'>,
  ): void {
    if (!jobId) return;
    const result: JobResult = {
      v: AGENT_PROTOCOL_VERSION,
      job_id: jobId,
      agent_id: a.agentId,
      ...outcome,
      finished_at: new Date().toISOString(),
    };
    const signed: SignedResult = {
      result,
      signature: signBytes(this.#keys.privateKey(a.index), resultSigningBytes(result)),
    };
    const message = JSON.stringify({ t: 'job_result', result: signed });
    this.#answered.add(jobId);
    this.#unacked.set(jobId, { agent: a, message });
    this.#s.results++;
    this.#s.lastResultAt = Date.now();
    a.ws?.readyState === WebSocket.OPEN && a.ws.send(message);
  }

  /** What a job of each kind answers: plausible output from the agent's simulated host. */
  async #run(a: SimAgent, e: JobEnvelope): Promise<unknown> {
    const host = this.#host(a);
    const params = e.params as Record<string, unknown>;
    const advisory = typeof params.advisory_id === 'string' ? params.advisory_id : undefined;
    const exchange = host.kind === 'exchange';
    switch (e.kind) {
      case 'inventory': {
        const facts = this.#facts(a);
        return { facts, hash: factsHash(facts) };
      }
      case 'verify':
        return { advisory_id: advisory, facts: this.#facts(a) };
      case 'hunt': {
        const to = typeof params.until === 'string' ? params.until : new Date().toISOString();
        const from =
          typeof params.since === 'string'
            ? params.since
            : new Date(Date.now() - 30 * 86_400_000).toISOString();
        // One Exchange host in 50 shows the ProxyLogon chain; hosts without Exchange logs cannot be judged.
        const compromised = exchange && a.index % 50 === 7;
        return {
          advisory_id: advisory,
          report: {
            host: host.hostname,
            verdict: !exchange ? 'insufficient_logs' : compromised ? 'compromised' : 'clean',
            window: { from, to },
            summary: compromised
              ? {
                  text: 'simulated: web shell written after the SSRF chain',
                  cves: ['CVE-2021-26855'],
                  counts: { hits: 3 },
                }
              : { text: exchange ? 'simulated: no hits' : 'simulated: no Exchange or IIS logs on this host' },
          },
        };
      }
      case 'mitigate':
      case 'rollback': {
        const apply = e.kind === 'mitigate';
        const mitigation =
          typeof params.mitigation_id === 'string' ? params.mitigation_id : 'eomt-url-rewrite';
        if (!exchange)
          return {
            advisory_id: advisory,
            mitigation_id: mitigation,
            steps: [{ id: 'url-rewrite-rule', outcome: 'unsupported', detail: 'no Exchange on this host' }],
            shielded: null,
          };
        const em = this.#o.emulators;
        if (em && a.url) await em.shield(a.index, apply);
        return {
          advisory_id: advisory,
          mitigation_id: mitigation,
          steps: [{ id: 'url-rewrite-rule', outcome: apply ? 'applied' : 'undone', detail: 'simulated' }],
          shielded: apply,
        };
      }
      default:
        throw new Error(`unsupported kind ${String(e.kind)}`);
    }
  }

  /**
   * Applies a patch to an emulator-backed Exchange agent: its emulator restarts on the new build and the agent
   * reports the new inventory at once.
   */
  async patch(agentId: string, build: string): Promise<{ url: string }> {
    const a = this.#byId.get(agentId);
    const em = this.#o.emulators;
    if (!a || !em || !a.url)
      throw new RangeError(`patch: ${agentId} is not an emulator-backed Exchange agent`);
    const { url } = await em.patch(a.index, build);
    a.url = url;
    a.build = build;
    a.hash = null;
    if (a.state === S.Online) this.#sendInventory(a);
    return { url };
  }

  /** Drops every channel at once (as a network outage would); each agent reconnects with its back-off. */
  dropAll(): number {
    let n = 0;
    for (const a of this.#agents) {
      if (a.ws) {
        a.ws.terminate();
        n++;
      }
    }
    return n;
  }

  get online(): number {
    return this.#online;
  }

  /** Waits (bounded) until `want` agents are online; answers whether they are. */
  async waitOnline(want: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#online < want && Date.now() < deadline && !this.#closed)
      await new Promise((r) => setTimeout(r, 100));
    return this.#online >= want;
  }

  agents(): FleetAgentInfo[] {
    return this.#agents
      .filter((a) => a.agentId)
      .map((a) => {
        const host = this.#host(a);
        return {
          agent_id: a.agentId,
          tenant_id: this.tenantIds[a.tenant] as string,
          hostname: host.hostname,
          kind: host.kind,
          ...(host.kind === 'exchange' ? { exchange_build: a.build ?? host.exchangeBuild } : {}),
          ...(a.url ? { emulator_url: a.url } : {}),
          online: a.state === S.Online,
          generation: a.generation,
        };
      });
  }

  stats(options: { resetLatency?: boolean } = {}): FleetStats {
    if (!this.#kinds) {
      this.#kinds = {};
      for (const a of this.#agents) inc(this.#kinds, this.#host(a).kind);
    }
    const kinds = { ...this.#kinds };
    let stopped = 0;
    for (const a of this.#agents) if (a.state === S.Stopped) stopped++;
    const s = this.#s;
    const beats = this.#beats.summary();
    if (options.resetLatency) this.#beats.reset();
    const mem = process.memoryUsage();
    return {
      agents: this.#agents.length,
      enrolled: this.#enrolled,
      online: this.#online,
      stopped,
      kinds,
      connectAttempts: s.connectAttempts,
      welcomes: s.welcomes,
      busy: s.busy,
      closes: { ...s.closes },
      errors: { ...s.errors },
      heartbeats: { sent: s.beatsSent, acked: s.beatsAcked, p50: beats.p50, p99: beats.p99, max: beats.max },
      jobs: {
        received: s.jobs,
        byKind: { ...s.byKind },
        refused: s.refused,
        results: s.results,
        acked: s.acked,
        firstReceivedAt: s.firstJobAt,
        lastReceivedAt: s.lastJobAt,
        lastResultAt: s.lastResultAt,
        lastAckAt: s.lastAckAt,
      },
      inventories: s.inventories,
      rssBytes: mem.rss,
      heapBytes: mem.heapUsed,
    };
  }

  /** Resets the job counters (between benchmark phases). */
  resetJobs(): void {
    Object.assign(this.#s, {
      jobs: 0,
      byKind: {},
      refused: 0,
      results: 0,
      acked: 0,
      firstJobAt: null,
      lastJobAt: null,
      lastResultAt: null,
      lastAckAt: null,
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    const closing: Promise<void>[] = [];
    for (const a of this.#agents) {
      const ws = a.ws;
      if (!ws) continue;
      a.state = S.Stopped;
      closing.push(
        new Promise((resolve) => {
          const t = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 2000);
          ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          ws.close(1001, 'fleet closing');
        }),
      );
    }
    await Promise.all(closing);
    this.#http.destroy();
    await this.#o.emulators?.close();
  }
}

export { FleetHttpError };
