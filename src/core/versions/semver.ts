/**
 * Semantic Versioning 2.0.0, parsed and ordered by the `semver` package in strict (not loose) mode.
 *
 * Decisions:
 * - a leading lowercase `v` is accepted (`v1.2.3`), as the semver package's strict mode accepts it and tags
 *   and advisories write it; `V1.2.3`, `=1.2.3` and the other loose forms are rejected;
 * - build metadata is kept but ignored by the order (`1.0.0+a` equals `1.0.0+b`), as the spec requires;
 * - numbers must fit a double exactly: the package already refuses larger major/minor/patch numbers, and a
 *   numeric pre-release identifier from 2^53 - 1 up would be compared by the package as text (so
 *   `-9007199254740993` would sort after `-alpha`), so we refuse those too.
 */
import { SemVer } from 'semver';
import type { ParseResult, VersionScheme } from './scheme.js';
import { fail, prepareVersionText, quote, quoteInput, succeed } from './text.js';

const WHAT = 'a semantic version';
const EXPECTED =
  'expected MAJOR.MINOR.PATCH with optional -prerelease and +build, such as 1.4.2 or 2.0.0-rc.1';

export function parseSemver(text: string): ParseResult<SemVer> {
  const prepared = prepareVersionText(text);
  if (!prepared.ok) return fail(`${quoteInput(text)} is not ${WHAT}: ${prepared.error}`);
  const version = readStrictSemver(prepared.value);
  if (!version) return fail(`${quote(prepared.value)} is not ${WHAT}: ${EXPECTED}`);
  const tooLarge = version.prerelease.find((id) => typeof id === 'string' && /^[0-9]+$/.test(id));
  if (tooLarge !== undefined) {
    return fail(
      `${quote(prepared.value)} is not ${WHAT}: the pre-release number ${tooLarge} is larger than ` +
        `${Number.MAX_SAFE_INTEGER - 1}, the largest compared exactly`,
    );
  }
  return succeed(version);
}

function readStrictSemver(text: string): SemVer | undefined {
  try {
    return new SemVer(text, { loose: false });
  } catch {
    return undefined;
  }
}

export function compareSemver(a: SemVer, b: SemVer): number {
  return a.compare(b);
}

export const semverScheme: VersionScheme<SemVer> = {
  id: 'semver',
  description:
    'Semantic Versioning 2.0.0, such as 2.0.0-rc.1 (an optional leading v; build metadata ignored)',
  parse: parseSemver,
  compareParsed: compareSemver,
};
