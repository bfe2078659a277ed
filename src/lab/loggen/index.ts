/**
 * Synthetic Exchange log trees with planted ProxyLogon activity, for tests and `npm run bench -- hunt`.
 *
 * `generateLogs({ out, bytes, seed })` writes, for each server, the HttpProxy (10 protocols, hourly, 74 columns),
 * ECP Server/Activity, OAB generator and IIS front-end/back-end logs of a busy Exchange server over `days` days,
 * until about `bytes` bytes are written in total (within a few KB), and plants `attacks` attack sequences per server.
 * It returns the ground truth: every planted line's file, line number, timestamp, expected CVE and stage.
 *
 * The output is a pure function of the options: the same seed gives a byte-identical tree. Time is driven by the
 * bytes written (a daily/weekly activity curve maps "share of bytes written" to time), so any size spans exactly the
 * requested days. Lines are built from precomputed pieces and written in 2 MB chunks.
 */
import { mkdirSync } from 'node:fs';
import {
  type ExpectedVerdict,
  PLANTED_KINDS,
  type PlantedKind,
  type PlantedSequence,
  Planter,
  type Step,
} from './attacks.js';
import { Benign } from './benign.js';
import { Clock } from './format.js';
import { Req, ServerLogs } from './logs.js';
import { Rng } from './rng.js';
import { makeServer } from './world.js';
import { TreeWriter } from './writer.js';

export type { ExpectedVerdict, PlantedKind, PlantedLine, PlantedSequence } from './attacks.js';
export { ATTACKER_IPS, PLANTED_KINDS } from './attacks.js';
export type { LogKind, Protocol } from './logs.js';
export { ECP_FIELDS, HTTPPROXY_FIELDS, IIS_FIELDS, OAB_FIELDS, PROTOCOLS } from './logs.js';
export { type FindingLocation, type Score, scoreFindings } from './truth.js';

export interface GenerateOptions {
  /** Output directory (created if missing; existing files with the same names are overwritten). */
  out: string;
  /** Total bytes to write across all servers (reached within a few KB; headers included). */
  bytes: number;
  seed: number;
  /** Number of Exchange servers (default 1); each gets bytes/servers. */
  servers?: number;
  /** Planted sequences per server (default 5; 0 = benign only). */
  attacks?: number;
  /** Relative weights of the planted kinds (default chain 2, the others 1 each). */
  mix?: Partial<Record<PlantedKind, number>>;
  /**
   * Per-server overrides of `attacks` and `mix`, by server index (cycled when shorter than `servers`), e.g.
   * `[{}, { mix: { 'proxylogon-chain': 0, 'autodiscover-only': 0 } }, { attacks: 0 }]` for a compromised, a probed
   * and a clean server.
   */
  perServer?: ReadonlyArray<{ attacks?: number; mix?: Partial<Record<PlantedKind, number>> }>;
  /**
   * First instant of the logs (default 2021-01-01T00:00:00Z: before the ProxyLogon advisory's exploitation start,
   * 2021-01-03, so a host without planted activity can be judged clean rather than "logs too short").
   */
  start?: string;
  /** Days covered (default: 1 per 256 MiB, at least 1, at most 14). */
  days?: number;
  /** Users per server (default 400). */
  users?: number;
  /**
   * Source addresses of the scanner kinds (`ssrf-probe`, `webshell-scan`): `ioc` (default) draws them from the
   * advisory's IOC list like the exploiting kinds; `unlisted` uses RFC 5737 addresses no IOC list contains, so a
   * hunt that treats an IOC address as exploitation evidence still sees a mere probe.
   */
  scannerIps?: 'ioc' | 'unlisted';
}

/** ProxyLogon's exploitation start (advisory pack `exploitation_start`): logs must reach back to it for "clean". */
export const EXPLOITATION_START = '2021-01-03';

export type ExpectedHostVerdict = ExpectedVerdict | 'clean' | 'insufficient_logs';

