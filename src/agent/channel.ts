/**
 * The agent's end of the channel: one WebSocket to the server, kept open for as long as the agent runs.
 *
 * Per connection: the server's challenge is checked against a pinned job-signing key (a server without the key
 * is dropped), the agent answers with its signature and generation, stores the generation the welcome hands out
 * durably before it says `generation_saved`, then sends a heartbeat every interval and drops a connection that
 * has been silent for two intervals (a half-open peer). Between connections it waits with full-jitter back-off;
 * a 503 or close 4429 adds the server's own delay. `revoked` / `quarantined` or close 4403 end the loop for good:
 * the agent stops, it does not reconnect.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  AGENT_CHANNEL_PATH,
  AGENT_MAX_MESSAGE_BYTES,
  CLOSE_CODES,
  channelAgentBytes,
  channelServerBytes,
  publicKeyFromRaw,
  signBytes,
  verifyBytes,
} from '../api/agent-protocol.js';
import { type BackoffOptions, fullJitter, sleep, waitAfterRefusal } from './backoff.js';
import type { AgentLog } from './log.js';
import type { PinnedKey } from './state.js';
import { AGENT_VERSION } from './version.js';

/** A message as it arrived: a JSON object with its name in `t`. */
export type ChannelMessage = { t: string } & Record<string, unknown>;

export interface Welcome {
  agent_id: string;
  generation: number;
  heartbeat_s: number;
  server_time: string;
  renew_certificate?: boolean;
  inventory_hash: string | null;
}

/** Why the channel loop ended: the agent was told to stop, or the server removed it (revoked, quarantined). */
export type ChannelEnd = { kind: 'stopped' } | { kind: 'removed'; state: string; reason: string };

export interface ChannelHooks {
  /** The channel is up: the welcome was stored and `generation_saved` sent. */
  onOpen(welcome: Welcome): void;
  /** Any other message from the server (job, result_ack, inventory_ack, certificate, error). */
  onMessage(message: ChannelMessage): void;
  /** The connection is gone (the loop reconnects unless it ended). */
  onClose(): void;
}

export interface ChannelOptions {
  /** The server's http(s) base URL; the channel is its ws(s) counterpart. */
  server: string;
  agentId: string;
  key: KeyObject;
  serverKeys: readonly PinnedKey[];
  /** The stored generation, read at every hello. */
  generation(): number;
  /** Stores the generation durably (fsync) before `generation_saved` is sent. */
  saveGeneration(generation: number): void;
  backoff: BackoffOptions;
  log: AgentLog;
  hooks: ChannelHooks;
  signal: AbortSignal;
  /** Time for the whole handshake, from connect to welcome (default 15 s). */
  handshakeMs?: number;
  random?: () => number;
}

interface Outcome {
  /** Milliseconds the channel was up after the welcome; undefined when it never got there. */
  upMs?: number;
  /** The server asked for this delay (Retry-After of a 503/429). */
  retryAfterMs?: number;
  /** The server shed load (503, 429, close 4429): jitter on top of any delay. */
  busy?: boolean;
  removed?: { state: string; reason: string };
}

