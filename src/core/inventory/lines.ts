/**
 * Bounds every collector parser applies to command output: it is treated as hostile (a tampered tool, a broken
 * package database), so lines and entries are limited and anything malformed is skipped, never thrown.
 */

/** Longest line a parser reads; longer lines are skipped. */
export const MAX_LINE_CHARS = 4096;
/** Most entries one parser returns (a large host has a few thousand packages). */
export const MAX_ENTRIES = 20_000;
/** Longest package name or version kept. */
export const MAX_FIELD_CHARS = 256;

/** Product ids as the advisory model accepts them (src/core/advisory/model.ts `productId`). */
export const PRODUCT_ID_RE = /^([a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._+-]*|pkg:[a-z0-9.+-]+\/[^\s@?#]+)$/;

/** The lines of a command's output, at most MAX_ENTRIES × 2 of them, each within MAX_LINE_CHARS. */
export function boundedLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  const limit = MAX_ENTRIES * 2;
  while (start <= text.length && out.length < limit) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end - start <= MAX_LINE_CHARS) {
      const line = text.slice(start, end).replace(/\r$/, '');
      if (line) out.push(line);
    }
    start = end + 1;
  }
  return out;
}

/** A field is kept when it is non-empty, bounded and holds only printable characters without white space. */
export function cleanField(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!v || v.length > MAX_FIELD_CHARS) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\s\u0000-\u001f\u007f]/.test(v)) return undefined;
  return v;
}

/** Printable text without control characters, trimmed and bounded (display names, captions). */
export function cleanText(value: unknown, max = MAX_FIELD_CHARS): string | undefined {
  if (typeof value !== 'string') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed here
  const v = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (!v) return undefined;
  return v.length > max ? v.slice(0, max) : v;
}
