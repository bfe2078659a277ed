/**
 * Debian package versions, `[epoch:]upstream[-revision]`, ordered exactly as dpkg 1.21 orders them
 * (Debian policy §5.6.12; dpkg's `verrevcmp`).
 *
 * Accepted text is what `dpkg --compare-versions` compares without a syntax *error*: dpkg merely warns about
 * an upstream part that does not start with a digit or about characters outside policy, and still compares,
 * so we do too. Deliberate differences, all rejections with a clear error:
 * - characters outside printable ASCII: dpkg compares raw bytes as signed chars, which a JavaScript string
 *   cannot reproduce faithfully, and no real package uses them;
 * - an epoch that is not plain digits: dpkg reads it with `strtol`, which also takes `+1` or `-0`;
 * - `<unknown>`, which dpkg reads as "no version at all".
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
  sign,
  succeed,
} from './text.js';

export interface DpkgVersion {
  readonly epoch: number;
  readonly upstream: string;
  /** Empty when absent; dpkg compares an absent revision like `0` (`1.0` equals `1.0-0`). */
  readonly revision: string;
}

/** dpkg stores the epoch in a C int and refuses anything larger. */
const MAX_EPOCH = 2_147_483_647;
const WHAT = 'a Debian version';
const EXPECTED = 'expected [epoch:]upstream[-revision], such as 1:2.30-1+deb11u2';
const TILDE = 0x7e;
/** Stands for "past the end of the string", which C sees as the terminating NUL. */
const END = -1;

export function parseDpkgVersion(text: string): ParseResult<DpkgVersion> {
  const prepared = prepareVersionText(text);
  if (!prepared.ok) return fail(`${quoteInput(text)} is not ${WHAT}: ${prepared.error}`);
  const problem = (why: string) => fail<DpkgVersion>(`${quote(prepared.value)} is not ${WHAT}: ${why}`);
  const version = prepared.value;
  if (version === '<unknown>') return problem('dpkg uses it to mean "no version"');
  const badChar = firstNonPrintableAscii(version);
  if (badChar) return problem(`${describeCharacterAt(version, badChar)} is not printable ASCII`);

  const colon = version.indexOf(':');
  let epoch = 0;
  if (colon >= 0) {
    const epochText = version.slice(0, colon);
    const epochProblem = dpkgEpochProblem(epochText);
    if (epochProblem) return problem(epochProblem);
    epoch = Number(epochText);
  }
  const rest = version.slice(colon + 1);
  if (rest === '') return problem(`nothing follows the epoch; ${EXPECTED}`);
  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen >= 0 ? rest.slice(0, hyphen) : rest;
  const revision = hyphen >= 0 ? rest.slice(hyphen + 1) : '';
  if (upstream === '') return problem(`the upstream version is empty; ${EXPECTED}`);
  if (hyphen >= 0 && revision === '') return problem(`the revision after the last "-" is empty; ${EXPECTED}`);
  return succeed({ epoch, upstream, revision });
}

function dpkgEpochProblem(epochText: string): string | undefined {
  if (epochText === '') return `the epoch before ":" is empty; ${EXPECTED}`;
  if (!/^[0-9]+$/.test(epochText)) return `the epoch ${quote(epochText)} is not a whole number; ${EXPECTED}`;
  const significant = epochText.replace(/^0+(?=.)/, '');
  if (significant.length > 10 || Number(significant) > MAX_EPOCH) {
    return `the epoch ${epochText} is larger than dpkg's limit of ${MAX_EPOCH}`;
  }
  return undefined;
}

export function compareDpkgVersions(a: DpkgVersion, b: DpkgVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return verrevcmp(a.upstream, b.upstream) || verrevcmp(a.revision, b.revision);
}

/**
 * dpkg's weight of a character in a non-digit run: `~` before the end of the string, the end before
 * letters, letters before everything else. Digits weigh 0 because they end the non-digit run.
 */
function charWeight(code: number): number {
  if (code === END || isAsciiDigit(code)) return 0;
  if (isAsciiLetter(code)) return code;
  if (code === TILDE) return -1;
  return code + 256;
}

function codeAt(text: string, index: number): number {
  return index < text.length ? text.charCodeAt(index) : END;
}

/**
 * Alternates non-digit runs (compared character by character by weight) and digit runs (compared as
 * numbers of any length: leading zeros skipped, then the longer run wins, then the first differing digit).
 * Works on indices so a comparison allocates nothing.
 */
export function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (isNonDigit(a, i) || isNonDigit(b, j)) {
      const difference = charWeight(codeAt(a, i)) - charWeight(codeAt(b, j));
      if (difference !== 0) return sign(difference);
      i++;
      j++;
    }
    while (codeAt(a, i) === 0x30) i++;
    while (codeAt(b, j) === 0x30) j++;
    let firstDifference = 0;
    while (isAsciiDigit(codeAt(a, i)) && isAsciiDigit(codeAt(b, j))) {
      if (firstDifference === 0) firstDifference = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isAsciiDigit(codeAt(a, i))) return 1;
    if (isAsciiDigit(codeAt(b, j))) return -1;
    if (firstDifference !== 0) return sign(firstDifference);
  }
  return 0;
}

function isNonDigit(text: string, index: number): boolean {
  return index < text.length && !isAsciiDigit(text.charCodeAt(index));
}

export const dpkgScheme: VersionScheme<DpkgVersion> = {
  id: 'dpkg',
  description:
    'Debian package version [epoch:]upstream[-revision], such as 1:2.30-1+deb11u2, ordered as dpkg does',
  parse: parseDpkgVersion,
  compareParsed: compareDpkgVersions,
};
