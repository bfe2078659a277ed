/**
 * PostgreSQL wake-ups: one dedicated connection per process LISTENs on `bulwark_events`. Publishing transactions
 * NOTIFY with their schema as payload (outbox.ts), so a replica wakes only for its own schema. The notification
 * is a hint: when the connection drops it is reconnected with a back-off (100 ms doubling to 5 s) and the
 * process catches up from the events table right after, and the bus polls anyway.
 */
import type pg from 'pg';
import { EVENTS_CHANNEL } from './outbox.js';

export interface PgWakeListenerOptions {
  connect: () => pg.Client;
  schema: string;
  onWake: () => void;
  log?: { warn(obj: object, msg: string): void };
}

const MAX_BACKOFF_MS = 5000;

export class PgWakeListener {
  readonly #options: PgWakeListenerOptions;
  #client: pg.Client | undefined;
  #pid: number | undefined;
  #stopped = false;
  #backoff = 100;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: PgWakeListenerOptions) {
    this.#options = options;
  }

  /** Connects once; a failure here is retried in the background like a dropped connection. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
  }

  pid(): number | undefined {
    return this.#pid;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    const client = this.#client;
    this.#client = undefined;
    this.#pid = undefined;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = this.#options.connect();
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (this.#client === client) {
        this.#client = undefined;
        this.#pid = undefined;
      }
      client.end().catch(() => {});
      if (this.#stopped) return;
      this.#options.log?.warn(
        { err: err ? { message: err.message } : undefined, retryInMs: this.#backoff },
        'event listener connection lost; reconnecting (events are caught up by polling meanwhile)',
      );
      this.#scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel === EVENTS_CHANNEL && msg.payload === this.#options.schema) this.#options.onWake();
    });
    try {
      await client.connect();
      const res = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      if (this.#stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.#client = client;
      this.#pid = res.rows[0]?.pid;
      this.#backoff = 100;
      // Whatever was published while no one listened.
      this.#options.onWake();
    } catch (err) {
      onLost(err as Error);
    }
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#retry) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, delay);
    this.#retry.unref();
  }
}
