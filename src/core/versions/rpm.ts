/**
 * RPM versions, `[epoch:]version[-release]`, ordered as rpm 4.18 orders them: `rpmvercmp` on each part and
 * `rpmverCmp` for the whole, which is what `rpm.vercmp` in rpm's Lua answers.
 *
 * rpm's rules, kept exactly:
 * - the epoch is the leading digits when a `:` follows them; no epoch compares as epoch 0;
 * - the release is everything after the last `-`; a version WITHOUT a release sorts before the same
 *   version with any release (`1.0` < `1.0-1`), because rpmverCmp ranks a missing part below a present one
 *   (rpm's dependency matching instead ignores a release missing on one side, but that is range semantics
 *   and not an order: advisory bounds for rpm should carry a release);
 * - within a part: runs of letters and runs of digits are compared in turn; every other character only
 *   separates runs; `~` sorts before anything, even the end (`1.0~rc1` < `1.0`); `^` sorts after the end
 *   but before anything else (`1.0` < `1.0^git1` < `1.0.1`); a digit run beats a letter run; digit runs
 *   compare as numbers of any length; letter runs compare by ASCII code (`B` < `a`).
 *
 * Deliberate rejections where rpm would quietly compare something odd: an empty epoch, version or release,
 * characters outside printable ASCII, and the `(none):` prefix that `rpm -q --qf '%{EPOCH}:…'` prints for a
 * missing epoch (rpm would compare `(none)` as letters and put the version below every real one).
 */
import type { ParseResult, VersionScheme } from './scheme.js';
import {
  describeCharacterAt,
  fail,
  firstNonPrintableAscii,
  isAsciiDigit,
  isAsciiLetter,
  prepareVersionText,
  quote,
  quoteInput,
  succeed,
} from './text.js';

export interface RpmVersion {
  readonly epoch: number;
  readonly version: string;
  /** Absent (not empty) when the text has no `-`. */
  readonly release: string | undefined;
}

/** rpm headers store the epoch as a 32-bit unsigned number. */
const MAX_EPOCH = 4_294_967_295;
const WHAT = 'an RPM version';
const EXPECTED = 'expected [epoch:]version[-release], such as 1:2.4.37-43.el8';
const TILDE = 0x7e;
const CARET = 0x5e;
const ZERO = 0x30;
const END = -1;

export function parseRpmVersion(text: string): ParseResult<RpmVersion> {
  const prepared = prepareVersionText(text);
  if (!prepared.ok) return fail(`${quoteInput(text)} is not ${WHAT}: ${prepared.error}`);
  const evr = prepared.value;
  const problem = (why: string) => fail<RpmVersion>(`${quote(evr)} is not ${WHAT}: ${why}`);
  if (evr.startsWith('(none):')) {
    return problem('"(none)" is how rpm prints a missing epoch; drop "(none):" or write 0: instead');
  }
  const badChar = firstNonPrintableAscii(evr);
  if (badChar) return problem(`${describeCharacterAt(evr, badChar)} is not printable ASCII`);

  const epochEnd = leadingDigitsEnd(evr);
  const hasEpoch = evr.charCodeAt(epochEnd) === 0x3a;
  let epoch = 0;
  if (hasEpoch) {
    const epochProblem = rpmEpochProblem(evr.slice(0, epochEnd));
    if (epochProblem) return problem(epochProblem);
    epoch = Number(evr.slice(0, epochEnd));
  }
  const rest = hasEpoch ? evr.slice(epochEnd + 1) : evr;
  const hyphen = rest.lastIndexOf('-');
  const version = hyphen >= 0 ? rest.slice(0, hyphen) : rest;
  const release = hyphen >= 0 ? rest.slice(hyphen + 1) : undefined;
  if (version === '') return problem(`the version is empty; ${EXPECTED}`);
  if (release === '') return problem(`the release after the last "-" is empty; ${EXPECTED}`);
  return succeed({ epoch, version, release });
}