export interface ServerTruth {
  name: string;
  fqdn: string;
  domain: string;
  ip: string;
  /** Installed build as in `#Version:` (all builds used are vulnerable, pre-March-2021-SU). */
  build: string;
  bytes: number;
  /** First HttpProxy timestamp written for this server. */
  first: string;
  /**
   * The verdict a hunt should reach: the gravest of its sequences' verdicts; without planted activity `clean` if the
   * HttpProxy logs reach back to EXPLOITATION_START, else `insufficient_logs`.
   */
  verdict: ExpectedHostVerdict;
}

export interface GroundTruth {
  seed: number;
  out: string;
  requestedBytes: number;
  /** Bytes actually written. */
  bytes: number;
  files: number;
  start: string;
  end: string;
  servers: ServerTruth[];
  /** Planted sequences, by server then start time. */
  sequences: PlantedSequence[];
}

const DEFAULT_MIX: Record<PlantedKind, number> = {
  'proxylogon-chain': 2,
  'ssrf-probe': 1,
  'autodiscover-only': 1,
  'webshell-scan': 1,
};

const HOUR = 3_600_000;

/** Relative request rate per UTC hour of a weekday; weekends run at 35%. */
const HOURLY = [
  0.25, 0.22, 0.2, 0.2, 0.22, 0.3, 0.55, 1.2, 2.2, 2.4, 2.3, 2.2, 1.6, 2.2, 2.3, 2.2, 2.0, 1.4, 0.9, 0.75,
  0.65, 0.5, 0.4, 0.3,
];

/** Maps the share of bytes written (0..1) to a time, following the activity curve. */
class Timeline {
  private readonly cum: number[] = [0];
  private readonly w: number[] = [];
  private ptr = 0;

  constructor(
    readonly start: number,
    hours: number,
  ) {
    for (let i = 0; i < hours; i++) {
      const t = start + i * HOUR;
      const d = new Date(t);
      const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6;
      const w = HOURLY[d.getUTCHours()]! * (weekend ? 0.35 : 1);
      this.w.push(w);
      this.cum.push(this.cum[i]! + w);
    }
  }

  at(share: number): number {
    const total = this.cum[this.cum.length - 1]!;
    const x = Math.min(share, 1) * total;
    while (this.ptr < this.w.length - 1 && this.cum[this.ptr + 1]! <= x) this.ptr++;
    return this.start + this.ptr * HOUR + ((x - this.cum[this.ptr]!) / this.w[this.ptr]!) * HOUR;
  }
}

/** Splits n into integer counts proportional to the weights (largest remainder; ties by kind order). */
function apportion(n: number, weights: Record<PlantedKind, number>): PlantedKind[] {
  const kinds = PLANTED_KINDS.filter((k) => weights[k] > 0);
  const total = kinds.reduce((a, k) => a + weights[k], 0);
  if (!total || n <= 0) return [];
  const exact = kinds.map((k) => (n * weights[k]) / total);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const byRem = kinds
    .map((_, i) => i)
    .sort((a, b) => exact[b]! - counts[b]! - (exact[a]! - counts[a]!) || a - b);
  for (const i of byRem) {
    if (left <= 0) break;
    counts[i]!++;
    left--;
  }
  return kinds.flatMap((k, i) => Array<PlantedKind>(counts[i]!).fill(k));
}

