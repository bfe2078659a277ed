/** ARGS parsing (request.ts parseArgs): ModSecurity's splitting, one linear pass, and the limits.max_args bound. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseArgs, TooManyArgumentsError } from './request.js';
import { urlDecode } from './transforms.js';

/** The former split-based parser: the reference for the single-pass one. */
function reference(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const piece of s.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    out.push([urlDecode(eq < 0 ? piece : piece.slice(0, eq)), urlDecode(eq < 0 ? '' : piece.slice(eq + 1))]);
  }
  return out;
}

describe('parseArgs', () => {
  it('splits exactly as before (property)', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', 'b', '=', '&', '%', '2', '0', '+', ';'),
      maxLength: 40,
    });
    fc.assert(
      fc.property(text, (s) => {
        expect(parseArgs(s)).toEqual(reference(s));
      }),
      { numRuns: 200 },
    );
  });

  it('throws past the bound, and not at it', () => {
    expect(parseArgs('a=1&&b=2&c', 3)).toHaveLength(3);
    expect(() => parseArgs('a=1&&b=2&c&d', 3)).toThrow(TooManyArgumentsError);
  });

  it('is linear: 1 MiB of arguments without "=" parses in well under a second', () => {
    const s = 'a&'.repeat(512 * 1024);
    const t0 = performance.now();
    expect(parseArgs(s)).toHaveLength(512 * 1024);
    expect(performance.now() - t0).toBeLessThan(1000);
    const t1 = performance.now();
    expect(() => parseArgs(s, 1000)).toThrow(TooManyArgumentsError);
    expect(performance.now() - t1).toBeLessThan(50);
  });
});
