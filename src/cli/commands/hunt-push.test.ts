import { describe, expect, it } from 'vitest';
import { UsageError } from '../io.js';
import { parseHostAddresses } from './hunt.js';

describe('hunt --addresses FILE', () => {
  it('reads host,address… rows keyed by lower-case host, skipping comments and blank lines', () => {
    const map = parseHostAddresses(
      '# host,address\n\nEXCH01, 10.0.1.21 ,mail.contoso.local\r\nexch01,10.0.1.21,10.0.1.22\nEXCH02,127.0.1.2\n',
      'a.csv',
    );
    expect([...map]).toEqual([
      ['exch01', ['10.0.1.21', 'mail.contoso.local', '10.0.1.22']],
      ['exch02', ['127.0.1.2']],
    ]);
  });

  it('names the file and line of a row without an address or without a host', () => {
    expect(() => parseHostAddresses('EXCH01,10.0.1.21\nEXCH02\n', 'a.csv')).toThrow(
      new UsageError('a.csv:2: give at least one address after EXCH02'),
    );
    expect(() => parseHostAddresses(',10.0.1.21\n', 'a.csv')).toThrow(/^a\.csv:1: give a host name/);
    const many = `EXCH01,${Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`).join(',')}\n`;
    expect(() => parseHostAddresses(many, 'a.csv')).toThrow('a.csv:1: more than 20 addresses for EXCH01');
  });
});
