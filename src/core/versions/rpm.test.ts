import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareRpmVersions, parseRpmVersion, rpmScheme, rpmvercmp } from './rpm.js';
import {
  itObeysOrderLaws,
  RPM_VECTORS,
  rpmEqualPair,
  rpmSegmentPair,
  rpmTriple,
  runs,
} from './versions.testkit.js';

function compare(a: string, b: string): number {
  const pa = parseRpmVersion(a);
  const pb = parseRpmVersion(b);
  if (!pa.ok) throw new Error(pa.error);
  if (!pb.ok) throw new Error(pb.error);
  return Math.sign(compareRpmVersions(pa.value, pb.value));
}

function errorOf(text: string): string {
  const parsed = parseRpmVersion(text);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
  return parsed.error;
}

describe('rpm known answers', () => {
  it.each(RPM_VECTORS)('%s vs %s is %i', (a, b, expected) => {
    expect(compare(a, b)).toBe(expected);
    expect(compare(b, a)).toBe(0 - expected);
  });

  it('reads epoch, version and release as rpm does', () => {
    expect(parseRpmVersion('1:2.4.37-43.el8')).toEqual({
      ok: true,
      value: { epoch: 1, version: '2.4.37', release: '43.el8' },
    });
    expect(parseRpmVersion('1.0-2-3')).toEqual({
      ok: true,
      value: { epoch: 0, version: '1.0-2', release: '3' },
    });
    expect(parseRpmVersion('a:1.0')).toEqual({
      ok: true,
      value: { epoch: 0, version: 'a:1.0', release: undefined },
    });
    expect(parseRpmVersion('1:2:3')).toEqual({
      ok: true,
      value: { epoch: 1, version: '2:3', release: undefined },
    });
  });

  it('compares raw segments like rpmvercmp, including characters rpm ignores', () => {
    expect(rpmvercmp('1.1.α', '1.1.β')).toBe(0);
    expect(rpmvercmp('1.1.αα', '1.1.α')).toBe(0);
    expect(rpmvercmp('', '~')).toBe(1);
    expect(rpmvercmp('', '^')).toBe(-1);
    expect(rpmvercmp('', '')).toBe(0);
  });
});

describe('rpm parse errors', () => {
  it.each([
    ['1.0-', 'the release after the last "-" is empty'],
    [':1.0', 'the epoch before ":" is empty'],
    ['1:-1', 'the version is empty'],
    ['-1', 'the version is empty'],
    ['4294967296:1', "larger than rpm's limit of 4294967295"],
    ['(none):1.0-1.el8', '"(none)" is how rpm prints a missing epoch'],
    ['1.0\u00a0', 'whitespace at position 4'],
    ['1.0é', 'character U+00E9 at position 4 is not printable ASCII'],
    ['', 'it is empty'],
  ])('%j is rejected: %s', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it('shows the text and the expected shape', () => {
    expect(errorOf('1.0-')).toBe(
      '"1.0-" is not an RPM version: the release after the last "-" is empty; ' +
        'expected [epoch:]version[-release], such as 1:2.4.37-43.el8',
    );
  });
});

describe('rpm order', () => {
  itObeysOrderLaws(rpmScheme, { related: rpmTriple, equalPairs: rpmEqualPair });

  it('rpmvercmp on raw text is antisymmetric and reflexive', () => {
    fc.assert(
      fc.property(rpmSegmentPair, ([a, b]) => {
        expect(rpmvercmp(a, a)).toBe(0);
        expect(rpmvercmp(a, b)).toBe(0 - rpmvercmp(b, a));
      }),
      runs(3000),
    );
  });
});
