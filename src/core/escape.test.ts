/** The one escaping entry of every report: control characters shown, CSV cells neutralised, JSON exact. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FORBIDDEN } from '../../test/support/hostile-text.js';
import {
  csvCell,
  escapeAllStrings,
  escapeControls,
  escapeLines,
  neutraliseCell,
  terminalSafeJson,
} from './escape.js';

const OSC_TITLE = '\x1b]0;TITLE\x07';

describe('escapeControls, csvCell, terminalSafeJson', () => {
  it('shows controls as escapes', () => {
    expect(escapeControls(`a${OSC_TITLE}b`)).toBe('a\\x1b]0;TITLE\\x07b');
    expect(escapeControls('\u009b2J\u202e\u2028')).toBe('\\x9b2J\\u202e\\u2028');
    expect(escapeControls('plain \\ text')).toBe('plain \\ text');
  });

  it('quotes every cell and neutralises formulas (OWASP CSV injection)', () => {
    expect(csvCell('plain')).toBe('"plain"');
    expect(csvCell('=1+1')).toBe(`"'=1+1"`);
    expect(csvCell('  @SUM(A1)')).toBe(`"'  @SUM(A1)"`);
    expect(csvCell('-2')).toBe(`"'-2"`);
    expect(csvCell('\t=1')).toBe('"\\x09=1"');
    expect(neutraliseCell('\r=1')).toBe('\\x0d=1');
    expect(csvCell('a "b", c')).toBe('"a ""b"", c"');
  });

  it('terminal-safe JSON parses back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = terminalSafeJson(v);
        expect(text).not.toMatch(/[\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('escapeLines, escapeAllStrings', () => {
  it('keeps LF as the line break and shows everything else, CR included', () => {
    expect(escapeLines(`one${OSC_TITLE}\ntwo\r\u202e`)).toBe('one\\x1b]0;TITLE\\x07\ntwo\\x0d\\u202e');
  });

  it('is idempotent and leaves nothing forbidden but LF (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const once = escapeLines(s);
        expect(once).not.toMatch(FORBIDDEN);
        expect(escapeLines(once)).toBe(once);
        expect(once.split('\n').length).toBe(s.split('\n').length);
        // Unchanged text stays unchanged: only unsafe characters are rewritten.
        if (!FORBIDDEN.test(s)) expect(once).toBe(s);
      }),
      { numRuns: 200 },
    );
  });

  it('copies plain data with every string (keys too) escaped, other values kept', () => {
    expect(escapeAllStrings({ 'k\x1b': ['\u009b', 1, null, true], n: { t: '\u202e' } })).toEqual({
      'k\\x1b': ['\\x9b', 1, null, true],
      n: { t: '\\u202e' },
    });
  });
});
