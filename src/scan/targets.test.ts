import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bigToV6, parseTargets, parseTargetsFile, shown, v6ToBig } from './targets.js';

describe('parseTargets', () => {
  it('parses URLs, names, IPv4, IPv6 and host:port', () => {
    const { targets, errors } = parseTargets([
      'https://Mail.Contoso.com:8443/owa',
      'http://10.0.0.5',
      'mail.contoso.com',
      '192.0.2.7:8080',
      '::1',
      '[::1]:8443',
      'https://[2001:db8::1]/',
      'exch01 sni=mail.contoso.com',
    ]);
    expect(errors).toEqual([]);
    expect(targets).toEqual([
      {
        input: 'https://Mail.Contoso.com:8443/owa',
        host: 'mail.contoso.com',
        scheme: 'https',
        port: 8443,
        path: '/owa',
      },
      { input: 'http://10.0.0.5', host: '10.0.0.5', scheme: 'http' },
      { input: 'mail.contoso.com', host: 'mail.contoso.com' },
      { input: '192.0.2.7:8080', host: '192.0.2.7', port: 8080 },
      { input: '::1', host: '::1' },
      { input: '[::1]:8443', host: '::1', port: 8443 },
      { input: 'https://[2001:db8::1]/', host: '2001:db8::1', scheme: 'https' },
      { input: 'exch01 sni=mail.contoso.com', host: 'exch01', sni: 'mail.contoso.com' },
    ]);
  });

  it('expands ports for bare targets only, and drops duplicates', () => {
    const { targets } = parseTargets(['a.test', 'a.test', 'b.test:9443', 'https://c.test'], {
      ports: [443, 8443],
    });
    expect(targets.map((t) => `${t.scheme ?? ''}|${t.host}:${t.port ?? ''}`)).toEqual([
      '|a.test:443',
      '|a.test:8443',
      '|b.test:9443',
      'https|c.test:',
    ]);
  });

  it('expands IPv4 CIDR without network and broadcast (/0–/30), all addresses for /31 and /32', () => {
    const r24 = parseTargets(['192.0.2.77/24']);
    expect(r24.errors).toEqual([]);
    expect(r24.targets).toHaveLength(254);
    expect(r24.targets[0]).toEqual({ input: '192.0.2.1', host: '192.0.2.1', range: '192.0.2.0/24' });
    expect(r24.targets.at(-1)?.host).toBe('192.0.2.254');
    expect(parseTargets(['10.1.1.1/31']).targets.map((t) => t.host)).toEqual(['10.1.1.0', '10.1.1.1']);
    expect(parseTargets(['10.1.1.9/32']).targets.map((t) => t.host)).toEqual(['10.1.1.9']);
    expect(parseTargets(['10.1.1.8/30']).targets.map((t) => t.host)).toEqual(['10.1.1.9', '10.1.1.10']);
  });

  it('expands IPv6 CIDR', () => {
    const r = parseTargets(['2001:db8::/126']);
    expect(r.targets.map((t) => t.host)).toEqual(['2001:db8::', '2001:db8::1', '2001:db8::2', '2001:db8::3']);
  });

  it('needs force above /20 and refuses above /16', () => {
    expect(parseTargets(['10.0.0.0/20']).targets).toHaveLength(4094);
    const big = parseTargets(['10.0.0.0/19']);
    expect(big.targets).toEqual([]);
    expect(big.errors[0]).toMatch(/^10\.0\.0\.0\/19: .*--force/);
    expect(parseTargets(['10.0.0.0/19'], { force: true }).targets).toHaveLength(8190);
    expect(parseTargets(['10.0.0.0/15'], { force: true }).errors[0]).toMatch(/even with --force/);
    expect(parseTargets(['2001:db8::/115']).errors[0]).toMatch(/--force/);
    expect(parseTargets(['2001:db8::/116']).targets).toHaveLength(4096);
  });

  it('reports bad entries with the input', () => {
    const bad = [
      'ftp://x.test',
      'https://user:pw@x.test',
      '999.1.1.1',
      'host:0',
      'host:70000',
      'a..b',
      '1:2:3',
      '[::1',
      'x.test/owa',
      '10.0.0.0/33',
      'a b',
      'host sni=bad..name',
    ];
    const { targets, errors } = parseTargets(bad);
    expect(targets).toEqual([]);
    expect(errors).toHaveLength(bad.length);
    bad.forEach((b, i) => {
      expect(errors[i]?.startsWith(`${b}: `)).toBe(true);
    });
  });

  it('parses files with comments and names file:line in errors', () => {
    const text = '# customers\nmail.a.test   # main\n\n  10.0.0.1:443\nnot a target\r\nhttps://b.test\n';
    const r = parseTargetsFile(text, 'targets.txt');
    expect(r.targets.map((t) => t.host)).toEqual(['mail.a.test', '10.0.0.1', 'b.test']);
    expect(r.errors).toEqual([
      'targets.txt:5: not a target: unexpected "a" (one target per entry; sni=NAME sets the TLS name)',
    ]);
  });

  it('round-trips IPv6 text forms', () => {
    for (const a of [
      '::',
      '::1',
      '1::',
      '2001:db8::1:0:0:1',
      'fe80::1:2',
      '1:2:3:4:5:6:7:8',
      '::ffff:192.0.2.1',
    ]) {
      const n = v6ToBig(a);
      expect(v6ToBig(bigToV6(n))).toBe(n);
    }
    expect(bigToV6(v6ToBig('2001:0db8:0000:0000:0001:0000:0000:0001'))).toBe('2001:db8::1:0:0:1');
  });

  it('never throws and every error names its input (fuzz)', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('https://', 'http://', '[', ']', ':', '/', '.', '::', '%', ' sni=', '#', '\n'),
      fc.ipV4(),
      fc.ipV6(),
      fc.domain(),
      fc.integer({ min: -1, max: 70000 }).map(String),
    );
    const entry = fc.array(piece, { maxLength: 6 }).map((xs) => xs.join(''));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), fc.boolean(), (texts, force) => {
        const r = parseTargets(texts, { force, ports: [443] });
        for (const e of r.errors) expect(texts.some((t) => e.startsWith(`${shown(t)}: `))).toBe(true);
        for (const t of r.targets) {
          expect(t.host.length).toBeGreaterThan(0);
          expect(t.port === undefined || (t.port >= 1 && t.port <= 65535)).toBe(true);
        }
        const f = parseTargetsFile(texts.join('\n'), 'f.txt', { force });
        for (const e of f.errors) expect(e).toMatch(/^f\.txt:\d+: /);
      }),
      { numRuns: 400 },
    );
  });

  it('fuzz: valid addresses always parse to themselves', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV6(), fc.integer({ min: 1, max: 65535 }), (v4, v6, port) => {
        const r = parseTargets([v4, `${v4}:${port}`, `[${v6}]:${port}`, v6]);
        expect(r.errors).toEqual([]);
        expect(r.targets[0]?.host).toBe(v4);
        expect(r.targets[1]?.port).toBe(port);
        expect(v6ToBig(r.targets[2]?.host ?? '')).toBe(v6ToBig(v6));
      }),
    );
  });
});
