/**
 * Hostile text for people: log fields and file names (hunt), headers, certificate names and target lists (scan),
 * titles of imported advisory feeds (advisories, check, exchange) are written by someone else. Before any of it
 * reaches a terminal, a spreadsheet or a page, characters that can act instead of print are made visible. The one
 * entry for every command; no I/O.
 *
 * - Terminal: C0 controls (ESC starts CSI `ESC [`, OSC `ESC ] … BEL` title and hyperlink sequences), DEL, C1
 *   controls (U+009B is a one-character CSI on some terminals), line and paragraph separators, and the bidirectional
 *   overrides and isolates ("Trojan Source", CVE-2021-42574) become `\xHH` / `\uHHHH` text. A backslash is left as
 *   it is: the output is for reading, the JSON output is the exact record.
 * - CSV: every cell quoted (RFC 4180), controls escaped as above, and formula neutralisation per OWASP's CSV
 *   injection guidance: a cell whose first character is `=`, `+`, `-`, `@`, TAB or CR (or that starts with
 *   spaces followed by `=`, `+`, `-`, `@`) gets a leading `'`.
 */

/** Every character `escapeControls` rewrites. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
export const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const HAS_UNSAFE = new RegExp(UNSAFE_CHARACTERS.source);
/** The unsafe characters JSON.stringify leaves raw (it escapes C0 itself; a raw C0 in its output is formatting). */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `s` with every control, separator and bidi override shown as `\xHH` / `\uHHHH`. */
export function escapeControls(s: string): string {
  return HAS_UNSAFE.test(s) ? s.replace(UNSAFE_CHARACTERS, visible) : s;
}

/**
 * `escapeControls` line by line: LF stays a line break, everything else (CR included: it rewinds the line) is shown.
 * For multi-line messages (a list of mistakes, one per line) whose parts are hostile.
 */
export function escapeLines(s: string): string {
  return s.split('\n').map(escapeControls).join('\n');
}

/** Deep copy of a report value with every string passed through `escapeControls` (numbers, booleans, null kept). */
export function escapeAllStrings<T>(value: T): T {
  if (typeof value === 'string') return escapeControls(value) as T;
  if (Array.isArray(value)) return value.map((v) => escapeAllStrings(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[escapeControls(k)] = escapeAllStrings(v);
    return out as T;
  }
  return value;
}

/** The value a spreadsheet shows for a cell: controls escaped, a would-be formula prefixed with `'`. */
export function neutraliseCell(value: string): string {
  const text = escapeControls(value);
  // After escaping, TAB and CR can no longer lead; they stay in the test for callers that skip escaping.
  return /^[=+\-@\t\r]|^ +[=+\-@]/.test(text) ? `'${text}` : text;
}

/** One RFC 4180 cell, always quoted. */
export function csvCell(value: string): string {
  return `"${neutraliseCell(value).replace(/"/g, '""')}"`;
}

/**
 * JSON for a terminal that parses back to exactly the same value: JSON.stringify already escapes C0 controls;
 * C1 controls, separators and bidi overrides are escaped too (as `\uHHHH`, which JSON reads as the same character).
 */
export function terminalSafeJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
