/**
 * Exchange fingerprinting over the unauthenticated methods of proxylogon.md §3.2:
 * 1. `GET /owa/` (following same-origin redirects, max 3) → logon page markers, `X-OWA-Version`, resource paths
 *    (`/owa/auth/<15.x.y>/` = CU level on 2013+, `/owa/<14.x.y.z>/` = exact on 2010);
 *    if that chain shows no logon page, `GET /owa/auth/logon.aspx` directly once.
 * 2. `GET /ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application` → ClickOnce `version`.
 * 3. With only a CU-level build: probe `/ecp/<candidate>/exporttool/…application` for the catalog's builds of that
 *    CU (highest first, at most `maxCandidates`); the first 200 that looks like the manifest is the exact build.
 *
 * Precedence for the decided build: X-OWA-Version (4 parts) > exporttool manifest > exact resource path (2010)
 * > ECP build probe > CU-level resource path. A CU-level result reports `build` as the 3-part CU string
 * (e.g. `15.1.2176`) with `exact: false` and `cu` set; nothing is invented.
 */
import type { HttpOutcome } from './http.js';

export type FingerprintMethod =
  | 'x-owa-version'
  | 'exporttool-manifest'
  | 'ecp-build-probe'
  | 'owa-resource-path';

export interface Fingerprint {
  /** Some HTTP response came back on the first request chain. */
  answered: boolean;
  /** The first request's failure when nothing answered. */
  failure: Extract<HttpOutcome, { kind: 'error' | 'aborted' }> | null;
  exchange: boolean;
  build: string | null;
  exact: boolean;
  method: FingerprintMethod | null;
  /** The 3-part CU build when known (from a resource path or the exact build). */
  cu: string | null;
  evidence: string[];
  /** The first (logon page) response was cut at the body limit. */
  truncated: boolean;
}

export type Get = (path: string, headers?: Record<string, string>) => Promise<HttpOutcome>;

export interface FingerprintOptions {
  /** Catalog builds of a CU (`15.1.2176` → [`15.1.2176.9`, …, `15.1.2176.2`]), highest first. */
  candidates?: (cu: string) => string[];
  /** Turns a Location header into a same-origin path, or null to stop following. Default: relative paths only. */
  redirectPath?: (location: string) => string | null;
  maxCandidates?: number;
  maxRedirects?: number;
}

export const MANIFEST_FILE = 'microsoft.exchange.ediscovery.exporttool.application';
export const MANIFEST_CURRENT = `/ecp/Current/exporttool/${MANIFEST_FILE}`;
export const LOGON_MARKERS = [
  'function IsOwaPremiumBrowser',
  'To use Outlook, browser settings must allow scripts to run.',
  '<!-- OwaPage = ASP.auth_logon_aspx -->',
  '<title>Outlook Web App</title>',
  '<title>Outlook</title>',
];

/** `15.01.2176.009` → `15.1.2176.9`; null unless 3 or 4 numeric parts. */
export function normaliseBuild(s: string): string | null {
  const parts = s.trim().split('.');
  if (parts.length < 3 || parts.length > 4) return null;
  if (!parts.every((p) => /^\d{1,6}$/.test(p))) return null;
  return parts.map((p) => String(Number(p))).join('.');
}

function cuOf(build: string): string {
  return build.split('.').slice(0, 3).join('.');
}

