/**
 * Version orders, one per ecosystem. Everything outside this folder imports from here only.
 *
 * Every scheme bounds its input to MAX_VERSION_LENGTH characters, trims surrounding ASCII whitespace, rejects
 * inner whitespace, and never throws from `parse`. Hot paths parse once and call `compareParsed`.
 */
import { dottedNumbersScheme, exchangeScheme, windowsScheme } from './dotted.js';
import { dpkgScheme } from './dpkg.js';
import { rpmScheme } from './rpm.js';
import { type ParseResult, SCHEME_IDS, type SchemeId, type VersionScheme } from './scheme.js';
import { semverScheme } from './semver.js';

export type { ParseResult, SchemeId, VersionScheme } from './scheme.js';
export { SCHEME_IDS } from './scheme.js';
export { MAX_VERSION_LENGTH } from './text.js';

const SCHEMES: Readonly<Record<SchemeId, VersionScheme>> = {
  exchange: exchangeScheme,
  windows: windowsScheme,
  dpkg: dpkgScheme,
  rpm: rpmScheme,
  semver: semverScheme,
  dotted: dottedNumbersScheme,
};

export const allSchemes: readonly VersionScheme[] = Object.freeze(SCHEME_IDS.map((id) => SCHEMES[id]));

export function isSchemeId(value: unknown): value is SchemeId {
  return typeof value === 'string' && (SCHEME_IDS as readonly string[]).includes(value);
}

/** Throws for an unknown id, because ids reach here from data files and a typo must not pass silently. */
export function getScheme(id: SchemeId): VersionScheme {
  if (!isSchemeId(id)) {
    throw new Error(`unknown version scheme ${JSON.stringify(String(id))}; known: ${SCHEME_IDS.join(', ')}`);
  }
  return SCHEMES[id];
}

export function parseVersion(id: SchemeId, text: string): ParseResult<unknown> {
  return getScheme(id).parse(text);
}

/** Thrown by compareVersions when one side does not parse; `message` is the scheme's one-line error. */
export class VersionParseError extends Error {
  override readonly name = 'VersionParseError';
  constructor(
    readonly scheme: SchemeId,
    readonly text: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** Negative, zero or positive. Parses both sides on every call; hot paths should parse once instead. */
export function compareVersions(id: SchemeId, a: string, b: string): number {
  const scheme = getScheme(id);
  return scheme.compareParsed(parseOrThrow(scheme, a), parseOrThrow(scheme, b));
}

function parseOrThrow(scheme: VersionScheme, text: string): unknown {
  const parsed = scheme.parse(text);
  if (!parsed.ok) throw new VersionParseError(scheme.id, text, parsed.error);
  return parsed.value;
}
