import type { ParseResult } from './scheme.js';

/**
 * Longest version text any scheme accepts, checked before anything else. Real versions are far shorter
 * (the semver package uses the same bound), and a fixed bound keeps parse and compare cheap on hostile input.
 */
export const MAX_VERSION_LENGTH = 256;

const INNER_WHITESPACE = /\s/u;
const SHOWN_PREFIX_LENGTH = 60;

/** Quotes version text for an error message so control characters and long inputs stay readable. */
export function quote(text: string): string {
  const shown = text.length > SHOWN_PREFIX_LENGTH ? `${text.slice(0, SHOWN_PREFIX_LENGTH)}…` : text;
  return JSON.stringify(shown);
}

export function fail<P>(error: string): ParseResult<P> {
  return { ok: false, error };
}

export function succeed<P>(value: P): ParseResult<P> {
  return { ok: true, value };
}

/**
 * The checks every scheme shares: the input is a string of bounded length. Surrounding ASCII whitespace is
 * trimmed because versions copied from tables and command output often carry it (dpkg trims too); inner
 * whitespace is rejected because no scheme allows it and silently dropping it would merge two tokens.
 * A failure's `error` is a clause ("it is empty") that each scheme puts after `"<text>" is not <what>: `.
 */
export function prepareVersionText(text: unknown): ParseResult<string> {
  if (typeof text !== 'string') return fail(`it is ${describeType(text)}, not text`);
  if (text.length > MAX_VERSION_LENGTH) {
    return fail(`it is ${text.length} characters long; at most ${MAX_VERSION_LENGTH} are accepted`);
  }
  let start = 0;
  let end = text.length;
  while (start < end && isAsciiWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isAsciiWhitespace(text.charCodeAt(end - 1))) end--;
  if (start === end) return fail('it is empty');
  const trimmed = text.slice(start, end);
  const space = INNER_WHITESPACE.exec(trimmed);
  if (space) return fail(`it contains whitespace at position ${start + space.index + 1}`);
  return succeed(trimmed);
}

/** Names any input in an error: quoted text, or its type when a caller passed something else. */
export function quoteInput(text: unknown): string {
  return typeof text === 'string' ? quote(text) : describeType(text);
}

function isAsciiWhitespace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function describeType(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** 1-based position of the first character outside printable ASCII, or 0 if there is none. */
export function firstNonPrintableAscii(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return i + 1;
  }
  return 0;
}

export function describeCharacterAt(text: string, position: number): string {
  const codePoint = text.codePointAt(position - 1) ?? 0;
  const hex = codePoint.toString(16).toUpperCase().padStart(4, '0');
  return `character U+${hex} at position ${position}`;
}

export function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;

export function isAsciiDigit(code: number): boolean {
  return code >= CHAR_0 && code <= CHAR_9;
}

export function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}
