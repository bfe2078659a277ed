/**
 * The gateway's shared resource bounds (limits.* in the configuration; docs/shield.md, "Limits"): connection caps
 * checked once per accepted connection, the global budget of request-body bytes held in memory, and the minimum
 * body data rate. All are counters and at most one timer per connection, nothing per request on the hot path.
 */
import { readFileSync } from 'node:fs';
import type { Limits } from './config.js';

export type ConnectionRefusal = 'max_connections' | 'per_address' | 'descriptors';

/**
 * The soft RLIMIT_NOFILE of this process (Node has no API for it): the "Max open files" line of /proc/self/limits
 * on Linux. undefined when it cannot be read (another OS, no /proc) or is unlimited — then nothing is capped.
 */
export function softNofileLimit(
  read: () => string = () => readFileSync('/proc/self/limits', 'utf8'),
): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  const n = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Client connections `nofile` descriptors can carry: two each (the client socket and its upstream socket), after a
 * reserve for listeners, log files, stdio, DNS and reloads (64, or a quarter of a very small limit). Past this,
 * accept() fails with EMFILE and clients get silence instead of the documented 503.
 */
export function connectionsForDescriptors(nofile: number): number {
  const reserve = Math.min(64, Math.floor(nofile / 4));
  return Math.max(1, Math.floor((nofile - reserve) / 2));
}

/**
 * The warning for stderr when the descriptor limit caps the configured connection limits well below what was
 * configured (undefined otherwise): names the limit and how to raise it. A cap within 10% of max_connections (e.g.
 * 9,968 of 10,000 under a common 20,000-file limit) still applies and is counted, but is not worth a warning at
 * every start.
 */
export function descriptorCapWarning(nofile: number, limits: Limits): string | undefined {
  const cap = connectionsForDescriptors(nofile);
  const per = limits.max_connections_per_address;
  if (cap >= limits.max_connections * 0.9) return undefined;
  return (
    `open-file limit (RLIMIT_NOFILE soft) is ${nofile}: connections capped at ${cap} in total and per address ` +
    `(configured max_connections ${limits.max_connections}, max_connections_per_address ${per || 'unlimited'}; two descriptors per connection). ` +
    `Raise it with LimitNOFILE=${Math.max(2 * limits.max_connections + 64, 65536)} in the systemd unit, or ulimit -n before starting`
  );
}

/** Open client connections, in total and per source address. */
export class ConnectionCaps {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** Connections the process's descriptors allow (connectionsForDescriptors); caps both limits below. */
  descriptorCap = Number.POSITIVE_INFINITY;

  /** Count a new connection from `addr`, or say which cap it would cross (then nothing is counted). */
  admit(addr: string, limits: Limits): ConnectionRefusal | undefined {
    if (this.total >= limits.max_connections) return 'max_connections';
    if (this.total >= this.descriptorCap) return 'descriptors';
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
