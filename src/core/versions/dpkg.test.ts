import { describe, expect, it } from 'vitest';
import { compareDpkgVersions, dpkgScheme, parseDpkgVersion } from './dpkg.js';
import { DPKG_VECTORS, dpkgEqualPair, dpkgTriple, itObeysOrderLaws } from './versions.testkit.js';

function compare(a: string, b: string): number {
  const pa = parseDpkgVersion(a);
  const pb = parseDpkgVersion(b);
  if (!pa.ok) throw new Error(pa.error);
  if (!pb.ok) throw new Error(pb.error);
  return Math.sign(compareDpkgVersions(pa.value, pb.value));
}

function errorOf(text: string): string {
  const parsed = parseDpkgVersion(text);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
  return parsed.error;
}

describe('dpkg known answers', () => {
  it.each(DPKG_VECTORS)('%s vs %s is %i', (a, b, expected) => {
    expect(compare(a, b)).toBe(expected);
    expect(compare(b, a)).toBe(0 - expected);
  });

  it('splits epoch at the first colon and revision at the last hyphen', () => {
    expect(parseDpkgVersion('1:2:3-4-5')).toEqual({
      ok: true,
      value: { epoch: 1, upstream: '2:3-4', revision: '5' },
    });
    expect(parseDpkgVersion(' \t1.0-1 ')).toEqual({
      ok: true,
      value: { epoch: 0, upstream: '1.0', revision: '1' },
    });
  });
});

describe('dpkg parse errors', () => {
  it.each([
    ['1.0-', 'the revision after the last "-" is empty'],
    [':1.0', 'the epoch before ":" is empty'],
    ['1:', 'nothing follows the epoch'],
    ['-1', 'the upstream version is empty'],
    ['1:-1', 'the upstream version is empty'],
    ['a:1.0', 'the epoch "a" is not a whole number'],
    ['+1:1.0', 'the epoch "+1" is not a whole number'],
    ['2147483648:1', "larger than dpkg's limit of 2147483647"],
    ['999999999999999999999999:0-1', "larger than dpkg's limit"],
    ['1.0 1', 'whitespace at position 4'],
    ['1.0é', 'character U+00E9 at position 4 is not printable ASCII'],
    ['1.0\u0001', 'character U+0001 at position 4'],
    ['<unknown>', 'dpkg uses it to mean "no version"'],
    ['', 'it is empty'],
  ])('%j is rejected: %s', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it('shows the text and the expected shape', () => {
    expect(errorOf('1.0-')).toBe(
      '"1.0-" is not a Debian version: the revision after the last "-" is empty; ' +
        'expected [epoch:]upstream[-revision], such as 1:2.30-1+deb11u2',
    );
  });

  it('accepts what dpkg only warns about', () => {
    for (const text of ['abc', 'N/A', '1.0_1', '0:0-0:0', '1.0-a!b', '2147483647:1']) {
      expect(parseDpkgVersion(text).ok, text).toBe(true);
    }
  });
});

describe('dpkg order', () => {
  itObeysOrderLaws(dpkgScheme, { related: dpkgTriple, equalPairs: dpkgEqualPair });
});
