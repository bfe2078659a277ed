import { describe, expect, it } from 'vitest';
import { isCveId } from './cve.js';
import { inCidr, isLoopback, parseCidr, parseIp } from './net.js';

describe('isLoopback', () => {
  it('is localhost, 127.0.0.0/8 and ::1 in any spelling', () => {
    for (const h of [
      'localhost',
      '127.0.0.1',
      '127.255.3.4',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopback(h), h).toBe(true);
  });
  it('is nothing else', () => {
    for (const h of [
      '10.0.0.1',
      '0.0.0.0',
      '::',
      '::2',
      '::ffff:10.0.0.1',
      'example.org',
      '127.0.0.1.nip.io',
      '',
      '0127.0.0.1',
    ])
      expect(isLoopback(h), h).toBe(false);
  });
});

describe('CIDR', () => {
  it('an IPv4 range matches the IPv4 and IPv4-mapped forms, not other IPv6', () => {
    const r = parseCidr('10.0.0.0/8')!;
    expect(inCidr(r, parseIp('10.1.2.3')!.bytes)).toBe(true);
    expect(inCidr(r, parseIp('::ffff:10.1.2.3')!.bytes)).toBe(true);
    expect(inCidr(r, parseIp('11.0.0.1')!.bytes)).toBe(false);
    expect(inCidr(r, parseIp('2001:db8::1')!.bytes)).toBe(false);
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseIp('1.2.3')).toBeNull();
  });
});

describe('isCveId', () => {
  it('is CVE-year-number with four or more digits', () => {
    expect(isCveId('CVE-2021-26855')).toBe(true);
    expect(isCveId('CVE-2021-1234567')).toBe(true);
    expect(isCveId('cve-2021-26855')).toBe(false);
    expect(isCveId('cve-2021-26855', true)).toBe(true);
    expect(isCveId('CVE-21-26855')).toBe(false);
    expect(isCveId('CVE-2021-123')).toBe(false);
  });
});
