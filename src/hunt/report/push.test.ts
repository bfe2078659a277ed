import { describe, expect, it } from 'vitest';
import type { HostReport } from '../assess.js';
import { hostReportUploads } from './push.js';

function host(over: Partial<HostReport>): HostReport {
  return {
    host: 'EXCH01',
    verdict: 'clean',
    summary: 'no sign of compromise',
    cves: [],
    first_seen: null,
    last_seen: null,
    counts: { context: 0, probe: 0, exploitation: 0, post_exploitation: 0 },
    attacker_ips: [],
    timeline: [],
    timeline_omitted: 0,
    coverage: [],
    next_steps: [],
    ...over,
  };
}

const coverage = (first: string | null, last: string | null) => ({
  source: 'HttpProxy/Ecp',
  type: 'exchange-httpproxy' as const,
  files: 1,
  bytes: 1,
  lines: 1,
  first,
  last,
  reaches_back: true,
});

describe('hostReportUploads', () => {
  it('carries verdict, the window the logs cover, and a bounded summary', () => {
    const [u] = hostReportUploads({
      hosts: [
        host({
          verdict: 'compromised',
          summary: 's'.repeat(800),
          cves: Array.from({ length: 30 }, (_, i) => `CVE-2021-${String(26000 + i)}`),
          attacker_ips: Array.from({ length: 25 }, (_, i) => ({
            ip: `192.0.2.${i}`,
            first: null,
            last: null,
            findings: 1,
            worst: 'exploitation' as const,
          })),
          counts: { context: 0, probe: 1, exploitation: 2, post_exploitation: 3 },
          coverage: [
            coverage('2021-01-02T00:00:00Z', '2021-01-05T00:00:00Z'),
            coverage('2021-01-01T00:00:00Z', null),
            coverage(null, '2021-01-09T00:00:00Z'),
          ],
        }),
      ],
    });
    expect(u!.verdict).toBe('compromised');
    expect(u!.window).toEqual({ from: '2021-01-01T00:00:00Z', to: '2021-01-09T00:00:00Z' });
    expect(u!.summary.text.length).toBeLessThanOrEqual(500);
    expect(u!.summary.cves).toHaveLength(20);
    expect(u!.summary.attacker_ips).toHaveLength(20);
    expect(u!.summary.counts).toEqual({ context: 0, probe: 1, exploitation: 2, post_exploitation: 3 });
    expect(u).not.toHaveProperty('addresses');
  });

  it('adds the addresses a host is known by (any case of its name); no logs with times: an open window', () => {
    const uploads = hostReportUploads(
      { hosts: [host({ host: 'Exch01' }), host({ host: 'EXCH02', verdict: 'insufficient_logs' })] },
      new Map([['exch01', ['10.0.1.21', 'mail.contoso.local']]]),
    );
    expect(uploads[0]!.addresses).toEqual(['10.0.1.21', 'mail.contoso.local']);
    expect(uploads[1]).not.toHaveProperty('addresses');
    expect(uploads[1]!.window).toEqual({ from: null, to: null });
    expect(uploads[1]!.summary).not.toHaveProperty('cves');
  });
});