/** The channel URL of a server: http → ws, https → wss, with the agent id and the client nonce. */
export function channelUrl(server: string, agentId: string, clientNonce: string): URL {
  const url = new URL(AGENT_CHANNEL_PATH.replace(/^\//, ''), server.endsWith('/') ? server : `${server}/`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('agent', agentId);
  url.searchParams.set('cn', clientNonce);
  return url;
}

/** Retry-After as milliseconds: seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Math.min(Number(text.trim()), 3600) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), 3_600_000);
}

export class AgentChannel {
  private ws: WebSocket | undefined;
  private up = false;
  private readonly keys = new Map<string, KeyObject>();

  constructor(private readonly options: ChannelOptions) {
    for (const k of options.serverKeys) {
      try {
        this.keys.set(k.key_id, publicKeyFromRaw(k.public_key));
      } catch {
        options.log.warn('pinned server key unreadable; ignored', { key_id: k.key_id });
      }
    }
  }

  /** True while a welcomed connection is open. */
  get connected(): boolean {
    return this.up && this.ws?.readyState === WebSocket.OPEN;
  }

  /** Sends one message on a welcomed connection; false (nothing sent) while disconnected. */
  send(message: { t: string } & Record<string, unknown>): boolean {
    if (!this.connected) return false;
    this.ws!.send(JSON.stringify(message));
    return true;
  }

  /** Connects and reconnects until the signal aborts or the server removes the agent. */
  async run(): Promise<ChannelEnd> {
    const { backoff, log, signal } = this.options;
    let attempt = 0;
    while (!signal.aborted) {
      const outcome = await this.connectOnce();
      if (outcome.removed) return { kind: 'removed', ...outcome.removed };
      if (signal.aborted) break;
      if (outcome.upMs !== undefined && outcome.upMs > backoff.resetAfterMs) attempt = 0;
      const wait =
        outcome.retryAfterMs !== undefined || outcome.busy
          ? waitAfterRefusal(outcome.retryAfterMs ?? 0, attempt, backoff, this.options.random)
          : fullJitter(attempt, backoff, this.options.random);
      attempt++;
      log.info('reconnecting', { in_ms: wait, attempt });
      await sleep(wait, signal);
    }
    return { kind: 'stopped' };
  }

  private connectOnce(): Promise<Outcome> {
    const { log, signal, hooks } = this.options;
    const clientNonce = randomBytes(16).toString('base64url');
    const url = channelUrl(this.options.server, this.options.agentId, clientNonce);
    const handshakeMs = this.options.handshakeMs ?? 15_000;
    return new Promise<Outcome>((resolve) => {
      const outcome: Outcome = {};
      let upAt: number | undefined;
      let heartbeatS = 0;
      let lastHeard = Date.now();
      let seq = 0;
      let heartbeat: NodeJS.Timeout | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      let finished = false;
      const ws = new WebSocket(url, {
        maxPayload: AGENT_MAX_MESSAGE_BYTES,
        handshakeTimeout: handshakeMs,
        perMessageDeflate: false,
      });
      this.ws = ws;
      const handshake = setTimeout(() => {
        log.warn('no welcome from the server in time; dropping the connection', { after_ms: handshakeMs });
        ws.terminate();
      }, handshakeMs);
      const onAbort = () => {
        if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'agent stopping');
        setTimeout(() => ws.terminate(), 2000).unref();
      };
      signal.addEventListener('abort', onAbort, { once: true });

      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(handshake);
        clearInterval(heartbeat);
        clearInterval(watchdog);
        signal.removeEventListener('abort', onAbort);
        const wasUp = this.up;
        this.up = false;
        if (this.ws === ws) this.ws = undefined;
        if (upAt !== undefined) outcome.upMs = Date.now() - upAt;
        if (wasUp) hooks.onClose();
        resolve(outcome);
      };

      ws.on('unexpected-response', (req, res) => {
        const status = res.statusCode ?? 0;
        outcome.busy = status === 503 || status === 429;
        outcome.retryAfterMs = retryAfterMs(res.headers['retry-after']);
        log.warn('the server refused the channel', {
          status,
          retry_after_ms: outcome.retryAfterMs ?? null,
        });
        res.resume();
        req.destroy();
        finish();
      });
      ws.on('error', (err) => {
        log.warn('channel error', { error: (err as NodeJS.ErrnoException).code ?? err.message });
      });
      ws.on('close', (code, reasonBuffer) => {
        const reason = reasonBuffer.toString('utf8').slice(0, 200);
        if (code === CLOSE_CODES.stop && !outcome.removed)
          outcome.removed = { state: 'removed', reason: reason || 'the server closed the channel with 4403' };
        if (code === CLOSE_CODES.busy) outcome.busy = true;
        log.info('disconnected', { code, reason });
        finish();
      });
      ws.on('message', (data, isBinary) => {
        lastHeard = Date.now();
        if (isBinary) return;
        let message: ChannelMessage;
        try {
          message = JSON.parse(data.toString()) as ChannelMessage;
        } catch {
          log.warn('unreadable message from the server; ignored');
          return;
        }
        if (!message || typeof message !== 'object' || typeof message.t !== 'string') {
          log.warn('message without a type from the server; ignored');
          return;
        }
        switch (message.t) {
          case 'challenge':
            return this.answerChallenge(ws, message, clientNonce);
          case 'welcome': {
            const welcome = message as unknown as Welcome;
            if (welcome.agent_id !== this.options.agentId || !Number.isInteger(welcome.generation)) {
              log.error('welcome for another agent or without a generation; dropping the connection');
              ws.close(CLOSE_CODES.unauthorized, 'bad welcome');
              return;
            }
            this.options.saveGeneration(welcome.generation);
            ws.send(JSON.stringify({ t: 'generation_saved', generation: welcome.generation }));
            clearTimeout(handshake);
            upAt = Date.now();
            this.up = true;
            heartbeatS =
              Number.isInteger(welcome.heartbeat_s) && welcome.heartbeat_s > 0 ? welcome.heartbeat_s : 60;
            heartbeat = setInterval(() => {
              if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ t: 'heartbeat', seq: seq++ }));
            }, heartbeatS * 1000);
            watchdog = setInterval(
              () => {
                const silentMs = Date.now() - lastHeard;
                if (silentMs > 2 * heartbeatS * 1000) {
                  log.warn('no message from the server in two heartbeat intervals; reconnecting', {
                    silent_ms: silentMs,
                  });
                  ws.terminate();
                }
              },
              Math.min(1000, heartbeatS * 250),
            );
            log.info('connected', { generation: welcome.generation, heartbeat_s: heartbeatS });
            hooks.onOpen(welcome);
            return;
          }
          case 'heartbeat_ack':
            return;
          case 'revoked':
          case 'quarantined': {
            const reason = typeof message.reason === 'string' ? message.reason.slice(0, 500) : '';
            outcome.removed = { state: message.t, reason };
            ws.close(1000, 'removed');
            return;
          }
          default:
            if (this.up) hooks.onMessage(message);
            else log.warn('message before the welcome; ignored', { t: message.t });
        }
      });
    });
  }

  private answerChallenge(ws: WebSocket, message: ChannelMessage, clientNonce: string): void {
    const { log } = this.options;
    const keyId = typeof message.key_id === 'string' ? message.key_id : '';
    const nonce = typeof message.nonce === 'string' ? message.nonce : '';
    const key = this.keys.get(keyId);
    if (!key || !nonce) {
      log.error(
        'the server signed its challenge with a key this agent did not pin; dropping the connection',
        {
          key_id: keyId.slice(0, 100),
        },
      );
      ws.close(CLOSE_CODES.unauthorized, 'unknown server key');
      return;
    }
    if (!verifyBytes(key, channelServerBytes(clientNonce, nonce), String(message.server_signature ?? ''))) {
      log.error("the server's challenge signature does not verify; dropping the connection", {
        key_id: keyId,
      });
      ws.close(CLOSE_CODES.unauthorized, 'bad server signature');
      return;
    }
    const generation = this.options.generation();
    ws.send(
      JSON.stringify({
        t: 'hello',
        agent_id: this.options.agentId,
        generation,
        signature: signBytes(this.options.key, channelAgentBytes(nonce, this.options.agentId, generation)),
        version: AGENT_VERSION,
      }),
    );
  }
}
