/**
 * Numeric dotted versions: Exchange builds, Windows builds and generic dotted numbers.
 *
 * Each part is bounded to 15 significant digits: every such integer is exact in a double, so parsing stores
 * plain numbers and comparing is a loop over number arrays with no allocation (the exposure engine compares
 * millions of times). Leading zeros are allowed and ignored (`15.01.2176.009` is `15.1.2176.9`).
 */
import type { ParseResult, SchemeId, VersionScheme } from './scheme.js';
import { fail, prepareVersionText, quote, quoteInput, succeed } from './text.js';

export type DottedVersion = readonly number[];

export const MAX_PART_DIGITS = 15;
const MAX_DOTTED_PARTS = 8;

type PartsResult = { ok: true; parts: number[] } | { ok: false; problem: string };

/** Splits on dots and reads each part as a bounded decimal number; says which part is wrong and why. */
function readNumericParts(text: string): PartsResult {
  const pieces = text.split('.');
  const parts: number[] = [];
  for (const [index, piece] of pieces.entries()) {
    const problem = numericPartProblem(piece, index + 1);
    if (problem) return { ok: false, problem };
    parts.push(Number(piece));
  }
  return { ok: true, parts };
}

function numericPartProblem(piece: string, partNumber: number): string | undefined {
  if (piece === '') return `part ${partNumber} is empty`;
  if (!/^[0-9]+$/.test(piece)) return `part ${partNumber} (${quote(piece)}) is not a whole number`;
  const significant = piece.length - leadingZeros(piece);
  if (significant > MAX_PART_DIGITS) {
    return `part ${partNumber} has ${significant} digits; at most ${MAX_PART_DIGITS} are accepted`;
  }
  return undefined;
}

function leadingZeros(digits: string): number {
  let count = 0;
  while (count < digits.length - 1 && digits.charCodeAt(count) === 0x30) count++;
  return count;
}

/** Missing trailing parts count as 0, so `1.2` equals `1.2.0` for schemes that allow different lengths. */
export function compareNumberLists(a: DottedVersion, b: DottedVersion): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface DottedShape {
  readonly id: SchemeId;
  readonly description: string;
  /** Noun phrase for errors: `"x" is not <what>`. */
  readonly what: string;
  /** What a valid version looks like, for errors. */
  readonly expected: string;
  readonly minParts: number;
  readonly maxParts: number;
  /** Parts stored after parsing; shorter versions are padded with zeros so compares stay uniform. */
  readonly storedParts?: number;
}

function dottedScheme(shape: DottedShape): VersionScheme<DottedVersion> {
  const parse = (text: string): ParseResult<DottedVersion> => {
    const prepared = prepareVersionText(text);
    if (!prepared.ok) return fail(`${quoteInput(text)} is not ${shape.what}: ${prepared.error}`);
    const read = readNumericParts(prepared.value);
    const count = read.ok ? read.parts.length : 0;
    if (!read.ok || count < shape.minParts || count > shape.maxParts) {
      const problem = read.ok ? `it has ${count} part${count === 1 ? '' : 's'}` : read.problem;
      return fail(`${quote(prepared.value)} is not ${shape.what}: ${problem}; expected ${shape.expected}`);
    }
    return succeed(padParts(read.parts, shape.storedParts ?? 0));
  };
  return { id: shape.id, description: shape.description, parse, compareParsed: compareNumberLists };
}

function padParts(parts: number[], length: number): DottedVersion {
  while (parts.length < length) parts.push(0);
  return Object.freeze(parts);
}

export const exchangeScheme = dottedScheme({
  id: 'exchange',
  description: 'Exchange build of four numbers, such as 15.1.2176.2 (leading zeros ignored)',
  what: 'an Exchange build',
  expected: 'four numbers separated by dots, such as 15.1.2176.2',
  minParts: 4,
  maxParts: 4,
});

export const windowsScheme = dottedScheme({
  id: 'windows',
  description: 'Windows build major.minor.build[.UBR], such as 10.0.17763.1757 (a missing UBR counts as 0)',
  what: 'a Windows build',
  expected: 'major.minor.build or major.minor.build.UBR, such as 10.0.17763 or 10.0.17763.1757',
  minParts: 3,
  maxParts: 4,
  storedParts: 4,
});

export const dottedNumbersScheme = dottedScheme({
  id: 'dotted',
  description: `1 to ${MAX_DOTTED_PARTS} numbers separated by dots, such as 2.4.58 (missing trailing parts are 0)`,
  what: 'a dotted version',
  expected: `1 to ${MAX_DOTTED_PARTS} numbers separated by dots, such as 2.4.58`,
  minParts: 1,
  maxParts: MAX_DOTTED_PARTS,
});
