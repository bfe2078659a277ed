/**
 * Job delivery: connections asking for their due jobs are gathered and served in rounds of up to 500 agents, one
 * read and one update per round, so a fan-out to every agent costs a few hundred statements, not one per agent.
 * A job is sent as its stored signed envelope, spliced into the frame without re-serialising it.
 */
import type { Connection } from './connection.js';
import type { ChannelMetrics } from './metrics.js';
import type { ChannelStore, DueJob } from './store.js';

const ROUND = 500;

export type SendText = (conn: Connection, text: string) => boolean;

export function jobFrame(job: Pick<DueJob, 'envelope' | 'signature'>): string {
  return `{"t":"job","job":{"envelope":${job.envelope},"signature":${JSON.stringify(job.signature)}}}`;
}

export class Delivery {
  #pending = new Set<Connection>();
  #running: Promise<void> | undefined;

  constructor(
    private readonly store: ChannelStore,
    private readonly metrics: ChannelMetrics,
    private readonly onError: (err: unknown) => void,
    private readonly send: SendText,
  ) {}

  /** Asks for a delivery round for this connection soon. */
  request(conn: Connection): void {
    this.#pending.add(conn);
    this.#start();
  }

  #start(): void {
    if (this.#running) return;
    this.#running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#run())
      .finally(() => {
        this.#running = undefined;
        if (this.#pending.size) this.#start();
      });
  }

  /** Resolves when no round is running. */
  async idle(): Promise<void> {
    for (let i = 0; i < 100 && this.#running; i++) await this.#running.catch(() => {});
  }

  async #run(): Promise<void> {
    while (this.#pending.size) {
      const round: Connection[] = [];
      for (const conn of this.#pending) {
        this.#pending.delete(conn);
        if (conn.open) round.push(conn);
        if (round.length >= ROUND) break;
      }
      if (!round.length) continue;
      try {
        await this.#deliver(round);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  async #deliver(round: readonly Connection[]): Promise<void> {
    const byAgent = new Map<string, Connection>();
    for (const conn of round) byAgent.set(conn.agentId, conn);
    const now = new Date().toISOString();
    const jobs = await this.store.dueJobs([...byAgent.keys()], now);
    const delivered: string[] = [];
    let sent = 0;
    for (const job of jobs) {
      const conn = byAgent.get(job.agent_id);
      // The job's tenant must be the connection's: an agent id names one agent of one tenant.
      if (!conn || conn.tenantId !== job.tenant_id) continue;
      if (!this.send(conn, jobFrame(job))) continue;
      sent++;
      if (job.state === 'queued') delivered.push(job.id);
    }
    if (sent) this.metrics.jobsDelivered.inc(sent);
    if (delivered.length) await this.store.markDelivered(delivered, now);
  }
}
