/**
 * The gateway's shared resource bounds (limits.* in the configuration; docs/shield.md, "Limits"): connection caps
 * checked once per accepted connection, the global budget of request-body bytes held in memory, and the minimum
 * body data rate. All are counters and at most one timer per connection, nothing per request on the hot path.
 */
import type { Limits } from './config.js';

export type ConnectionRefusal = 'max_connections' | 'per_address';

/** Open client connections, in total and per source address. */
export class ConnectionCaps {
  private total = 0;
  private readonly perAddress = new Map<string, number>();

  /** Count a new connection from `addr`, or say which cap it would cross (then nothing is counted). */
  admit(addr: string, limits: Limits): ConnectionRefusal | undefined {
    if (this.total >= limits.max_connections) return 'max_connections';
    const n = this.perAddress.get(addr) ?? 0;
    if (limits.max_connections_per_address > 0 && n >= limits.max_connections_per_address)
      return 'per_address';
    this.total++;
    this.perAddress.set(addr, n + 1);
    return undefined;
  }

  /** An admitted connection from `addr` closed. */
  release(addr: string): void {
    this.total--;
    const n = this.perAddress.get(addr) ?? 0;
    if (n <= 1) this.perAddress.delete(addr);
    else this.perAddress.set(addr, n - 1);
  }

  get open(): number {
    return this.total;
  }
}

/**
 * Request-body bytes the gateway holds in memory (bodies buffered for phase 2, and bodies waiting for an upstream
 * connection), across all connections. A request that would overspend is refused (503) instead of memory growing
 * with the number of clients.
 */
export class BodyBudget {
  used = 0;
  peak = 0;

  /** Reserve `n` bytes; false (nothing reserved) when that would exceed `max`. */
  take(n: number, max: number): boolean {
    if (this.used + n > max) return false;
    this.used += n;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }
}

/**
 * Minimum data rate of one request body: checked once per window by one timer; a window in which the gateway
 * itself stopped reading (the socket paused for upstream backpressure or while waiting for a connection) never
 * counts against the client.
 */
export class BodyRateGuard {
  private received = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly minBytes: number,
    /** True when the gateway paused reading during (or at the end of) the window. */
    private readonly gatewayPaused: () => boolean,
    private readonly onSlow: () => void,
  ) {
    this.timer = setTimeout(() => this.tick(), windowMs);
  }

  count(n: number): void {
    this.received += n;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick() {
    const enough = this.received >= this.minBytes || this.gatewayPaused();
    this.received = 0;
    if (!enough) {
      this.timer = undefined;
      this.onSlow();
      return;
    }
    this.timer = setTimeout(() => this.tick(), this.windowMs);
  }
}
