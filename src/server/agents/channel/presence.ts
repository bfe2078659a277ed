/**
 * Presence in memory, written in batches: connects, disconnects and "seen" marks gathered for at most
 * `flushMs` and written in one transaction with one `agents.presence` event per tenant. An agent that connects and
 * drops within one batch is written as its last state only.
 */
import type { ChannelStore, GenerationWrite } from './store.js';

const ONLINE = 1;
const OFFLINE = 2;
const SEEN = 3;

interface Pending {
  tenantId: string;
  kind: typeof ONLINE | typeof OFFLINE | typeof SEEN;
}

export class PresenceBatcher {
  #pending = new Map<string, Pending>();
  #generations = new Map<string, GenerationWrite>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #writing = new Map<string, GenerationWrite>();
  #stopped = false;

  constructor(
    private readonly store: ChannelStore,
    private readonly replica: string,
    private readonly flushMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  online(tenantId: string, agentId: string): void {
    this.#put(agentId, { tenantId, kind: ONLINE });
  }

  offline(tenantId: string, agentId: string): void {
    const prior = this.#pending.get(agentId);
    // Connected and gone within one batch: nothing was written, so nothing to undo but the connect itself.
    if (prior?.kind === ONLINE) this.#pending.set(agentId, { tenantId, kind: OFFLINE });
    else this.#put(agentId, { tenantId, kind: OFFLINE });
  }

  seen(tenantId: string, agentId: string): void {
    if (this.#pending.has(agentId)) return;
    this.#put(agentId, { tenantId, kind: SEEN });
  }

  /** The generation offered in welcome, written with the next batch. */
  offered(tenantId: string, agentId: string, pending: number): void {
    const prior = this.#generations.get(agentId);
    this.#generations.set(agentId, { ...prior, tenantId, agentId, pending });
    this.#schedule();
  }

  /** The agent stored its generation: it becomes the agent's generation with the next batch. */
  saved(tenantId: string, agentId: string, generation: number): void {
    const prior = this.#generations.get(agentId);
    this.#generations.set(agentId, {
      ...prior,
      tenantId,
      agentId,
      generation,
      ...(prior?.pending === generation ? { pending: undefined } : {}),
    });
    this.#schedule();
  }

  /** A generation change not written yet (or being written), to read over the stored row. */
  unwritten(agentId: string): GenerationWrite | undefined {
    return this.#generations.get(agentId) ?? this.#writing.get(agentId);
  }

  get pending(): number {
    return this.#pending.size + this.#generations.size;
  }

  #put(agentId: string, p: Pending): void {
    this.#pending.set(agentId, p);
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#timer && !this.#stopped) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.flushMs);
      this.#timer.unref();
    }
  }

  /** Writes what is pending now; a flush in progress finishes first. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (!this.#pending.size && !this.#generations.size) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const generations = this.#generations;
    this.#generations = new Map();
    this.#writing = generations;
    const online: { tenantId: string; agentId: string }[] = [];
    const offline: { tenantId: string; agentId: string }[] = [];
    const seen: string[] = [];
    for (const [agentId, p] of batch) {
      if (p.kind === ONLINE) online.push({ tenantId: p.tenantId, agentId });
      else if (p.kind === OFFLINE) offline.push({ tenantId: p.tenantId, agentId });
      else seen.push(agentId);
    }
    this.#flushing = this.store
      .writePresence({
        online,
        offline,
        seen,
        generations: [...generations.values()],
        replica: this.replica,
        at: new Date().toISOString(),
      })
      .catch((err) => {
        // Put the batch back under anything newer, and try again at the next flush.
        for (const [agentId, p] of batch) if (!this.#pending.has(agentId)) this.#pending.set(agentId, p);
        for (const [agentId, g] of generations)
          if (!this.#generations.has(agentId)) this.#generations.set(agentId, g);
        this.onError(err);
      })
      .finally(() => {
        this.#flushing = undefined;
        this.#writing = new Map();
      });
    await this.#flushing;
    if (this.#pending.size || this.#generations.size) this.#schedule();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
