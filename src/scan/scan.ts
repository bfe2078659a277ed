/**
 * The scan driver: a bounded worker pool over targets, a per-host connection limit, scheme/port fallback,
 * bounded retries, fingerprint → active check → verdict → host state. Every target yields exactly one
 * HostResult (never a throw), streamed through `onResult` as it finishes.
 *
 * Per target: a URL target uses its scheme and port only; otherwise each port (given, or 443 then 80) is tried with
 * HTTPS first and HTTP second (same port when one was given). The next endpoint is tried when nothing answered on
 * this one (connect/TLS/protocol error or timeout); an unresolvable name stops at once.
 * Retries (default 1, with 200 ms × attempt back-off): only for connect-phase timeouts, resets and unreachable
 * networks — not for refused connections, TLS failures, protocol errors or a response deadline.
 *
 * States (the `state` field of the JSON and CSV output, docs/scan.md):
 * - error: no HTTP answer on any endpoint (or only a body over the size limit without Exchange markers);
 * - not_exchange: answered, no Exchange markers;
 * - patched: exact build the engine finds not affected by anything, or a CU whose RTM build is already fixed
 *   (whole CU fixed) — this wins over an aborted check (patched and still mitigated);
 * - shielded: the check request was aborted while the fingerprint requests were answered;
 * - vulnerable: the check says so, or an exact build the engine judges affected (by any CVE; the check only
 *   tests CVE-2021-26855), or every catalog build of the CU is affected;
 * - patched (again): check says not vulnerable, a build (at least its CU) was found, and it is not known to be
 *   affected;
 * - unknown: Exchange, but neither the check nor the build decides (e.g. CU-level build with --passive, no build
 *   at all, or a check answered by a catch-all page); a finding says why.
 */
import { CHECK_CVE, type CheckVerdict, proxyLogonCheck } from './check.js';
import { type Fingerprint, type FingerprintMethod, fingerprint, normaliseBuild } from './fingerprint.js';
import {
  DEFAULT_MAX_BODY,
  DEFAULT_TIMEOUT_MS,
  type Endpoint,
  type HttpOutcome,
  hostForUrl,
  httpRequest,
  type LookupFn,
  originOf,
  type TlsInfo,
} from './http.js';
import type { Target } from './targets.js';

export type HostState = 'vulnerable' | 'patched' | 'shielded' | 'not_exchange' | 'unknown' | 'error';

export interface Judgement {
  vulnerable: string[];
  verdicts: unknown[];
}

export interface HostResult {
  /** The target as given (for CIDR ranges: the address). */
  target: string;
  /** The origin that answered (or the last one tried). */
  url: string;
  state: HostState;
  build: string | null;
  exact: boolean;
  method: FingerprintMethod | null;
  /** CVE ids. */
  vulnerable: string[];
  verdicts: unknown[];
  /** The build handed to the exposure engine (for CU-level results: the CU's lowest catalog build), or null. */
  judgedBuild: string | null;
  check: CheckVerdict | 'skipped';
  tls: TlsInfo | null;
  findings: string[];
  evidence: string[];
  error: string | null;
  ms: number;
}

export interface ScanOptions {
  concurrency?: number;
  perHost?: number;
  timeoutMs?: number;
  connectTimeoutMs?: number;
  retries?: number;
  passive?: boolean;
  maxBodyBytes?: number;
  judge: (build: string) => Judgement;
  candidates: (cu: string) => string[];
  now?: Date;
  lookup?: LookupFn;
  onResult?: (r: HostResult) => void;
}

export const DEFAULT_CONCURRENCY = 64;
export const DEFAULT_PER_HOST = 2;
export const DEFAULT_RETRIES = 1;

/** Counting semaphore per host name/address. */
class HostLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  constructor(private readonly limit: number) {}

  async run<T>(host: string, fn: () => Promise<T>): Promise<T> {
    const n = this.active.get(host) ?? 0;
    if (n >= this.limit) {
      await new Promise<void>((resolve) => {
        const q = this.waiting.get(host) ?? [];
        q.push(resolve);
        this.waiting.set(host, q);
      });
    } else {
      this.active.set(host, n + 1);
    }
    try {
      return await fn();
    } finally {
      const q = this.waiting.get(host);
      const next = q?.shift();
      if (q && q.length === 0) this.waiting.delete(host);
      if (next) next();
      else {
        const left = (this.active.get(host) ?? 1) - 1;
        if (left <= 0) this.active.delete(host);
        else this.active.set(host, left);
      }
    }
  }
}

