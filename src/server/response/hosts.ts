/**
 * Which asset a hunt's host report is about. In order: the asset whose id equals the host (case-insensitive), else
 * the asset whose name equals it, else the asset with an endpoint at one of the report's addresses or at the host
 * itself. Two assets at the same step make the host ambiguous; a host no step matches is unmatched. Every host
 * comes back one way or the other, none is dropped.
 */

export interface MatchableAsset {
  id: string;
  name: string | null;
  /** The hosts of the asset's endpoints (lower case); undefined when not loaded. */
  addresses?: readonly string[];
}

export type HostMatch = { assetId: string } | { reason: string };

/** The host (lower case) of an endpoint: a URL's host name, `host:port`'s host, `[v6]:port`'s address, or as is. */
export function endpointHost(endpoint: string): string {
  const e = endpoint.trim();
  if (e.includes('://')) {
    try {
      return new URL(e).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      return e.toLowerCase();
    }
  }
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const hostPort = /^([^:]+):\d+$/.exec(e);
  if (hostPort) return hostPort[1]!.toLowerCase();
  return e.toLowerCase();
}

/** The ids listed in an ambiguity reason at most. */
const MAX_LISTED = 10;

function pick(candidates: readonly string[]): HostMatch | undefined {
  const ids = [...new Set(candidates)].sort();
  if (ids.length === 1) return { assetId: ids[0]! };
  if (ids.length > 1)
    return {
      reason: `ambiguous: ${ids.slice(0, MAX_LISTED).join(', ')}${ids.length > MAX_LISTED ? `, … (${ids.length} assets)` : ''}`,
    };
  return undefined;
}

export class HostMatcher {
  private readonly byId = new Map<string, string[]>();
  private readonly byName = new Map<string, string[]>();
  private readonly byAddress = new Map<string, string[]>();

  constructor(assets: readonly MatchableAsset[]) {
    const add = (m: Map<string, string[]>, k: string, id: string) => {
      const list = m.get(k);
      if (list) list.push(id);
      else m.set(k, [id]);
    };
    for (const a of assets) {
      add(this.byId, a.id.toLowerCase(), a.id);
      if (a.name) add(this.byName, a.name.toLowerCase(), a.id);
      for (const address of a.addresses ?? []) add(this.byAddress, address, a.id);
    }
  }

  /** Whether id or name alone settles the host (so addresses need not be loaded). */
  settledByIdOrName(host: string): boolean {
    const h = host.toLowerCase();
    return this.byId.has(h) || this.byName.has(h);
  }

  match(host: string, addresses: readonly string[] = []): HostMatch {
    const h = host.toLowerCase();
    const byId = pick(this.byId.get(h) ?? []);
    if (byId) return byId;
    const byName = pick(this.byName.get(h) ?? []);
    if (byName) return byName;
    const wanted = [...new Set([h, ...addresses.map((a) => endpointHost(a))])];
    const byAddress = pick(wanted.flatMap((a) => this.byAddress.get(a) ?? []));
    if (byAddress) return byAddress;
    return { reason: 'no asset has this id, name or address' };
  }
}
