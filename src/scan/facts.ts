/**
 * Scan results as asset facts, for `bulwark scan --push`: a host where Exchange answered becomes an asset running
 * the build it revealed. A CU-level build (the exact SU is not visible from outside) is pushed as the build the
 * scan judged with and tagged `scan:cu-level`, so nobody mistakes it for an inventory reading.
 */
import { type AssetFactsInput, EXCHANGE_PRODUCT } from '../core/index.js';
import type { HostResult } from './scan.js';

/** An asset id from the origin that answered: host and port, in the characters the server accepts. */
export function assetIdFor(r: HostResult): string {
  let host: string;
  try {
    const u = new URL(r.url);
    host = `${u.hostname.replace(/^\[|\]$/g, '')}${u.port ? `_${u.port}` : ''}`;
  } catch {
    host = r.target;
  }
  return (
    host
      .replace(/[^A-Za-z0-9._:-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 128) || 'unnamed'
  );
}

/** Whether a result has facts to push: a host that revealed an Exchange build. */
export function hasScanFacts(r: HostResult): boolean {
  const version = r.exact ? r.build : (r.judgedBuild ?? r.build);
  return Boolean(version) && r.state !== 'not_exchange' && r.state !== 'error';
}

/**
 * Facts for every host that revealed an Exchange build; others are left out (nothing known to push).
 * `boundTo[i]`, when given, is the existing asset result `i` updates (`--asset`, or the targets file's asset
 * column) instead of a `host_port` asset of its own.
 */
export function scanResultsToFacts(
  results: readonly HostResult[],
  boundTo: readonly (string | undefined)[] = [],
): AssetFactsInput[] {
  const out: AssetFactsInput[] = [];
  const seen = new Set<string>();
  for (const [i, r] of results.entries()) {
    const version = r.exact ? r.build : (r.judgedBuild ?? r.build);
    if (!version || !hasScanFacts(r)) continue;
    const id = boundTo[i] ?? assetIdFor(r);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({
      id,
      name: r.target,
      products: [{ product: EXCHANGE_PRODUCT, version }],
      endpoints: [r.url],
      tags: ['scan', `scan:${r.state}`, ...(r.exact ? [] : ['scan:cu-level'])],
    });
  }
  return out;
}
