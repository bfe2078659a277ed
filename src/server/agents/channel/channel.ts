/**
 * The agent channel: one WebSocket per agent on AGENT_CHANNEL_PATH (the contract is src/api/agent-protocol.ts).
 *
 * - Before the upgrade: the connection-rate limit (token bucket, `agent_connect_rate`; beyond it 503 +
 *   Retry-After), the query (`agent`, `cn`); every other upgrade path is refused.
 * - Handshake: challenge signed with the job-signing key → hello signed with the agent key (10 s) → checks (agent
 *   active, signature, certificate, generation) → welcome with generation G+1 → generation_saved. A generation
 *   older than the stored one is a clone of the agent's files: quarantine. A second live connection of the agent in
 *   this process is probed with a ping (5 s): a pong means two machines hold one key (quarantine both), silence
 *   means the old connection is dead (replaced).
 * - Heartbeats: any inbound message keeps a channel alive; none for 2×heartbeat_s closes it 4408 and marks the
 *   agent offline. One periodic sweep checks every connection (no timer per socket).
 * - Presence in batches (presence.ts); jobs pushed on welcome and on `agent_jobs.queued` (delivery.ts); results
 *   verified with the agent's key and stored once (results.ts); jobs past expiry end `expired`; `agent.changed`
 *   re-reads a connected agent's state and closes a revoked or quarantined one.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import {
  AGENT_CHANNEL_PATH,
  AGENT_MAX_MESSAGE_BYTES,
  CLOSE_CODES,
  channelAgentBytes,
  channelServerBytes,
  publicKeyFromRaw,
  verifyBytes,
} from '../../../api/agent-protocol.js';
import type { EventEnvelope } from '../../../api/events.js';
import type { Db } from '../../db/connect.js';
import type { EventBus } from '../../events/index.js';
import { Connection, PHASE } from './connection.js';
import { Delivery } from './delivery.js';
import { type Inbound, type InboundOf, parseFrame } from './frames.js';
import { type ChannelMetrics, channelMetrics, type HandshakeFailure } from './metrics.js';
import { PresenceBatcher } from './presence.js';
import { TokenBucket } from './rate-limit.js';
import { type ResultDeps, ResultIntake } from './results.js';
import { type AgentRow, ChannelStore } from './store.js';

type Log = {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
};

/** What signs the challenge: the job-signing key (the key agents pinned at enrolment). */
export interface ChallengeSigner {
  keyId: string;
  signBytes(bytes: Buffer): string;
}

export interface IssuedCertificate {
  serial: string;
  pem: string;
  notBefore: string;
  notAfter: string;
}

export interface ChannelDeps extends ResultDeps {
  db: Db;
  events: EventBus;
  registry: Registry;
  heartbeatS: number;
  connectRate: number;
  certDays: number;
  signer(): Promise<ChallengeSigner>;
  issueCertificate(p: { tenantId: string; agentId: string; publicKey: string }): Promise<IssuedCertificate>;
  log?: Log;
}

