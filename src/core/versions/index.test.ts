import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allSchemes,
  compareVersions,
  getScheme,
  isSchemeId,
  MAX_VERSION_LENGTH,
  parseVersion,
  SCHEME_IDS,
  type SchemeId,
  VersionParseError,
  type VersionScheme,
} from './index.js';
import { runs } from './versions.testkit.js';

describe('version scheme registry', () => {
  it('has one scheme per id, in id order', () => {
    expect(allSchemes.map((scheme) => scheme.id)).toEqual(SCHEME_IDS);
    for (const id of SCHEME_IDS) expect(getScheme(id).id).toBe(id);
  });

  it('describes every scheme with an example', () => {
    for (const scheme of allSchemes) expect(scheme.description).toMatch(/such as \S+/);
  });

  it('refuses an unknown id, naming the known ones', () => {
    expect(() => getScheme('debian' as SchemeId)).toThrow(
      'unknown version scheme "debian"; known: exchange, windows, dpkg, rpm, semver, dotted',
    );
    expect(isSchemeId('rpm')).toBe(true);
    expect(isSchemeId('RPM')).toBe(false);
    expect(isSchemeId(7)).toBe(false);
  });
});

describe('compareVersions and parseVersion', () => {
  it('compares text directly', () => {
    expect(compareVersions('exchange', '15.1.2176.2', '15.1.2242.4')).toBeLessThan(0);
    expect(compareVersions('dpkg', '1:1.0', '2.0')).toBeGreaterThan(0);
    expect(compareVersions('rpm', '1.0^git1', '1.0')).toBeGreaterThan(0);
    expect(compareVersions('semver', '1.0.0+a', '1.0.0+b')).toBe(0);
    expect(compareVersions('windows', '10.0.17763', '10.0.17763.0')).toBe(0);
    expect(compareVersions('dotted', '2.4.58', '2.4.9')).toBeGreaterThan(0);
  });

  it('throws an error naming the version that does not parse', () => {
    const attempt = () => compareVersions('exchange', '15.1.2176.2', '15.1.x');
    expect(attempt).toThrow(VersionParseError);
    expect(attempt).toThrow(/^"15\.1\.x" is not an Exchange build: .*such as 15\.1\.2176\.2$/);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ name: 'VersionParseError', scheme: 'exchange', text: '15.1.x' });
    }
  });

  it('parses without throwing', () => {
    expect(parseVersion('semver', 'v2.0.0-rc.1').ok).toBe(true);
    expect(parseVersion('semver', 'latest')).toEqual({
      ok: false,
      error:
        '"latest" is not a semantic version: expected MAJOR.MINOR.PATCH with optional -prerelease and +build, ' +
        'such as 1.4.2 or 2.0.0-rc.1',
    });
  });
});

function expectWellBehaved(scheme: VersionScheme, input: unknown): void {
  const result = scheme.parse(input as string);
  if (result.ok) {
    expect(scheme.compareParsed(result.value, result.value)).toBe(0);
  } else {
    expect(result.error.length).toBeGreaterThan(0);
    expect(result.error).not.toMatch(/[\n\r]/);
  }
}

const MEGABYTE = 1 << 20;

describe.each(allSchemes.map((scheme) => ({ id: scheme.id, scheme })))(
  '$id on hostile input',
  ({ scheme }) => {
    it('never throws on arbitrary strings, and what it accepts equals itself', () => {
      const text = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.string({
          unit: fc.constantFrom(...'0123456789.-:~^+_vV aZ\t\n\u0000\u00a0\ud800'),
          maxLength: 40,
        }),
      );
      fc.assert(
        fc.property(text, (input) => expectWellBehaved(scheme, input)),
        runs(3000),
      );
    });

    it('never throws on values that are not strings', () => {
      fc.assert(
        fc.property(fc.anything(), (input) => expectWellBehaved(scheme, input)),
        runs(500),
      );
      for (const input of [undefined, null, 15, {}, [], Symbol('x'), () => '1.0'])
        expectWellBehaved(scheme, input);
    });

    it(`rejects 1 MB of input at once, naming the ${MAX_VERSION_LENGTH}-character limit`, () => {
      for (const huge of ['1'.repeat(MEGABYTE), '1.'.repeat(MEGABYTE / 2), `${' '.repeat(MEGABYTE)}1`]) {
        const started = performance.now();
        const result = scheme.parse(huge);
        expect(performance.now() - started).toBeLessThan(50);
        expect(result).toEqual({
          ok: false,
          error: expect.stringContaining(`at most ${MAX_VERSION_LENGTH}`),
        });
        if (!result.ok) expect(result.error.length).toBeLessThan(300);
      }
    });
  },
);
