import { Type } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataFileError, formatPath, parseDataText } from './datafile.js';
import { dataValidator, StrictObject, withMessage } from './schema.js';

const schema = dataValidator(
  StrictObject({
    id: Type.String(),
    items: Type.Array(
      StrictObject({
        name: Type.String(),
        date: withMessage(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), 'expected YYYY-MM-DD'),
      }),
    ),
  }),
);

function errorOf(text: string): DataFileError {
  try {
    parseDataText(text, 'pack.yaml', schema);
  } catch (err) {
    if (err instanceof DataFileError) return err;
    throw err;
  }
  throw new Error('expected a DataFileError');
}

describe('parseDataText', () => {
  it('returns the validated value for YAML and for JSON', () => {
    const yaml = 'id: a\nitems:\n  - name: x\n    date: 2021-03-02\n';
    expect(parseDataText(yaml, 'f.yaml', schema)).toEqual({
      id: 'a',
      items: [{ name: 'x', date: '2021-03-02' }],
    });
    expect(parseDataText('{"id":"a","items":[]}', 'f.json', schema)).toEqual({ id: 'a', items: [] });
  });

  it('names file, line, column and field of a bad value', () => {
    const err = errorOf('id: a\nitems:\n  - name: x\n    date: 2021-3-2\n');
    expect(err.message).toBe('pack.yaml:4:11: items[0].date: expected YYYY-MM-DD');
    expect([err.line, err.field]).toEqual([4, 'items[0].date']);
  });

  it('points at the parent of a missing field and says it is missing', () => {
    const err = errorOf('id: a\nitems:\n  - name: x\n');
    expect(err.message).toBe('pack.yaml:3:5: items[0].date: required field is missing');
  });

  it('names an unknown field', () => {
    const err = errorOf('id: a\nitems: []\ntitel: oops\n');
    expect(err.message).toMatch(/^pack\.yaml:3:\d+: titel: unknown field "titel"/);
  });

  it('reports YAML syntax errors with their line', () => {
    const err = errorOf('id: a\nitems: [\n  - x: : :\n');
    expect(err.line).toBeGreaterThanOrEqual(2);
    expect(err.message).toMatch(/^pack\.yaml:\d+:\d+: not valid YAML\/JSON/);
  });

  it('rejects duplicate keys instead of silently keeping one', () => {
    expect(errorOf('id: a\nid: b\nitems: []\n').message).toMatch(/pack\.yaml:2:\d+: not valid YAML/);
  });

  it('refuses alias bombs', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    expect(() => parseDataText(bomb.join('\n'), 'bomb.yaml', dataValidator(Type.Unknown()))).toThrow(
      DataFileError,
    );
  });

  it('counts further problems', () => {
    expect(errorOf('id: 1\nitems: 2\n').message).toMatch(/\(and 1 more problem\)$/);
  });

  it('never throws anything but DataFileError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseDataText(text, 'fuzz.yaml', schema);
        } catch (err) {
          if (!(err instanceof DataFileError)) throw err;
          expect(err.message.startsWith('fuzz.yaml')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('formats paths', () => {
    expect(formatPath(['a', 0, 'b', 12])).toBe('a[0].b[12]');
    expect(formatPath([])).toBe('');
  });
});
