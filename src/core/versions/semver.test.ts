import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareSemver, parseSemver, semverScheme } from './semver.js';
import { itObeysOrderLaws, runs, semverEqualPair, semverTriple } from './versions.testkit.js';

function compare(a: string, b: string): number {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  if (!pa.ok) throw new Error(pa.error);
  if (!pb.ok) throw new Error(pb.error);
  return Math.sign(compareSemver(pa.value, pb.value));
}

function errorOf(text: string): string {
  const parsed = parseSemver(text);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
  return parsed.error;
}

/** SemVer 2.0.0 §11's own examples, each smaller than the next. */
const SPEC_ORDER = [
  '1.0.0-alpha',
  '1.0.0-alpha.1',
  '1.0.0-alpha.beta',
  '1.0.0-beta',
  '1.0.0-beta.2',
  '1.0.0-beta.11',
  '1.0.0-rc.1',
  '1.0.0',
  '2.0.0',
  '2.1.0',
  '2.1.1',
];

describe('semver known answers', () => {
  it('orders the specification examples', () => {
    for (let i = 0; i < SPEC_ORDER.length; i++) {
      for (let j = 0; j < SPEC_ORDER.length; j++) {
        expect(compare(SPEC_ORDER[i]!, SPEC_ORDER[j]!), `${SPEC_ORDER[i]} vs ${SPEC_ORDER[j]}`).toBe(
          Math.sign(i - j),
        );
      }
    }
  });

  it.each([
    ['1.0.0+20130313144700', '1.0.0', 0],
    ['1.0.0-beta+exp.sha.5114f85', '1.0.0-beta', 0],
    ['v1.2.3', '1.2.3', 0],
    [' 1.2.3 ', '1.2.3', 0],
    ['1.0.0-alpha.-', '1.0.0-alpha.1', 1],
    ['1.0.0-9007199254740990', '1.0.0-alpha', -1],
    ['9007199254740991.0.0', '9007199254740990.9.9', 1],
  ])('%s vs %s is %i', (a, b, expected) => {
    expect(compare(a, b)).toBe(expected);
  });

  it.each([
    ['1.2', 'expected MAJOR.MINOR.PATCH'],
    ['01.2.3', 'expected MAJOR.MINOR.PATCH'],
    ['1.2.3-01', 'expected MAJOR.MINOR.PATCH'],
    ['V1.2.3', 'expected MAJOR.MINOR.PATCH'],
    ['=1.2.3', 'expected MAJOR.MINOR.PATCH'],
    ['1.2.3-', 'expected MAJOR.MINOR.PATCH'],
    ['1.2.3+', 'expected MAJOR.MINOR.PATCH'],
    ['9007199254740992.0.0', 'expected MAJOR.MINOR.PATCH'],
    ['1.0.0-9007199254740991', 'the pre-release number 9007199254740991 is larger than 9007199254740990'],
    ['1.2.3 beta', 'whitespace at position 6'],
  ])('%j is rejected: %s', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });
});

/** An independent reading of SemVer §11 with BigInt, so the wrapper is checked against the spec itself. */
function specCompare(a: string, b: string): number {
  const split = (text: string) => {
    const core = text.replace(/^v/, '').replace(/\+.*$/, '');
    const dash = core.indexOf('-');
    const main = (dash < 0 ? core : core.slice(0, dash)).split('.').map(BigInt);
    return { main, pre: dash < 0 ? [] : core.slice(dash + 1).split('.') };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < 3; i++) if (x.main[i] !== y.main[i]) return x.main[i]! < y.main[i]! ? -1 : 1;
  if (x.pre.length === 0 || y.pre.length === 0) return Math.sign(y.pre.length - x.pre.length);
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const order = compareIdentifier(x.pre[i]!, y.pre[i]!);
    if (order !== 0) return order;
  }
  return Math.sign(x.pre.length - y.pre.length);
}

function compareIdentifier(p: string, q: string): number {
  const numeric = /^[0-9]+$/;
  if (numeric.test(p) && numeric.test(q)) return BigInt(p) === BigInt(q) ? 0 : BigInt(p) < BigInt(q) ? -1 : 1;
  if (numeric.test(p) !== numeric.test(q)) return numeric.test(p) ? -1 : 1;
  return p === q ? 0 : p < q ? -1 : 1;
}

describe('semver order', () => {
  itObeysOrderLaws(semverScheme, { related: semverTriple, equalPairs: semverEqualPair });

  it('agrees with a direct reading of the specification', () => {
    fc.assert(
      fc.property(semverTriple, ([a, b]) => {
        expect(compare(a, b)).toBe(specCompare(a, b));
      }),
      runs(3000),
    );
  });
});
