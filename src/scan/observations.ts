/**
 * Scan results as response observations, for `bulwark scan --push`: what one scan saw of a server's shield and patch
 * for the advisory whose CVE the active check tests (CHECK_CVE).
 *
 * - check `vulnerable` (the server routed the request to localhost): shield `unshielded`;
 * - state `shielded` (the check request was aborted): shield `shielded`;
 * - state `vulnerable` by a CVE of the advisory (check or build): patch `unpatched`;
 * - state `patched`: patch `patched`.
 * Nothing else is recorded: an unreachable or undecided host (`error`, `unknown`, `not_exchange`) says nothing
 * about either, and a vulnerable build whose check did not run or did not route says nothing about the shield.
 */
import type { Observation } from '../api/index.js';
import type { HostResult } from './scan.js';

export interface ScanObservationContext {
  /** The advisory the check belongs to, and its CVE ids. */
  advisoryId: string;
  advisoryCves: readonly string[];
  /** When the scan ran (ISO date-time). */
  observedAt: string;
}

const TEXT_MAX = 500;
const URL_MAX = 500;
const CVES_MAX = 20;

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * Observations of every result that has an asset (`assetIds[i]`, undefined: none), in result order. A second
 * result for the same asset adds nothing: the first one is what the scan says of it, as with its facts.
 */
export function scanObservations(
  results: readonly HostResult[],
  assetIds: readonly (string | undefined)[],
  ctx: ScanObservationContext,
): Observation[] {
  const out: Observation[] = [];
  const seen = new Set<string>();
  const ofAdvisory = new Set(ctx.advisoryCves);
  for (const [i, r] of results.entries()) {
    const asset = assetIds[i];
    if (asset === undefined || seen.has(asset)) continue;
    seen.add(asset);
    const cves = r.vulnerable.filter((c) => ofAdvisory.has(c)).slice(0, CVES_MAX);
    const observe = (kind: 'shield' | 'patch', value: Observation['value'], text: string) =>
      out.push({
        asset_id: asset,
        advisory_id: ctx.advisoryId,
        kind,
        value,
        source: 'scan',
        observed_at: ctx.observedAt,
        summary: {
          text: clip(text, TEXT_MAX),
          check: r.check,
          url: clip(r.url, URL_MAX),
          ...(cves.length ? { cves } : {}),
        },
      });
    const evidence = r.evidence.join('; ');
    if (r.state === 'shielded') observe('shield', 'shielded', `check request aborted: ${evidence}`);
    else if (r.check === 'vulnerable')
      observe('shield', 'unshielded', `check routed to the back end: ${evidence}`);
    if (r.state === 'vulnerable' && cves.length)
      observe('patch', 'unpatched', `vulnerable to ${cves.join(' ')}${r.build ? ` (build ${r.build})` : ''}`);
    else if (r.state === 'patched')
      observe(
        'patch',
        'patched',
        `not vulnerable${r.build ? `: build ${r.build}` : ''}${evidence ? `; ${evidence}` : ''}`,
      );
  }
  return out;
}
