/**
 * The channel's connection-rate limit: a token bucket refilled at `rate` per second up to `burst`, taken before
 * the WebSocket upgrade so a restart's reconnect wave is spread out instead of answered all at once.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, burst = rate * 2, now = Date.now()) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new Error('rate must be a positive number');
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new Error('burst must be 1 or more');
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
      this.#at = now;
    }
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole seconds until a token is there again (at least 1), for Retry-After. */
  retryAfterSeconds(now = Date.now()): number {
    this.#refill(now);
    const missing = Math.max(0, 1 - this.#tokens);
    return Math.max(1, Math.ceil(missing / this.#rate));
  }
}