function leadingDigitsEnd(text: string): number {
  let end = 0;
  while (end < text.length && isAsciiDigit(text.charCodeAt(end))) end++;
  return end;
}

function rpmEpochProblem(epochText: string): string | undefined {
  if (epochText === '') return `the epoch before ":" is empty; ${EXPECTED}`;
  const significant = epochText.replace(/^0+(?=.)/, '');
  if (significant.length > 10 || Number(significant) > MAX_EPOCH) {
    return `the epoch ${epochText} is larger than rpm's limit of ${MAX_EPOCH}`;
  }
  return undefined;
}

export function compareRpmVersions(a: RpmVersion, b: RpmVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return rpmvercmp(a.version, b.version) || compareReleases(a.release, b.release);
}

function compareReleases(a: string | undefined, b: string | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  return rpmvercmp(a, b);
}

function codeAt(text: string, index: number): number {
  return index < text.length ? text.charCodeAt(index) : END;
}

function isSeparator(code: number): boolean {
  return code !== TILDE && code !== CARET && !isAsciiDigit(code) && !isAsciiLetter(code);
}

function skipSeparators(text: string, index: number): number {
  while (index < text.length && isSeparator(text.charCodeAt(index))) index++;
  return index;
}

function digitRunEnd(text: string, index: number): number {
  while (index < text.length && isAsciiDigit(text.charCodeAt(index))) index++;
  return index;
}

function letterRunEnd(text: string, index: number): number {
  while (index < text.length && isAsciiLetter(text.charCodeAt(index))) index++;
  return index;
}

/** rpm's segment comparison of one version or release string. Works on indices; allocates nothing. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    i = skipSeparators(a, i);
    j = skipSeparators(b, j);
    const x = codeAt(a, i);
    const y = codeAt(b, j);
    if (x === TILDE || y === TILDE) {
      if (x !== TILDE) return 1;
      if (y !== TILDE) return -1;
    } else if (x === CARET || y === CARET) {
      if (x === END) return -1;
      if (y === END) return 1;
      if (x !== CARET) return 1;
      if (y !== CARET) return -1;
    } else if (x === END || y === END) {
      break;
    } else {
      const numeric = isAsciiDigit(x);
      if (numeric !== isAsciiDigit(y)) return numeric ? 1 : -1;
      const iEnd = numeric ? digitRunEnd(a, i) : letterRunEnd(a, i);
      const jEnd = numeric ? digitRunEnd(b, j) : letterRunEnd(b, j);
      const order = numeric ? compareDigitRuns(a, i, iEnd, b, j, jEnd) : compareRuns(a, i, iEnd, b, j, jEnd);
      if (order !== 0) return order;
      i = iEnd;
      j = jEnd;
      continue;
    }
    i++;
    j++;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** Numbers of any length: leading zeros do not count, then more digits win, then the digits decide. */
function compareDigitRuns(a: string, i: number, iEnd: number, b: string, j: number, jEnd: number): number {
  while (i < iEnd && a.charCodeAt(i) === ZERO) i++;
  while (j < jEnd && b.charCodeAt(j) === ZERO) j++;
  if (iEnd - i !== jEnd - j) return iEnd - i < jEnd - j ? -1 : 1;
  return compareRuns(a, i, iEnd, b, j, jEnd);
}

/** C `strcmp` over two runs: first differing code decides, else the shorter run is smaller. */
function compareRuns(a: string, i: number, iEnd: number, b: string, j: number, jEnd: number): number {
  for (; i < iEnd && j < jEnd; i++, j++) {
    const difference = a.charCodeAt(i) - b.charCodeAt(j);
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  const aLeft = iEnd - i;
  const bLeft = jEnd - j;
  return aLeft === bLeft ? 0 : aLeft < bLeft ? -1 : 1;
}

export const rpmScheme: VersionScheme<RpmVersion> = {
  id: 'rpm',
  description:
    'RPM package version [epoch:]version[-release], such as 1:2.4.37-43.el8, ordered as rpm 4.18 does',
  parse: parseRpmVersion,
  compareParsed: compareRpmVersions,
};
