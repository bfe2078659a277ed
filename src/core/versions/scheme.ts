/**
 * A version scheme is a total order over the version strings of one ecosystem.
 * Parsing is separate from comparing so that hot paths (the exposure engine) parse once and compare often.
 */
export type SchemeId = 'exchange' | 'windows' | 'dpkg' | 'rpm' | 'semver' | 'dotted';

export const SCHEME_IDS: readonly SchemeId[] = ['exchange', 'windows', 'dpkg', 'rpm', 'semver', 'dotted'];

export type ParseResult<P> = { ok: true; value: P } | { ok: false; error: string };

export interface VersionScheme<P = unknown> {
  readonly id: SchemeId;
  /** One line for docs and errors, e.g. "Exchange 4-part build such as 15.1.2176.2". */
  readonly description: string;
  /** Parses hostile text; never throws. `error` says what is wrong and what a valid version looks like. */
  parse(text: string): ParseResult<P>;
  /** Negative, zero or positive, like Array.prototype.sort's comparator. Must be a total (pre)order. */
  compareParsed(a: P, b: P): number;
}
