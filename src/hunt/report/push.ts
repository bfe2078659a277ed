/**
 * A hunt's host reports as a Bulwark server takes them (`POST …/hunt-reports`, for `bulwark hunt --push`): per
 * server its verdict, the time the examined logs cover, and a bounded evidence summary. The full timeline stays in
 * the local report; the server keeps what the response board shows.
 */
import type { HuntReport } from '../../api/index.js';
import type { HostReport } from '../assess.js';
import type { HuntResult } from './model.js';

const TEXT_MAX = 500;
const LIST_MAX = 20;

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Earliest and latest record of the logs examined for this server (null when none had timestamps). */
function windowOf(report: HostReport): HuntReport['window'] {
  let from: string | null = null;
  let to: string | null = null;
  for (const c of report.coverage) {
    if (c.first && (from === null || c.first < from)) from = c.first;
    if (c.last && (to === null || c.last > to)) to = c.last;
  }
  return { from, to };
}

/**
 * One upload per host of the hunt, in its order. `addresses` maps a host name to the addresses it is known by
 * (so it matches an asset registered by address, e.g. by a scan); hosts without an entry go without.
 */
export function hostReportUploads(
  result: Pick<HuntResult, 'hosts'>,
  addresses: ReadonlyMap<string, readonly string[]> = new Map(),
): HuntReport[] {
  return result.hosts.map((h) => {
    const known = addresses.get(h.host.toLowerCase());
    const cves = h.cves.slice(0, LIST_MAX);
    const ips = h.attacker_ips.slice(0, LIST_MAX).map((a) => a.ip);
    return {
      host: h.host,
      ...(known?.length ? { addresses: [...known].slice(0, LIST_MAX) } : {}),
      verdict: h.verdict,
      window: windowOf(h),
      summary: {
        text: clip(h.summary, TEXT_MAX),
        ...(cves.length ? { cves } : {}),
        ...(ips.length ? { attacker_ips: ips } : {}),
        counts: { ...h.counts },
      },
    };
  });
}
