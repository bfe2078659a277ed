import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  countQuotes,
  localDateToIso,
  looksLikeIp,
  normaliseBuild,
  splitCsv,
  splitSpaces,
  toIsoUtc,
  w3cTimestamp,
} from './text.js';

/** RFC 4180 encoding of one record: quote when needed (or always). */
function encodeCsv(values: string[], always: boolean): string {
  return values.map((v) => (always || /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)).join(',');
}

describe('splitCsv', () => {
  it('splits unquoted, quoted and mixed values', () => {
    expect(splitCsv('a,,b')).toEqual(['a', '', 'b']);
    expect(splitCsv('')).toEqual(['']);
    expect(splitCsv('"a,b","c""d",e')).toEqual(['a,b', 'c"d', 'e']);
    expect(splitCsv('x,"-ResultSize ""1""",y')).toEqual(['x', '-ResultSize "1"', 'y']);
    expect(splitCsv('"",""')).toEqual(['', '']);
    expect(splitCsv('a,"b')).toBeUndefined();
    expect(splitCsv('"a"x,b')).toEqual(['ax', 'b']); // lenient
    expect(splitCsv('"line1\nline2",z')).toEqual(['line1\nline2', 'z']);
  });

  it('round-trips any values, quoted as needed or always (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        (vs, always) => {
          expect(splitCsv(encodeCsv(vs, always))).toEqual(vs);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary text (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const v = splitCsv(s);
        if (v !== undefined) expect(v.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('small helpers', () => {
  it('splitSpaces keeps empty tokens so joining restores the line', () => {
    expect(splitSpaces('a  b')).toEqual(['a', '', 'b']);
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(splitSpaces(s).join(' ')).toBe(s);
      }),
    );
  });

  it('countQuotes', () => {
    expect(countQuotes('a"b""c')).toBe(3);
    expect(countQuotes('')).toBe(0);
  });

  it('toIsoUtc normalises ISO forms to UTC with milliseconds', () => {
    expect(toIsoUtc('2021-03-03T06:49:42.162Z')).toBe('2021-03-03T06:49:42.162Z');
    expect(toIsoUtc('2021-03-03T06:51:12.2345678Z')).toBe('2021-03-03T06:51:12.234Z');
    expect(toIsoUtc('2021-03-03 06:49:42')).toBe('2021-03-03T06:49:42.000Z');
    expect(toIsoUtc('2021-03-03T07:49:42+01:00')).toBe('2021-03-03T06:49:42.000Z');
    expect(toIsoUtc('2021-02-30T00:00:00Z')).toBeUndefined();
    expect(toIsoUtc('Felter: Timestamp')).toBeUndefined();
    expect(toIsoUtc('')).toBeUndefined();
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => void toIsoUtc(s)));
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1971-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }),
        (d) => {
          expect(toIsoUtc(d.toISOString())).toBe(d.toISOString());
        },
      ),
    );
  });

  it('w3cTimestamp joins IIS date and time', () => {
    expect(w3cTimestamp('2021-03-05', '03:06:27')).toBe('2021-03-05T03:06:27.000Z');
    expect(w3cTimestamp('xxx', '03:06:27')).toBeUndefined();
  });

  it('localDateToIso reads Event Viewer / PowerShell local dates', () => {
    expect(localDateToIso('3/3/2021 6:51:12 AM')).toBe('2021-03-03T06:51:12.000Z');
    expect(localDateToIso('3/3/2021 12:05:09 PM')).toBe('2021-03-03T12:05:09.000Z');
    expect(localDateToIso('3/3/2021 12:05:09 AM')).toBe('2021-03-03T00:05:09.000Z');
    expect(localDateToIso('10/7/2016 06:38:24 PM')).toBe('2016-10-07T18:38:24.000Z');
    expect(localDateToIso('03.03.2021 06:49:53')).toBe('2021-03-03T06:49:53.000Z');
    expect(localDateToIso('25/03/2021 18:49:53')).toBe('2021-03-25T18:49:53.000Z');
    expect(localDateToIso('2021-03-03 06:49:53')).toBe('2021-03-03T06:49:53.000Z');
    expect(localDateToIso('yesterday')).toBeUndefined();
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => void localDateToIso(s)));
  });

  it('looksLikeIp', () => {
    for (const ip of ['139.162.202.236', '::1', 'fe80::1234:5678:123abc:245e%3', '10.0.0.1', '2001:db8::1']) {
      expect(looksLikeIp(ip)).toBe(true);
    }
    for (const s of ['serverip', '302', 'GET', '1.2.3', '256.1.1.1', 'mail.xxx.no', '', 'a:b']) {
      expect(looksLikeIp(s)).toBe(false);
    }
  });

  it('normaliseBuild', () => {
    expect(normaliseBuild('15.01.2375.007')).toBe('15.1.2375.7');
    expect(normaliseBuild('1.0')).toBeUndefined();
    expect(normaliseBuild('15.a.1.1')).toBeUndefined();
  });
});