function retryable(o: HttpOutcome): boolean {
  if (o.kind !== 'error') return false;
  if (o.phase !== 'dns' && o.phase !== 'connect') return false;
  return o.code === 'ETIMEDOUT' || o.code === 'ECONNRESET' || o.code === 'EUNREACH';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function endpointsFor(t: Target): Endpoint[] {
  const base = { host: t.host, ...(t.sni !== undefined ? { sni: t.sni } : {}) };
  if (t.scheme) return [{ ...base, scheme: t.scheme, port: t.port ?? (t.scheme === 'https' ? 443 : 80) }];
  if (t.port !== undefined) {
    return [
      { ...base, scheme: 'https', port: t.port },
      { ...base, scheme: 'http', port: t.port },
    ];
  }
  return [
    { ...base, scheme: 'https', port: 443 },
    { ...base, scheme: 'http', port: 80 },
  ];
}

function failureText(o: Fingerprint['failure']): string {
  if (!o) return 'no response';
  if (o.kind === 'aborted') return 'connection closed without a response';
  return `${o.code}: ${o.message}`;
}

function tlsFindings(tls: TlsInfo, t: Target): string[] {
  const out: string[] = [];
  if (tls.expired) out.push(`certificate expired ${(tls.validTo ?? '').slice(0, 10)}`);
  if (tls.notYetValid) out.push(`certificate not valid before ${(tls.validFrom ?? '').slice(0, 10)}`);
  if (tls.selfSigned) out.push('certificate is self-signed');
  const named = t.sni !== undefined || !/^[0-9.]+$|:/.test(t.host);
  if (named && tls.nameMismatch) out.push(`certificate does not match ${t.sni ?? t.host}`);
  if (tls.protocol && /^(TLSv1|TLSv1\.1|SSLv3)$/.test(tls.protocol))
    out.push(`legacy protocol ${tls.protocol}`);
  return out;
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

export async function scanTargets(targets: Target[], opts: ScanOptions): Promise<HostResult[]> {
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? DEFAULT_CONCURRENCY));
  const limiter = new HostLimiter(Math.max(1, Math.floor(opts.perHost ?? DEFAULT_PER_HOST)));
  const results: HostResult[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= targets.length) return;
      const t = targets[i] as Target;
      const r = await scanTarget(t, opts, limiter);
      results[i] = r;
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return results;
}

/** Scans one target; never throws. */
export async function scanOne(t: Target, opts: ScanOptions): Promise<HostResult> {
  return scanTarget(t, opts, new HostLimiter(Math.max(1, opts.perHost ?? DEFAULT_PER_HOST)));
}

async function scanTarget(t: Target, opts: ScanOptions, limiter: HostLimiter): Promise<HostResult> {
  const started = Date.now();
  const base: HostResult = {
    target: t.input,
    url: '',
    state: 'error',
    build: null,
    exact: false,
    method: null,
    vulnerable: [],
    verdicts: [],
    judgedBuild: null,
    check: 'skipped',
    tls: null,
    findings: [],
    evidence: [],
    error: null,
    ms: 0,
  };
  try {
    const r = await scanTargetInner(t, opts, limiter, base);
    r.ms = Date.now() - started;
    return r;
  } catch (err) {
    return {
      ...base,
      state: 'error',
      error: `internal error: ${(err as Error).message}`,
      ms: Date.now() - started,
    };
  }
}

async function scanTargetInner(
  t: Target,
  opts: ScanOptions,
  limiter: HostLimiter,
  r: HostResult,
): Promise<HostResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = Math.max(0, Math.floor(opts.retries ?? DEFAULT_RETRIES));
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const failures: string[] = [];

  for (const ep of endpointsFor(t)) {
    const origin = originOf(ep);
    r.url = `${origin}/`;
    const seen: { tls: TlsInfo | null } = { tls: null };
    const get = async (path: string, headers?: Record<string, string>): Promise<HttpOutcome> => {
      let o: HttpOutcome = {
        kind: 'error',
        code: 'OTHER',
        phase: 'dns',
        message: 'not sent',
        tls: null,
        ms: 0,
      };
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await sleep(200 * attempt);
        o = await limiter.run(t.host, () =>
          httpRequest(ep, {
            path,
            ...(headers ? { headers } : {}),
            timeoutMs,
            ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
            maxBodyBytes: maxBody,
            ...(opts.lookup ? { lookup: opts.lookup } : {}),
            ...(opts.now ? { now: opts.now } : {}),
          }),
        );
        if (!retryable(o)) break;
      }
      if (seen.tls === null && o.tls) seen.tls = o.tls;
      return o;
    };
    const names = new Set([t.host.toLowerCase(), ...(t.sni ? [t.sni.toLowerCase()] : [])]);
    const redirectPath = (loc: string): string | null => {
      if (/^\/(?!\/)/.test(loc)) return loc;
      try {
        const u = new URL(loc);
        const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
        const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
        if (u.protocol !== `${ep.scheme}:` || port !== ep.port) return null;
        if (!names.has(host) && hostForUrl(host) !== hostForUrl(t.host)) return null;
        return `${u.pathname}${u.search}`;
      } catch {
        return null;
      }
    };

    const fp = await fingerprint(get, { candidates: opts.candidates, redirectPath });
    if (!fp.answered) {
      failures.push(`${origin}: ${failureText(fp.failure)}`);
      if (fp.failure?.kind === 'error' && fp.failure.code === 'ENOTFOUND') break;
      continue;
    }
    if (failures.length > 0) r.findings.push(`answered only on ${origin} (${failures.join('; ')})`);
    r.tls = seen.tls;
    if (seen.tls) r.findings.push(...tlsFindings(seen.tls, t));
    r.evidence = fp.evidence;
    if (fp.truncated) r.findings.push(`response body cut at ${maxBody} bytes`);
    if (!fp.exchange) {
      if (fp.truncated) {
        r.state = 'error';
        r.error = `response body larger than ${maxBody} bytes and no Exchange markers in the first ${maxBody}`;
      } else {
        r.state = 'not_exchange';
      }
      return r;
    }
    return classify(r, fp, opts, get);
  }
  r.state = 'error';
  r.error = failures.join('; ') || 'no endpoint to try';
  return r;
}