export interface ChannelOptions {
  /** Time to answer the challenge (default 10 s). */
  helloTimeoutMs?: number;
  /** Time an older connection of the same agent has to answer the ping probe (default 5 s). */
  probeTimeoutMs?: number;
  /** Presence batch interval (default 1 s). */
  presenceFlushMs?: number;
  /** Interval of the expiry, due-job and stale-presence sweep (default 10 s). */
  maintenanceMs?: number;
  /** Identifies this process in agents.connected_replica. */
  replica?: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
const CLIENT_NONCE = /^[A-Za-z0-9_-]{22,128}$/;
/** Shut-down: how long open channels get to answer the close frame before their sockets are destroyed. */
const CLOSE_GRACE_MS = 2000;
/** Close codes outside the contract's. */
const PROTOCOL_ERROR = 1002;
const GOING_AWAY = 1001;
const INTERNAL_ERROR = 1011;

const CONN = Symbol('agent-connection');
type Tagged = WebSocket & { [CONN]?: Connection; [OWNER]?: AgentChannel };
const OWNER = Symbol('agent-channel');

/** Shared socket listeners: `this` is the socket. */
function onSocketMessage(this: Tagged, data: RawData, isBinary: boolean): void {
  const conn = this[CONN];
  if (conn) this[OWNER]?.onMessage(conn, data, isBinary);
}
function onSocketClose(this: Tagged): void {
  const conn = this[CONN];
  if (conn) this[OWNER]?.onClose(conn);
}
function onSocketPong(this: Tagged): void {
  const conn = this[CONN];
  if (conn) this[OWNER]?.onPong(conn);
}
function onSocketError(this: Tagged): void {
  // A broken socket ('close' follows); nothing to do but not crash.
}

function refuseUpgrade(
  socket: Duplex,
  status: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: reason, message });
  const head = [
    `HTTP/1.1 ${status} ${status === 503 ? 'Service Unavailable' : status === 404 ? 'Not Found' : 'Bad Request'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  if (socket.writable) socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  else socket.destroy();
}

export class AgentChannel {
  readonly metrics: ChannelMetrics;
  readonly store: ChannelStore;
  readonly replica: string;
  readonly #deps: ChannelDeps;
  readonly #wss: WebSocketServer;
  readonly #bucket: TokenBucket;
  readonly #presence: PresenceBatcher;
  readonly #delivery: Delivery;
  readonly #results: ResultIntake;
  readonly #hbMs: number;
  readonly #helloMs: number;
  readonly #probeMs: number;
  readonly #maintenanceMs: number;
  /** Every open socket. */
  readonly #all = new Set<Connection>();
  /** Connections past the handshake, by agent. */
  readonly #byAgent = new Map<string, Connection>();
  #signer: ChallengeSigner | undefined;
  #running = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  #maintenanceTimer: NodeJS.Timeout | undefined;
  #maintaining: Promise<void> | undefined;
  #dueSince = new Date().toISOString();
  #unsubscribe: (() => void)[] = [];

  constructor(deps: ChannelDeps, options: ChannelOptions = {}) {
    this.#deps = deps;
    this.store = new ChannelStore(deps.db);
    this.replica = options.replica ?? `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
    this.#hbMs = deps.heartbeatS * 1000;
    this.#helloMs = options.helloTimeoutMs ?? 10_000;
    this.#probeMs = options.probeTimeoutMs ?? 5_000;
    this.#maintenanceMs = options.maintenanceMs ?? 10_000;
    this.#bucket = new TokenBucket(deps.connectRate, deps.connectRate * 2);
    this.metrics = channelMetrics(deps.registry, () => this.#byAgent.size);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: AGENT_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const onError = (what: string) => (err: unknown) => deps.log?.error({ err }, `agent channel: ${what}`);
    this.#presence = new PresenceBatcher(
      this.store,
      this.replica,
      options.presenceFlushMs ?? 1000,
      onError('presence not written; retrying'),
    );
    this.#delivery = new Delivery(this.store, this.metrics, onError('job delivery failed'), (conn, text) =>
      this.sendText(conn, text),
    );
    this.#results = new ResultIntake(this.store, this.metrics, deps, deps.log);
  }

  /** Connections past the handshake. */
  get connected(): number {
    return this.#byAgent.size;
  }

  /** Open sockets, handshakes included. */
  get sockets(): number {
    return this.#all.size;
  }

  /** Whether this process holds a channel for the agent. */
  holds(agentId: string): boolean {
    return this.#byAgent.has(agentId);
  }

  /** Starts the sweeps and the event consumers; upgrades are answered 503 until then. */
  async start(): Promise<void> {
    if (this.#running) return;
    // A single server (SQLite) holds every channel itself: whatever is marked online is left from its last run.
    if (this.#deps.db.dialect === 'sqlite') await this.store.releaseAll(new Date().toISOString());
    try {
      this.#signer = await this.#deps.signer();
    } catch (err) {
      this.#deps.log?.error({ err }, 'agent channel: the job-signing key is not available; channels wait');
    }
    this.#running = true;
    const events = this.#deps.events;
    this.#unsubscribe.push(
      events.subscribe('agent-channel.jobs', (e) => this.#onJobsQueued(e), {
        durable: false,
        types: ['agent_jobs.queued'],
      }),
      events.subscribe('agent-channel.agents', (e) => this.#onAgentChanged(e), {
        durable: false,
        types: ['agent.changed'],
      }),
    );
    const sweepMs = Math.min(1000, Math.max(50, Math.floor(this.#hbMs / 10)));
    this.#sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.#sweepTimer.unref();
    this.#maintenanceTimer = setInterval(() => void this.maintain(), this.#maintenanceMs);
    this.#maintenanceTimer.unref();
  }

  /** Closes every channel (1001), waits briefly for the close handshakes, writes presence and stops. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
    clearInterval(this.#sweepTimer);
    clearInterval(this.#maintenanceTimer);
    for (const conn of [...this.#all]) this.#close(conn, GOING_AWAY, 'server shutting down');
    for (let i = 0; i < CLOSE_GRACE_MS / 20 && this.#allSockets() > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    for (const conn of [...this.#all]) conn.ws.terminate();
    this.#all.clear();
    await this.#maintaining?.catch(() => {});
    await this.#delivery.idle();
    await this.#presence.stop();
    await new Promise<void>((r) => this.#wss.close(() => r()));
  }

  #allSockets(): number {
    let n = 0;
    for (const conn of this.#all) if (conn.ws.readyState !== 3) n++;
    return n;
  }

  /** The HTTP server's 'upgrade' listener. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://channel.invalid');
    } catch {
      return refuseUpgrade(socket, 400, 'bad_request', 'the request target is not a URL');
    }
    if (url.pathname !== AGENT_CHANNEL_PATH)
      return refuseUpgrade(
        socket,
        404,
        'not_found',
        `no WebSocket endpoint at ${url.pathname.slice(0, 200)}`,
      );
    if (!this.#running || !this.#signer) {
      if (this.#running) void this.#loadSigner();
      return refuseUpgrade(socket, 503, 'unavailable', 'the agent channel is not running; retry later', {
        'Retry-After': '5',
      });
    }
    if (!this.#bucket.take()) {
      this.metrics.connects.inc({ outcome: 'rate_limited' });
      this.metrics.handshakeFailures.inc({ reason: 'rate_limited' });
      return refuseUpgrade(
        socket,
        503,
        'busy',
        'too many agent connections at once; retry after the time Retry-After gives, with jitter',
        { 'Retry-After': String(this.#bucket.retryAfterSeconds()) },
      );
    }
    const agentId = url.searchParams.get('agent') ?? '';
    const clientNonce = url.searchParams.get('cn') ?? '';
    if (!ID.test(agentId) || !CLIENT_NONCE.test(clientNonce)) {
      this.#fail(undefined, 'bad_request');
      return refuseUpgrade(
        socket,
        400,
        'bad_request',
        !ID.test(agentId)
          ? 'agent: the query needs the agent id (agent=<id>)'
          : 'cn: the query needs a client nonce of 16 or more random bytes, base64url (cn=<nonce>)',
      );
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws as Tagged, agentId, clientNonce));
  }

  async #loadSigner(): Promise<void> {
    try {
      this.#signer ??= await this.#deps.signer();
    } catch {
      // Logged at start; the next upgrade tries again.
    }
  }

  #open(ws: Tagged, agentId: string, clientNonce: string) {
    const nonce = randomBytes(32).toString('base64url');
    const conn = new Connection(ws, agentId, nonce, Date.now());
    ws[CONN] = conn;
    ws[OWNER] = this;
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('pong', onSocketPong);
    ws.on('error', onSocketError);
    this.#all.add(conn);
    if (!this.#running) return this.#close(conn, GOING_AWAY, 'server shutting down');
    const signer = this.#signer!;
    this.#send(conn, {
      t: 'challenge',
      nonce,
      server_time: new Date().toISOString(),
      key_id: signer.keyId,
      server_signature: signer.signBytes(channelServerBytes(clientNonce, nonce)),
    });
  }

  #send(conn: Connection, message: object): void {
    if (conn.ws.readyState === 1) conn.ws.send(JSON.stringify(message));
  }

  /** Sends a pre-serialised frame (job delivery). */
  sendText(conn: Connection, text: string): boolean {
    if (conn.ws.readyState !== 1 || conn.phase !== PHASE.ready) return false;
    conn.ws.send(text);
    return true;
  }

  #close(conn: Connection, code: number, reason: string): void {
    if (conn.phase !== PHASE.closed) {
      conn.phase = PHASE.closed;
      this.#release(conn);
    }
    if (conn.ws.readyState === 0 || conn.ws.readyState === 1) conn.ws.close(code, reason.slice(0, 120));
  }

  /** Forgets a connection's agent binding and marks the agent offline if it was this connection. */
  #release(conn: Connection): void {
    if (conn.prober) {
      const prober = conn.prober;
      conn.prober = undefined;
      // The probed connection went away on its own: the newer one continues.
      if (prober.phase === PHASE.probing) void this.#continueAfterProbe(prober);
    }
    if (this.#byAgent.get(conn.agentId) === conn) {
      this.#byAgent.delete(conn.agentId);
      this.#presence.offline(conn.tenantId, conn.agentId);
    }
  }

  /** Refuses a handshake: the error or closing message, the close code, the metric. */
  #refuse(
    conn: Connection,
    reason: HandshakeFailure,
    code: number,
    message: object,
    closeReason: string,
  ): void {
    this.#fail(conn, reason);
    this.#send(conn, message);
    this.#close(conn, code, closeReason);
  }

  #fail(_conn: Connection | undefined, reason: HandshakeFailure): void {
    this.metrics.handshakeFailures.inc({ reason });
    if (reason !== 'rate_limited') this.metrics.connects.inc({ outcome: 'failed' });
  }

  onClose(conn: Connection): void {
    this.#all.delete(conn);
    if (conn.phase !== PHASE.closed) {
      conn.phase = PHASE.closed;
      this.#release(conn);
    }
  }

  onPong(conn: Connection): void {
    const prober = conn.prober;
    if (!prober) return;
    conn.prober = undefined;
    // The older connection answered: two live machines present one key.
    void this.#quarantineClones(conn, prober);
  }

  onMessage(conn: Connection, data: RawData, isBinary: boolean) {
    if (conn.phase === PHASE.closed) return;
    conn.lastInbound = Date.now();
    const parsed = parseFrame(data as Buffer, isBinary);
    if (!parsed.ok) {
      if (conn.phase === PHASE.ready) return this.#protocolError(conn, parsed.error);
      return this.#refuse(
        conn,
        'malformed',
        CLOSE_CODES.unauthorized,
        { t: 'error', message: parsed.error, fatal: true },
        'malformed',
      );
    }
    const msg = parsed.message;
    if (conn.phase === PHASE.challenged) {
      if (msg.t !== 'hello')
        return this.#refuse(
          conn,
          'malformed',
          CLOSE_CODES.unauthorized,
          { t: 'error', message: `the first message must be hello, not ${msg.t}`, fatal: true },
          'expected hello',
        );
      conn.phase = PHASE.checking;
      this.#hello(conn, msg).catch((err) => {
        this.#deps.log?.error({ err, agent: conn.agentId }, 'agent channel: handshake failed');
        this.#refuse(
          conn,
          'error',
          INTERNAL_ERROR,
          { t: 'error', message: 'the server could not complete the handshake; retry later', fatal: true },
          'server error',
        );
      });
      return;
    }
    if (conn.phase !== PHASE.ready)
      return this.#protocolError(conn, `${msg.t}: wait for welcome before sending anything else`);
    const handle = () =>
      this.#ready(conn, msg).catch((err) => {
        this.#deps.log?.error({ err, agent: conn.agentId, t: msg.t }, 'agent channel: message failed');
        this.#send(conn, {
          t: 'error',
          message: `${msg.t}: the server could not handle it; send it again later`,
        });
      });
    // One message at a time per connection, in the order the agent sent them (see Connection.inbox).
    const next = conn.inbox ? conn.inbox.then(handle) : handle();
    conn.inbox = next;
    void next.then(() => {
      if (conn.inbox === next) conn.inbox = undefined;
    });
  }

  /** Garbage after the handshake: one error, then the channel closes. */
  #protocolError(conn: Connection, message: string): void {
    this.#send(conn, { t: 'error', message: message.slice(0, 500), fatal: true });
    this.#close(conn, PROTOCOL_ERROR, 'protocol error');
  }

  async #hello(conn: Connection, hello: InboundOf<'hello'>): Promise<void> {
    if (hello.agent_id !== conn.agentId)
      return this.#refuse(
        conn,
        'bad_request',
        CLOSE_CODES.unauthorized,
        { t: 'error', message: 'hello.agent_id: differs from the agent in the URL', fatal: true },
        'agent mismatch',
      );
    const agent = await this.store.agent(conn.agentId);
    if (conn.phase !== PHASE.checking) return;
    if (!agent)
      return this.#refuse(
        conn,
        'unknown_agent',
        CLOSE_CODES.unauthorized,
        { t: 'error', message: 'unknown agent; enrol again', fatal: true },
        'unknown agent',
      );
    const key = (() => {
      try {
        return publicKeyFromRaw(agent.public_key);
      } catch {
        return undefined;
      }
    })();
    if (!key || !verifyBytes(key, channelAgentBytes(conn.nonce, agent.id, hello.generation), hello.signature))
      return this.#refuse(
        conn,
        'bad_signature',
        CLOSE_CODES.unauthorized,
        { t: 'error', message: 'hello.signature: does not verify with the enrolled key', fatal: true },
        'bad signature',
      );
    if (agent.state !== 'active') return this.#stopped(conn, agent, 'handshake');
    if (agent.cert_revoked) {
      this.#fail(conn, 'certificate_revoked');
      this.#send(conn, { t: 'revoked', reason: 'the device certificate is revoked' });
      return this.#close(conn, CLOSE_CODES.stop, 'revoked');
    }
    // Generation changes of this process not written yet count as written.
    const unwritten = this.#presence.unwritten(agent.id);
    if (unwritten?.generation !== undefined && unwritten.generation > agent.generation)
      agent.generation = unwritten.generation;
    if (unwritten && 'pending' in unwritten) agent.pending_generation = unwritten.pending ?? null;
    if (hello.generation < agent.generation) {
      const reason = `clone: generation ${hello.generation} presented after ${agent.generation} (the agent's files were copied to another machine)`;
      await this.store.quarantine(agent.tenant_id, agent.id, reason);
      this.#fail(conn, 'clone');
      this.#send(conn, { t: 'quarantined', reason });
      this.#close(conn, CLOSE_CODES.stop, 'quarantined');
      const live = this.#byAgent.get(agent.id);
      if (live) {
        this.#send(live, { t: 'quarantined', reason });
        this.#close(live, CLOSE_CODES.stop, 'quarantined');
      }
      return;
    }
    // The stored generation, the one offered last, or the next one (offered in a welcome whose write was lost).
    if (
      hello.generation !== agent.generation &&
      hello.generation !== agent.pending_generation &&
      hello.generation !== agent.generation + 1
    )
      return this.#refuse(
        conn,
        'bad_generation',
        CLOSE_CODES.unauthorized,
        {
          t: 'error',
          message: `hello.generation: ${hello.generation} is not the agent's generation (${agent.generation})`,
          fatal: true,
        },
        'bad generation',
      );
    conn.tenantId = agent.tenant_id;
    conn.publicKey = agent.public_key;
    conn.offered = hello.generation + 1;
    const live = this.#byAgent.get(agent.id);
    if (live && live !== conn && live.open) {
      // Is the older connection alive? A pong within the probe time says a second machine holds the key.
      conn.phase = PHASE.probing;
      live.prober = conn;
      live.probeDeadline = Date.now() + this.#probeMs;
      try {
        live.ws.ping();
      } catch {
        live.prober = undefined;
        this.#close(live, GOING_AWAY, 'replaced by a newer connection');
        return this.#welcome(conn, agent);
      }
      return;
    }
    return this.#welcome(conn, agent);
  }

  /** After the probe: the older connection is gone or did not answer; the newer one is accepted. */
  async #continueAfterProbe(conn: Connection): Promise<void> {
    if (conn.phase !== PHASE.probing) return;
    conn.phase = PHASE.checking;
    const agent = await this.store.agent(conn.agentId);
    if (conn.phase !== PHASE.checking) return;
    if (agent?.state !== 'active')
      return agent
        ? this.#stopped(conn, agent, 'handshake')
        : this.#refuse(
            conn,
            'unknown_agent',
            CLOSE_CODES.unauthorized,
            { t: 'error', message: 'unknown agent; enrol again', fatal: true },
            'unknown agent',
          );
    return this.#welcome(conn, agent);
  }

  async #quarantineClones(older: Connection, newer: Connection): Promise<void> {
    const reason = 'clone: one agent key connected from two machines at once';
    try {
      await this.store.quarantine(newer.tenantId || older.tenantId, older.agentId, reason);
    } catch (err) {
      this.#deps.log?.error({ err, agent: older.agentId }, 'agent channel: quarantine not written');
    }
    this.#fail(newer, 'clone');
    for (const conn of [newer, older]) {
      this.#send(conn, { t: 'quarantined', reason });
      this.#close(conn, CLOSE_CODES.stop, 'quarantined');
    }
  }

  async #welcome(conn: Connection, agent: AgentRow): Promise<void> {
    if (conn.phase !== PHASE.checking) return;
    this.#presence.offered(agent.tenant_id, agent.id, conn.offered);
    const previous = this.#byAgent.get(agent.id);
    if (previous && previous !== conn) {
      // Replaced: the older connection did not answer the probe or went away during the checks. The agent stays
      // online: no offline mark for it.
      this.#byAgent.delete(agent.id);
      previous.phase = PHASE.closed;
      if (previous.ws.readyState === 1) previous.ws.close(GOING_AWAY, 'replaced by a newer connection');
      previous.ws.terminate();
    }
    this.#presence.online(agent.tenant_id, agent.id);
    this.#byAgent.set(agent.id, conn);
    conn.phase = PHASE.ready;
    conn.nonce = '';
    const now = Date.now();
    conn.lastInbound = now;
    conn.lastSeenMark = now;
    const remaining = Date.parse(agent.cert_not_after) - now;
    const renewBelow = Math.max(86_400_000, (this.#deps.certDays * 86_400_000) / 3);
    this.metrics.connects.inc({ outcome: 'accepted' });
    this.#send(conn, {
      t: 'welcome',
      agent_id: agent.id,
      generation: conn.offered,
      heartbeat_s: this.#deps.heartbeatS,
      server_time: new Date(now).toISOString(),
      ...(!(remaining > renewBelow) ? { renew_certificate: true } : {}),
      inventory_hash: agent.inventory_hash,
    });
    this.#delivery.request(conn);
  }

  /** The agent is revoked or quarantined: say so and close 4403 (the agent stops, it does not loop). */
  #stopped(conn: Connection, agent: Pick<AgentRow, 'state' | 'state_reason'>, when: 'handshake' | 'live') {
    const t = agent.state === 'quarantined' ? 'quarantined' : 'revoked';
    if (when === 'handshake') this.#fail(conn, t);
    this.#send(conn, { t, reason: agent.state_reason ?? (t === 'revoked' ? 'revoked by an operator' : t) });
    this.#close(conn, CLOSE_CODES.stop, t);
  }

  async #ready(conn: Connection, msg: Inbound): Promise<void> {
    const now = conn.lastInbound;
    if (conn.recheck && !(await conn.recheck)) return;
    if (conn.phase !== PHASE.ready) return;
    if (now - conn.lastSeenMark >= this.#hbMs) {
      conn.lastSeenMark = now;
      this.#presence.seen(conn.tenantId, conn.agentId);
    }
    switch (msg.t) {
      case 'heartbeat': {
        if (conn.lastHeartbeat)
          this.metrics.heartbeatLag.observe(Math.max(0, now - conn.lastHeartbeat - this.#hbMs) / 1000);
        conn.lastHeartbeat = now;
        this.#send(conn, { t: 'heartbeat_ack', seq: msg.seq });
        return;
      }
      case 'generation_saved': {
        if (msg.generation !== conn.offered)
          return this.#send(conn, {
            t: 'error',
            message: `generation_saved.generation: ${msg.generation} is not the generation offered (${conn.offered})`,
          });
        conn.offered = 0;
        this.#presence.saved(conn.tenantId, conn.agentId, msg.generation);
        return;
      }
      case 'job_status':
        await this.store.jobStatus(conn.tenantId, conn.agentId, msg.job_id, msg.state, msg.progress);
        return;
      case 'job_result': {
        const ack = await this.#results.intake(conn, msg.result);
        if (ack) this.#send(conn, { t: 'result_ack', job_id: msg.result.result.job_id });
        else
          this.#send(conn, {
            t: 'error',
            message:
              'job_result.result.signature: does not verify with this agent key; the result was not stored',
          });
        return;
      }
      case 'inventory': {
        const { message, ...ack } = await this.#results.inventory(conn, msg);
        if (message) this.#send(conn, { t: 'error', message: `inventory: ${message}`.slice(0, 500) });
        this.#send(conn, { t: 'inventory_ack', ...ack });
        return;
      }
      case 'renew': {
        const issued = await this.#deps.issueCertificate({
          tenantId: conn.tenantId,
          agentId: conn.agentId,
          publicKey: conn.publicKey,
        });
        await this.store.renewed(conn.tenantId, conn.agentId, issued);
        this.#send(conn, { t: 'certificate', certificate_pem: issued.pem });
        return;
      }
      case 'error':
        this.#deps.log?.warn(
          { agent: conn.agentId, message: msg.message.slice(0, 200) },
          'agent channel: the agent reported an error',
        );
        return;
      case 'hello':
        return this.#send(conn, { t: 'error', message: 'hello: the handshake is done' });
    }
  }

  /** Heartbeat and deadline sweep over every connection. */
  sweep(now = Date.now()): void {
    const silentAfter = 2 * this.#hbMs;
    for (const conn of this.#all) {
      switch (conn.phase) {
        case PHASE.challenged:
          if (now - conn.openedAt > this.#helloMs) {
            this.#fail(conn, 'no_hello');
            this.#send(conn, { t: 'error', message: 'no hello within the time allowed', fatal: true });
            this.#close(conn, CLOSE_CODES.unauthorized, 'no hello');
          }
          break;
        case PHASE.ready:
          if (conn.prober && now > conn.probeDeadline) {
            const prober = conn.prober;
            conn.prober = undefined;
            // No pong: the older connection is dead and the newer one replaces it (unless that one left already).
            if (prober.phase === PHASE.probing) {
              this.#byAgent.delete(conn.agentId);
              conn.phase = PHASE.closed;
              conn.ws.terminate();
              void this.#continueAfterProbe(prober);
            }
          } else if (now - conn.lastInbound > silentAfter) {
            this.#send(conn, { t: 'error', message: 'no message in two heartbeat intervals', fatal: true });
            this.#close(conn, CLOSE_CODES.heartbeatTimeout, 'heartbeat timeout');
          }
          break;
        case PHASE.closed:
          // A closed connection whose peer never finished the close handshake.
          if (now - conn.lastInbound > silentAfter + 30_000) conn.ws.terminate();
          break;
      }
    }
  }

  /** Expiry, jobs that became due and presence left by a stopped replica; one pass at a time. */
  maintain(): Promise<void> {
    this.#maintaining ??= this.#maintainOnce().finally(() => {
      this.#maintaining = undefined;
    });
    return this.#maintaining;
  }

  async #maintainOnce(): Promise<void> {
    try {
      const now = new Date();
      const iso = now.toISOString();
      for (let i = 0; i < 20; i++) {
        const n = await this.store.expireJobs(iso);
        if (n) this.metrics.jobsFinished.inc({ state: 'expired' }, n);
        if (n < 1000) break;
      }
      const due = await this.store.agentsWithJobsDue(this.#dueSince, iso);
      this.#dueSince = iso;
      for (const id of due) {
        const conn = this.#byAgent.get(id);
        if (conn) this.#delivery.request(conn);
      }
      const cutoff = new Date(now.getTime() - 3 * this.#hbMs - 10_000).toISOString();
      await this.store.clearStalePresence(cutoff);
    } catch (err) {
      this.#deps.log?.error({ err }, 'agent channel: maintenance sweep failed; retrying at the next one');
    }
  }

  #onJobsQueued(event: EventEnvelope): void {
    const ids = (event.data as { agent_ids?: unknown }).agent_ids;
    if (!Array.isArray(ids)) return;
    for (const id of ids) {
      const conn = typeof id === 'string' ? this.#byAgent.get(id) : undefined;
      if (conn) this.#delivery.request(conn);
    }
  }

  async #onAgentChanged(event: EventEnvelope): Promise<void> {
    const id = (event.data as { agent_id?: unknown }).agent_id;
    if (typeof id !== 'string') return;
    const conn = this.#byAgent.get(id);
    if (!conn) return;
    // Until the state is read again, the connection's messages wait for it (#ready).
    conn.recheck ??= this.#recheck(conn);
    await conn.recheck;
  }

  /** Reads the agent's state again; a revoked or quarantined agent's channel is told and closed. */
  async #recheck(conn: Connection): Promise<boolean> {
    try {
      const agent = await this.store.agent(conn.agentId);
      if (!agent) {
        this.#close(conn, CLOSE_CODES.unauthorized, 'unknown agent');
        return false;
      }
      if (agent.state !== 'active') {
        this.#stopped(conn, agent, 'live');
        return false;
      }
      return true;
    } finally {
      conn.recheck = undefined;
    }
  }
}