export async function generateLogs(opts: GenerateOptions): Promise<GroundTruth> {
  const servers = opts.servers ?? 1;
  const attacks = opts.attacks ?? 5;
  if (!Number.isFinite(opts.bytes) || opts.bytes < 1)
    throw new Error('generateLogs: bytes must be a positive number');
  if (!Number.isInteger(servers) || servers < 1)
    throw new Error('generateLogs: servers must be an integer ≥ 1');
  if (!Number.isInteger(attacks) || attacks < 0)
    throw new Error('generateLogs: attacks must be an integer ≥ 0');
  const start = Date.parse(opts.start ?? '2021-01-01T00:00:00Z');
  if (Number.isNaN(start)) throw new Error(`generateLogs: start is not an ISO date: ${opts.start}`);
  const days = opts.days ?? Math.min(14, Math.max(1, Math.ceil(opts.bytes / 2 ** 28)));
  if (!(days > 0)) throw new Error('generateLogs: days must be positive');
  const span = days * 86_400_000;
  const hours = Math.ceil(span / HOUR);

  mkdirSync(opts.out, { recursive: true });
  const writer = new TreeWriter(opts.out);
  const clock = new Clock();
  const truth: GroundTruth = {
    seed: opts.seed,
    out: opts.out,
    requestedBytes: opts.bytes,
    bytes: 0,
    files: 0,
    start: new Date(start).toISOString(),
    end: new Date(start + span).toISOString(),
    servers: [],
    sequences: [],
  };

  for (let si = 0; si < servers; si++) {
    const target = Math.floor(opts.bytes / servers) + (si === servers - 1 ? opts.bytes % servers : 0);
    const server = makeServer(new Rng(opts.seed, si * 8 + 1), si, opts.users ?? 400);
    const logs = new ServerLogs(writer, server, clock);
    const benign = new Benign(new Rng(opts.seed, si * 8 + 2), logs, new Req());
    const planter = new Planter(new Rng(opts.seed, si * 8 + 3), logs, new Req(), opts.scannerIps ?? 'ioc');
    const place = new Rng(opts.seed, si * 8 + 4);
    const timeline = new Timeline(start, hours);

    // Scheduled work: planted steps and the OAB generator's runs (every 8 hours, from 01:1x).
    const steps: Step[] = [];
    const seqs: PlantedSequence[] = [];
    const own = opts.perServer?.length ? opts.perServer[si % opts.perServer.length] : undefined;
    const mix: Record<PlantedKind, number> = { ...DEFAULT_MIX, ...(opts.mix ?? {}), ...(own?.mix ?? {}) };
    const kinds = place.shuffle(apportion(own?.attacks ?? attacks, mix));
    const hi = start + span * 0.97;
    kinds.forEach((kind, i) => {
      const anchor = Math.floor(start + span * (0.03 + 0.82 * place.float()));
      const { seq, steps: s } = planter.plan(
        kind,
        `${server.name}-${String(i + 1).padStart(2, '0')}-${kind}`,
        anchor,
        hi,
      );
      seqs.push(seq);
      steps.push(...s);
    });
    for (let t = start + HOUR + place.range(0, 15) * 60_000; t < start + span; t += 8 * HOUR) {
      const at = t + place.range(0, 59_000);
      steps.push({ t: at, run: () => benign.oabRun(at) });
    }
    const order = steps.map((s, i) => [s, i] as const).sort((a, b) => a[0].t - b[0].t || a[1] - b[1]);

    let next = 0;
    let last = start;
    while (logs.bytes < target) {
      let t = Math.floor(timeline.at(logs.bytes / target));
      if (t <= last) t = last + 1;
      while (next < order.length && order[next]![0].t <= t) order[next++]![0].run();
      benign.emit(t);
      last = t;
    }
    while (next < order.length) order[next++]![0].run();
    logs.closeAll();

    for (const seq of seqs) Planter.finish(seq);
    seqs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    truth.sequences.push(...seqs);
    const rank: ExpectedHostVerdict[] = ['clean', 'probed', 'exploitation_attempted', 'compromised'];
    let verdict: ExpectedHostVerdict =
      logs.firstProxy <= Date.parse(`${EXPLOITATION_START}T00:00:00Z`) ? 'clean' : 'insufficient_logs';
    for (const s of seqs) if (rank.indexOf(s.verdict) > rank.indexOf(verdict)) verdict = s.verdict;
    truth.servers.push({
      name: server.name,
      fqdn: server.fqdn,
      domain: server.domain,
      ip: server.ip,
      build: server.build.header,
      bytes: logs.bytes,
      first: new Date(logs.firstProxy).toISOString(),
      verdict,
    });
  }
  truth.bytes = writer.bytes;
  truth.files = writer.files;
  return truth;
}
