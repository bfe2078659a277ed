import { describe, expect, it } from 'vitest';
import { scanObservations } from './observations.js';
import type { HostResult } from './scan.js';

const AT = '2026-01-02T03:04:05.000Z';
const CTX = {
  advisoryId: 'proxylogon-2021-03',
  advisoryCves: ['CVE-2021-26855', 'CVE-2021-27065'],
  observedAt: AT,
};

function result(over: Partial<HostResult>): HostResult {
  return {
    target: 'mail.example',
    url: 'https://mail.example',
    state: 'unknown',
    build: '15.1.2176.2',
    exact: true,
    method: 'x-owa-version',
    vulnerable: [],
    verdicts: [],
    judgedBuild: '15.1.2176.2',
    check: 'not_vulnerable',
    tls: null,
    findings: [],
    evidence: ['GET /owa/auth/x.js with routing cookies: 404'],
    error: null,
    ms: 1,
    ...over,
  };
}

describe('scanObservations', () => {
  it('maps a routed check to unshielded and unpatched, an aborted one to shielded, a fixed build to patched', () => {
    const obs = scanObservations(
      [
        result({ state: 'vulnerable', check: 'vulnerable', vulnerable: ['CVE-2021-26855'] }),
        result({ state: 'shielded', check: 'aborted' }),
        result({ state: 'patched', build: '15.1.2176.9' }),
      ],
      ['a', 'b', 'c'],
      CTX,
    );
    expect(obs.map((o) => [o.asset_id, o.kind, o.value])).toEqual([
      ['a', 'shield', 'unshielded'],
      ['a', 'patch', 'unpatched'],
      ['b', 'shield', 'shielded'],
      ['c', 'patch', 'patched'],
    ]);
    for (const o of obs) {
      expect(o).toMatchObject({ advisory_id: 'proxylogon-2021-03', source: 'scan', observed_at: AT });
      expect(o.summary?.url).toBe('https://mail.example');
    }
    expect(obs[0]!.summary).toMatchObject({ check: 'vulnerable', cves: ['CVE-2021-26855'] });
  });

  it('records nothing for unreachable, undecided or non-Exchange hosts, nor for hosts without an asset', () => {
    const obs = scanObservations(
      [
        result({ state: 'error', check: 'error', build: null }),
        result({ state: 'unknown', check: 'inconclusive' }),
        result({ state: 'not_exchange', check: 'skipped', build: null }),
        result({ state: 'vulnerable', check: 'vulnerable', vulnerable: ['CVE-2021-26855'] }),
      ],
      ['a', 'b', 'c', undefined],
      CTX,
    );
    expect(obs).toEqual([]);
  });

  it('says nothing of the shield when the check did not route, and nothing of a CVE outside the advisory', () => {
    const passive = scanObservations(
      [result({ state: 'vulnerable', check: 'skipped', vulnerable: ['CVE-2021-26855'] })],
      ['a'],
      CTX,
    );
    expect(passive.map((o) => [o.kind, o.value])).toEqual([['patch', 'unpatched']]);
    const other = scanObservations(
      [result({ state: 'vulnerable', check: 'not_vulnerable', vulnerable: ['CVE-2022-41040'] })],
      ['a'],
      CTX,
    );
    expect(other).toEqual([]);
  });

  it('keeps the first result of an asset and bounds what a server could make long', () => {
    const long = `https://x.example/${'a'.repeat(600)}`;
    const obs = scanObservations(
      [
        result({ state: 'shielded', check: 'aborted', url: long, evidence: ['e'.repeat(900)] }),
        result({ state: 'patched' }),
      ],
      ['a', 'a'],
      CTX,
    );
    expect(obs).toHaveLength(1);
    expect(obs[0]!.summary!.url!.length).toBeLessThanOrEqual(500);
    expect(obs[0]!.summary!.text.length).toBeLessThanOrEqual(500);
  });
});