function unknownReason(check: HostResult['check'], build: string | null): string {
  const what = build
    ? `build ${build} does not decide (a CU-level build with affected and fixed builds, or one the engine could not judge)`
    : 'no build found';
  switch (check) {
    case 'skipped':
      return `unknown: ${what}, and the active check was not run (--passive)`;
    case 'inconclusive':
      return `unknown: ${what}, and the active check was answered by a page served for any path (catch-all), which proves nothing`;
    case 'not_vulnerable':
      return `unknown: ${what}; the active check found no SSRF, but without a build that does not show the server is patched`;
    default:
      return `unknown: ${what}, and the active check failed`;
  }
}

async function classify(
  r: HostResult,
  fp: Fingerprint,
  opts: ScanOptions,
  get: (path: string, headers?: Record<string, string>) => Promise<HttpOutcome>,
): Promise<HostResult> {
  r.build = fp.build;
  r.exact = fp.exact;
  r.method = fp.method;

  const judge = (build: string): Judgement | null => {
    try {
      const j = opts.judge(build);
      return { vulnerable: [...j.vulnerable], verdicts: [...j.verdicts] };
    } catch (err) {
      r.findings.push(`exposure engine could not judge ${build}: ${(err as Error).message}`);
      return null;
    }
  };

  // Build-based knowledge: exact → one judgement; CU level → lower bound (lowest catalog build of the CU)
  // and upper bound (highest), builds being ordered within a CU.
  let buildSays: 'affected' | 'fixed' | 'unknown' = 'unknown';
  if (fp.build && fp.exact) {
    const j = judge(fp.build);
    if (j) {
      r.judgedBuild = fp.build;
      r.vulnerable = j.vulnerable;
      r.verdicts = j.verdicts;
      buildSays = j.vulnerable.length > 0 ? 'affected' : 'fixed';
    }
  } else if (fp.build && fp.cu) {
    const cands = opts
      .candidates(fp.cu)
      .map((c) => normaliseBuild(c))
      .filter((c): c is string => c !== null);
    const highest = cands[0];
    const lowest = cands[cands.length - 1];
    if (highest && lowest) {
      const lo = judge(lowest);
      const hi = highest === lowest ? lo : judge(highest);
      if (lo && hi) {
        r.judgedBuild = lowest;
        r.verdicts = lo.verdicts;
        // Only CVEs that every build of the CU has are certain.
        r.vulnerable = lo.vulnerable.filter((c) => hi.vulnerable.includes(c));
        if (lo.vulnerable.length === 0) buildSays = 'fixed';
        else if (hi.vulnerable.length > 0) buildSays = 'affected';
        r.findings.push(
          `CU-level build ${fp.build}: verdicts are for the CU's lowest catalog build ${lowest}; a security update may fix more`,
        );
      }
    } else {
      r.findings.push(`CU-level build ${fp.build} is not in the catalog`);
    }
  }

  if (!opts.passive) {
    const c = await proxyLogonCheck(get);
    r.check = c.verdict;
    r.evidence.push(c.evidence);
    if (c.verdict === 'error') r.findings.push(`active check failed: ${c.evidence}`);
  }

  // An aborted check request is what the EOMT URL Rewrite rule does: report the shield even on a fixed build
  // (the verdicts still say the build is fixed).
  if (r.check === 'aborted') {
    r.state = 'shielded';
    r.findings.push('shielded (request aborted)');
    return r;
  }
  if (buildSays === 'fixed') {
    r.state = 'patched';
    if (r.check === 'vulnerable') {
      // The server itself says so: trust the observation over the catalog.
      r.state = 'vulnerable';
      r.vulnerable = union(r.vulnerable, [CHECK_CVE]);
      r.findings.push(`active check contradicts the build ${fp.build}: server routes to localhost`);
    }
    return r;
  }
  if (r.check === 'vulnerable') {
    r.state = 'vulnerable';
    r.vulnerable = union(r.vulnerable, [CHECK_CVE]);
    return r;
  }
  if (buildSays === 'affected') {
    r.state = 'vulnerable';
    if (r.check === 'not_vulnerable') {
      r.findings.push(`active check negative, but build ${fp.build} is affected per the exposure engine`);
    }
    return r;
  }
  // `patched` is a claim about the installed build: a negative check on a server whose build is unknown could
  // equally be a mitigation, a proxy, or a server that answers every path the same way.
  if (r.check === 'not_vulnerable' && fp.build) {
    r.state = 'patched';
    return r;
  }
  r.state = 'unknown';
  r.findings.push(unknownReason(r.check, fp.build));
  return r;
}
