/**
 * One agent WebSocket: the little state the channel keeps per socket (100,000 of them per process), with no
 * timers and no closures of its own. The channel's sweep reads the deadlines; the socket's listeners are shared
 * functions that find their connection through the socket.
 */
import type { WebSocket } from 'ws';

/** Where a connection is in its life. */
export const PHASE = {
  /** challenge sent, waiting for hello (10 s). */
  challenged: 0,
  /** hello received, checks running. */
  checking: 1,
  /** another live connection of this agent is being probed with a ping. */
  probing: 2,
  /** welcome sent: heartbeats, jobs, results. */
  ready: 3,
  /** closing or closed: nothing more is read. */
  closed: 4,
} as const;
export type Phase = (typeof PHASE)[keyof typeof PHASE];

export class Connection {
  phase: Phase = PHASE.challenged;
  /** The challenge nonce (until hello). */
  nonce: string;
  tenantId = '';
  /** The agent's raw public key (base64url), once authenticated. */
  publicKey = '';
  /** The generation offered in welcome and not yet confirmed, or 0. */
  offered = 0;
  readonly openedAt: number;
  /** Last inbound message (ms). */
  lastInbound: number;
  /** Last heartbeat (ms), for the lag metric. */
  lastHeartbeat = 0;
  /** Last time presence recorded this agent as seen (ms). */
  lastSeenMark = 0;
  /** This connection is being probed for `prober` (a newer connection with the same key); the deadline (ms). */
  prober: Connection | undefined;
  probeDeadline = 0;
  /** Delivery: a round is running for this connection / another round was asked meanwhile. */
  delivering = false;
  deliverAgain = false;
  /**
   * The inbound messages after welcome being handled, in arrival order: each waits for the one before it, so a
   * job's `received` status is written before its result and never overwrites it. Undefined when idle.
   */
  inbox: Promise<void> | undefined;
  /** Set while the agent's state is read again after `agent.changed`; resolves false when the channel closed. */
  recheck: Promise<boolean> | undefined;

  constructor(
    readonly ws: WebSocket,
    /** The agent id the URL named; hello must name the same. */
    readonly agentId: string,
    nonce: string,
    now: number,
  ) {
    this.nonce = nonce;
    this.openedAt = now;
    this.lastInbound = now;
  }

  get open(): boolean {
    return this.phase !== PHASE.closed && this.ws.readyState === 1;
  }
}
