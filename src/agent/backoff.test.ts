import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffWindow, DEFAULT_BACKOFF, fullJitter, waitAfterRefusal } from './backoff.js';
import { retryAfterMs } from './channel.js';

describe('full-jitter back-off', () => {
  it('waits a whole number of ms in [0, min(cap, base·2^attempt))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, baseMs, capMs, r) => {
          const options = { baseMs, capMs, resetAfterMs: 60_000 };
          const wait = fullJitter(attempt, options, () => r);
          expect(Number.isInteger(wait)).toBe(true);
          expect(wait).toBeGreaterThanOrEqual(0);
          expect(wait).toBeLessThan(Math.max(1, Math.min(capMs, baseMs * 2 ** Math.min(attempt, 52))));
        },
      ),
    );
  });

  it('grows from the base to the cap (1 s, 2 s, 4 s … 60 s by default)', () => {
    expect([0, 1, 2, 5, 6, 7, 100].map((n) => backoffWindow(n, DEFAULT_BACKOFF))).toEqual([
      1000, 2000, 4000, 32_000, 60_000, 60_000, 60_000,
    ]);
  });

  it('spreads a fleet: 10,000 agents at attempt 6 fill the 60 s window evenly', () => {
    const seconds = new Array(60).fill(0);
    for (let i = 0; i < 10_000; i++) seconds[Math.floor(fullJitter(6, DEFAULT_BACKOFF) / 1000)]++;
    expect(Math.max(...seconds)).toBeLessThan(260);
    expect(Math.min(...seconds)).toBeGreaterThan(90);
  });

  it("after a refusal waits at least the server's Retry-After, plus jitter", () => {
    expect(waitAfterRefusal(5000, 0, DEFAULT_BACKOFF, () => 0)).toBe(5000);
    expect(waitAfterRefusal(5000, 0, DEFAULT_BACKOFF, () => 0.5)).toBe(5500);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded to an hour', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('999999')).toBe(3_600_000);
    expect(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(
      10_000,
    );
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
