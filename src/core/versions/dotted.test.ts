import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DottedVersion, dottedNumbersScheme, exchangeScheme, windowsScheme } from './dotted.js';
import type { VersionScheme } from './scheme.js';
import { itObeysOrderLaws, padDigitRuns, relatedValues, runs, triple } from './versions.testkit.js';

function compare(scheme: VersionScheme<DottedVersion>, a: string, b: string): number {
  const pa = scheme.parse(a);
  const pb = scheme.parse(b);
  if (!pa.ok || !pb.ok) throw new Error(`vector does not parse: ${a} / ${b}`);
  return Math.sign(scheme.compareParsed(pa.value, pb.value));
}

function errorOf(scheme: VersionScheme<DottedVersion>, text: string): string {
  const parsed = scheme.parse(text);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
  return parsed.error;
}

describe('exchange builds', () => {
  it.each([
    ['15.1.2176.2', '15.1.2176.9', -1],
    ['15.01.2176.009', '15.1.2176.9', 0],
    ['15.2.792.10', '15.2.792.3', 1],
    ['14.3.513.0', '15.0.1497.2', -1],
    ['15.0.1497.12', '15.0.1497.2', 1],
    ['15.1.2242.4', '15.1.2176.9', 1],
    ['  15.2.858.5\t', '15.2.858.5', 0],
  ])('%s vs %s is %i', (a, b, expected) => {
    expect(compare(exchangeScheme, a, b)).toBe(expected);
  });

  it('names the problem and shows a valid build', () => {
    expect(errorOf(exchangeScheme, '15.1.x')).toBe(
      '"15.1.x" is not an Exchange build: part 3 ("x") is not a whole number; ' +
        'expected four numbers separated by dots, such as 15.1.2176.2',
    );
    expect(errorOf(exchangeScheme, '15.1.2176')).toContain('it has 3 parts');
    expect(errorOf(exchangeScheme, '15.1..2')).toContain('part 3 is empty');
    expect(errorOf(exchangeScheme, '15.1.2176.2.1')).toContain('it has 5 parts');
    expect(errorOf(exchangeScheme, '15.1.2176.1234567890123456')).toContain('16 digits; at most 15');
    expect(errorOf(exchangeScheme, '15.1 .2176.2')).toContain('whitespace at position 5');
    expect(errorOf(exchangeScheme, '')).toBe('"" is not an Exchange build: it is empty');
    expect(errorOf(exchangeScheme, '+15.1.2176.2')).toContain('not a whole number');
    expect(errorOf(exchangeScheme, '15.1.2176.-2')).toContain('not a whole number');
  });
});

describe('windows builds', () => {
  it.each([
    ['10.0.17763.1757', '10.0.17763.1758', -1],
    ['10.0.17763', '10.0.17763.0', 0],
    ['10.0.17763', '10.0.17763.1', -1],
    ['10.0.20348.1', '10.0.17763.9999', 1],
    ['6.3.9600.20000', '10.0.14393.0', -1],
  ])('%s vs %s is %i', (a, b, expected) => {
    expect(compare(windowsScheme, a, b)).toBe(expected);
  });

  it('accepts three or four parts only', () => {
    expect(errorOf(windowsScheme, '10.0')).toContain('it has 2 parts; expected major.minor.build');
    expect(errorOf(windowsScheme, '10.0.1.2.3')).toContain('it has 5 parts');
  });
});

describe('dotted versions', () => {
  it.each([
    ['1.2', '1.2.0.0', 0],
    ['1.2', '1.2.1', -1],
    ['2.4.58', '2.4.9', 1],
    ['1', '0.9.9', 1],
    ['001.002', '1.2', 0],
    ['999999999999999', '999999999999998', 1],
  ])('%s vs %s is %i', (a, b, expected) => {
    expect(compare(dottedNumbersScheme, a, b)).toBe(expected);
  });

  it('accepts 1 to 8 parts', () => {
    expect(dottedNumbersScheme.parse('1.2.3.4.5.6.7.8').ok).toBe(true);
    expect(errorOf(dottedNumbersScheme, '1.2.3.4.5.6.7.8.9')).toContain('it has 9 parts');
    expect(errorOf(dottedNumbersScheme, '1.2a')).toContain('part 2 ("2a") is not a whole number');
  });
});

const part = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('0', '1', '2', '9', '10', '00', '010') },
  { weight: 3, arbitrary: fc.nat(99_999).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('999999999999999', '999999999999998', '000000000000001') },
);

function dottedTriple(minParts: number, maxParts: number) {
  return fc
    .tuple(
      fc.array(part, { minLength: minParts - 1, maxLength: minParts - 1 }),
      relatedValues(fc.array(part, { minLength: 1, maxLength: maxParts - minParts + 1 }), 3),
    )
    .map(([shared, tails]) => triple(tails.map((tail) => [...shared, ...tail].join('.'))));
}

function equalByPadding(minParts: number, maxParts: number, extend: boolean) {
  return fc
    .tuple(
      fc.array(part, { minLength: minParts, maxLength: maxParts }),
      fc.nat(),
      fc.nat(maxParts - minParts),
    )
    .map(([parts, mask, zeros]) => {
      const text = parts.join('.');
      const extra = extend ? '.0'.repeat(Math.min(zeros, maxParts - parts.length)) : '';
      return [text, `${padDigitRuns(text, mask)}${extra}`] as const;
    });
}

/** An independent reading of "compare part by part, missing parts are 0", with BigInt so nothing rounds. */
function referenceCompare(a: string, b: string): number {
  const pa = a.split('.').map(BigInt);
  const pb = b.split('.').map(BigInt);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0n;
    const y = pb[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

describe.each([
  { scheme: exchangeScheme, min: 4, max: 4, extend: false },
  { scheme: windowsScheme, min: 3, max: 4, extend: true },
  { scheme: dottedNumbersScheme, min: 1, max: 8, extend: true },
])('$scheme.id order', ({ scheme, min, max, extend }) => {
  itObeysOrderLaws(scheme, { related: dottedTriple(min, max), equalPairs: equalByPadding(min, max, extend) });

  it('agrees with a BigInt reference', () => {
    fc.assert(
      fc.property(dottedTriple(min, max), ([a, b]) => {
        expect(compare(scheme, a, b)).toBe(referenceCompare(a, b));
      }),
      runs(3000),
    );
  });
});
