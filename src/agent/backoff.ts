/**
 * Reconnect back-off with full jitter: the n-th retry waits a uniformly random time in [0, min(cap, base·2^n)),
 * so a fleet that lost its server at the same moment spreads its reconnects over the whole window instead of
 * arriving together. The attempt count starts again after a connection that lasted long enough.
 */

export interface BackoffOptions {
  /** Base of the exponential window (default 1 s). */
  baseMs: number;
  /** Largest window (default 60 s). */
  capMs: number;
  /** A connection that lasted longer than this resets the attempt count (default 60 s). */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 60_000, resetAfterMs: 60_000 };

/** The window of attempt `n` (0-based): min(cap, base·2^n). */
export function backoffWindow(attempt: number, options: BackoffOptions): number {
  const exp = Math.min(attempt, 52);
  return Math.min(options.capMs, options.baseMs * 2 ** exp);
}

/** The wait before retry `attempt`: uniform in [0, window). */
export function fullJitter(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffWindow(attempt, options));
}

/**
 * The wait after a refusal that named its own delay (HTTP 503 Retry-After, close 4429): at least that delay, plus
 * jitter so the refused agents do not all come back in the same second.
 */
export function waitAfterRefusal(
  retryAfterMs: number,
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  return Math.max(0, retryAfterMs) + fullJitter(attempt, options, random);
}

/** A sleep that ends early (resolving false) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