export function manifestVersion(body: string): string | null {
  for (const m of body.matchAll(/<assemblyIdentity\b[^>]*>/gi)) {
    const tag = m[0];
    if (!/exporttool/i.test(tag)) continue;
    const v = /\bversion\s*=\s*["']([0-9.]+)["']/i.exec(tag);
    if (v?.[1]) return normaliseBuild(v[1]);
  }
  return null;
}

const RESOURCE_2013 = /\/owa\/auth\/(\d+\.\d+\.\d+(?:\.\d+)?)\//gi;
const RESOURCE_2010 = /\/owa\/(\d+\.\d+\.\d+\.\d+)\//gi;

function resourceBuilds(body: string): string[] {
  const out: string[] = [];
  for (const re of [RESOURCE_2013, RESOURCE_2010]) {
    for (const m of body.matchAll(re)) {
      const b = normaliseBuild(m[1] ?? '');
      if (b && !out.includes(b)) out.push(b);
    }
  }
  return out;
}

function outcomeText(o: HttpOutcome): string {
  if (o.kind === 'response') return `${o.status}`;
  if (o.kind === 'aborted') return 'connection closed without a response';
  return `${o.code}: ${o.message}`;
}

export async function fingerprint(get: Get, opts: FingerprintOptions = {}): Promise<Fingerprint> {
  const evidence: string[] = [];
  const maxRedirects = opts.maxRedirects ?? 3;
  const redirectPath = opts.redirectPath ?? ((loc: string) => (/^\/(?!\/)/.test(loc) ? loc : null));
  const seen: { owa: string | null } = { owa: null };
  const markers = new Set<string>();
  const paths: string[] = [];

  const analyse = (path: string, o: Extract<HttpOutcome, { kind: 'response' }>) => {
    const v = o.headers['x-owa-version'];
    if (v !== undefined) {
      const b = normaliseBuild(v);
      evidence.push(`GET ${path}: X-OWA-Version: ${v.slice(0, 40)}`);
      if (b && seen.owa === null) seen.owa = b;
    }
    for (const mk of LOGON_MARKERS) {
      if (o.body.includes(mk) && !markers.has(mk)) {
        markers.add(mk);
        evidence.push(`GET ${path}: logon page marker "${mk}"`);
      }
    }
    for (const b of resourceBuilds(o.body)) {
      if (!paths.includes(b)) {
        paths.push(b);
        evidence.push(`GET ${path}: resource path build ${b}`);
      }
    }
  };

  // 1. /owa/ and its same-origin redirects.
  let path: string | null = '/owa/';
  let first: HttpOutcome | null = null;
  let truncated = false;
  for (let hop = 0; path !== null && hop <= maxRedirects; hop++) {
    const o: HttpOutcome = await get(path);
    if (first === null) first = o;
    if (o.kind !== 'response') {
      if (hop === 0) {
        return {
          answered: false,
          failure: o,
          exchange: false,
          build: null,
          exact: false,
          method: null,
          cu: null,
          evidence: [`GET ${path}: ${outcomeText(o)}`],
          truncated: false,
        };
      }
      evidence.push(`GET ${path}: ${outcomeText(o)}`);
      break;
    }
    if (o.truncated) truncated = true;
    const loc = o.headers.location;
    evidence.push(`GET ${path}: ${o.status}${loc ? ` → ${loc.slice(0, 200)}` : ''}`);
    analyse(path, o);
    path = o.status >= 300 && o.status < 400 && loc ? redirectPath(loc) : null;
  }
  if (markers.size === 0 && paths.length === 0) {
    const p = '/owa/auth/logon.aspx?replaceCurrent=1';
    const o = await get(p);
    evidence.push(`GET ${p}: ${outcomeText(o)}`);
    if (o.kind === 'response') analyse(p, o);
  }
  const exchange = markers.size > 0 || seen.owa !== null || paths.length > 0;
  const result: Fingerprint = {
    answered: true,
    failure: null,
    exchange,
    build: null,
    exact: false,
    method: null,
    cu: null,
    evidence,
    truncated,
  };
  if (!exchange) return result;

  // 2. The ClickOnce manifest, unless X-OWA-Version already gave the exact build (one request less per host).
  let manifest: string | null = null;
  if (seen.owa !== null && seen.owa.split('.').length === 4) {
    evidence.push(`${MANIFEST_CURRENT} not requested: X-OWA-Version gave the exact build`);
  } else {
    const m = await get(MANIFEST_CURRENT);
    if (m.kind === 'response' && m.status === 200) {
      manifest = manifestVersion(m.body);
      evidence.push(`GET ${MANIFEST_CURRENT}: 200, version ${manifest ?? 'not found'}`);
    } else {
      evidence.push(`GET ${MANIFEST_CURRENT}: ${outcomeText(m)}`);
    }
  }

  const pathExact = paths.find((b) => b.split('.').length === 4) ?? null;
  const pathCu = paths.find((b) => b.split('.').length === 3) ?? null;
  const owa4 = seen.owa !== null && seen.owa.split('.').length === 4 ? seen.owa : null;
  const decide = (build: string, exact: boolean, method: FingerprintMethod) => {
    result.build = build;
    result.exact = exact;
    result.method = method;
    result.cu = cuOf(build);
  };
  if (owa4 && manifest && owa4 !== manifest) {
    evidence.push(
      `X-OWA-Version ${owa4} differs from the exporttool manifest ${manifest}; using X-OWA-Version`,
    );
  }
  if (owa4) decide(owa4, true, 'x-owa-version');
  else if (manifest && manifest.split('.').length === 4) decide(manifest, true, 'exporttool-manifest');
  else if (pathExact) decide(pathExact, true, 'owa-resource-path');
  if (result.build !== null) return result;

  // 3. CU level only: brute-force the CU's builds through the versioned ECP path.
  const cu = pathCu ?? seen.owa ?? manifest;
  const cuMethod: FingerprintMethod = pathCu
    ? 'owa-resource-path'
    : seen.owa
      ? 'x-owa-version'
      : 'exporttool-manifest';
  if (cu === null) return result;
  const cands = (opts.candidates?.(cu) ?? [])
    .map((c) => normaliseBuild(c))
    .filter((c): c is string => c !== null && c.split('.').length === 4 && cuOf(c) === cu)
    .slice(0, opts.maxCandidates ?? 64);
  let tried = 0;
  for (const c of cands) {
    const p = `/ecp/${c}/exporttool/${MANIFEST_FILE}`;
    const o = await get(p);
    tried++;
    if (o.kind !== 'response') {
      evidence.push(`GET ${p}: ${outcomeText(o)}; build probing stopped`);
      break;
    }
    if (o.status !== 200) continue;
    const v = manifestVersion(o.body);
    const looksLikeManifest = v !== null || /x-ms-application/i.test(o.headers['content-type'] ?? '');
    if (!looksLikeManifest || (v !== null && v !== c)) {
      evidence.push(`GET ${p}: 200 but not the manifest of ${c} (version ${v ?? 'none'}); ignored`);
      continue;
    }
    evidence.push(`GET ${p}: 200 → build ${c} installed`);
    decide(c, true, 'ecp-build-probe');
    return result;
  }
  if (cands.length > 0)
    evidence.push(`ECP build probe: ${tried} of ${cands.length} candidates of CU ${cu}, none answered`);
  else evidence.push(`ECP build probe: no catalog builds known for CU ${cu}`);
  decide(cu, false, cuMethod);
  return result;
}
