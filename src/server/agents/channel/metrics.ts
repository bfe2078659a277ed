/** Prometheus metrics of the agent channel, registered on the server's registry (src/server/metrics.ts). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const HANDSHAKE_FAILURES = [
  'rate_limited',
  'bad_request',
  'no_hello',
  'malformed',
  'unknown_agent',
  'bad_signature',
  'revoked',
  'quarantined',
  'certificate_revoked',
  'bad_generation',
  'clone',
  'error',
] as const;
export type HandshakeFailure = (typeof HANDSHAKE_FAILURES)[number];

export interface ChannelMetrics {
  connected: Gauge;
  connects: Counter<'outcome'>;
  handshakeFailures: Counter<'reason'>;
  heartbeatLag: Histogram;
  jobsDelivered: Counter;
  jobsFinished: Counter<'state'>;
}

/** Counts and gauges of one channel; `connected` reads the live connection count when scraped. */
export function channelMetrics(registry: Registry, connected: () => number): ChannelMetrics {
  return {
    connected: new Gauge({
      name: 'bulwark_agents_connected',
      help: 'Agent channels this server process holds after a completed handshake',
      registers: [registry],
      collect() {
        this.set(connected());
      },
    }),
    connects: new Counter({
      name: 'bulwark_agent_connects_total',
      help: 'Agent channel connection attempts by outcome (accepted: handshake completed; rate_limited: 503 before the upgrade; failed: handshake refused)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    handshakeFailures: new Counter({
      name: 'bulwark_agent_handshake_failures_total',
      help: 'Agent channel handshakes refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    heartbeatLag: new Histogram({
      name: 'bulwark_agent_heartbeat_lag_seconds',
      help: 'How much later than heartbeat_s an agent heartbeat arrived after the message before it',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    jobsDelivered: new Counter({
      name: 'bulwark_agent_jobs_delivered_total',
      help: 'Signed jobs sent to agents over the channel (a resend counts again)',
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'bulwark_agent_jobs_finished_total',
      help: 'Agent jobs that reached a final state, by state (succeeded, failed, refused, expired)',
      labelNames: ['state'],
      registers: [registry],
    }),
  };
}
