/**
 * From findings and log coverage to one verdict per server, with the facts an engineer acts on: since when,
 * from where, which logs were examined and whether they reach back far enough, and what to do next.
 */
import { coverageLabel } from './logtypes/registry.js';
import type { HuntFinding, LogType, ParseStats, Stage } from './types.js';

export type HostVerdict = 'compromised' | 'exploitation_attempted' | 'probed' | 'clean' | 'insufficient_logs';

export interface CoverageEntry {
  /** e.g. `HttpProxy/Ecp`, `ECP Server`, `OABGenerator`, `IIS W3SVC1`, `Application event log`. */
  source: string;
  type: LogType;
  files: number;
  bytes: number;
  /** Lines read (every line is searched; only lines a rule could match are parsed). */
  lines: number;
  first: string | null;
  last: string | null;
  /** Whether the oldest record is from before the advisory's exploitation start; null without timestamps. */
  reaches_back: boolean | null;
}

export interface AttackerIp {
  ip: string;
  first: string | null;
  last: string | null;
  findings: number;
  worst: Stage;
}

export interface TimelineEntry {
  timestamp: string | null;
  stage: Stage;
  cve: string | null;
  rule: string;
  title: string;
  file: string;
  line: number;
  client: string | null;
  /** Other rules that matched the same record (titles). */
  also: string[];
}

export interface HostReport {
  host: string;
  verdict: HostVerdict;
  summary: string;
  cves: string[];
  first_seen: string | null;
  last_seen: string | null;
  counts: Record<Stage, number>;
  attacker_ips: AttackerIp[];
  timeline: TimelineEntry[];
  /** Timeline entries left out of `timeline` (it keeps the first and last of long runs). */
  timeline_omitted: number;
  coverage: CoverageEntry[];
  next_steps: string[];
}

export interface FileOutcome {
  host: string;
  relative: string;
  stats: ParseStats;
}

export interface AssessContext {
  /** First known in-the-wild exploitation (YYYY-MM-DD), from the advisory. */
  exploitationStart?: string;
  advisoryTitle?: string;
  /** Fix names for next steps, e.g. "KB5000871". */
  fixes: string[];
}

const STAGE_RANK: Record<Stage, number> = { context: 0, probe: 1, exploitation: 2, post_exploitation: 3 };
const TIMELINE_LIMIT = 500;

/** The coverage label of a file: from its path when that says more (HttpProxy/Ecp, W3SVC1), else its type's. */
export function coverageSource(relative: string, type: LogType): string {
  return coverageLabel(relative, type);
}

export function assessHosts(
  findings: readonly HuntFinding[],
  files: readonly FileOutcome[],
  ctx: AssessContext,
): HostReport[] {
  const hosts = new Set<string>([...files.map((f) => f.host), ...findings.map((f) => f.host)]);
  return [...hosts].sort().map((host) =>
    assessHost(
      host,
      findings.filter((f) => f.host === host),
      files.filter((f) => f.host === host),
      ctx,
    ),
  );
}

function assessHost(
  host: string,
  findings: HuntFinding[],
  files: FileOutcome[],
  ctx: AssessContext,
): HostReport {
  const coverage = coverageOf(files, ctx.exploitationStart);
  const counts: Record<Stage, number> = { context: 0, probe: 0, exploitation: 0, post_exploitation: 0 };
  for (const f of findings) counts[f.stage]++;
  const significant = findings.filter((f) => f.stage !== 'context');
  const proxyLogs = coverage.filter((c) => c.type === 'exchange-httpproxy');
  const reachesBack = proxyLogs.some((c) => c.reaches_back !== false);
  let verdict: HostVerdict;
  if (counts.post_exploitation) verdict = 'compromised';
  else if (counts.exploitation) verdict = 'exploitation_attempted';
  else if (counts.probe) verdict = 'probed';
  else if (!proxyLogs.length || !reachesBack) verdict = 'insufficient_logs';
  else verdict = 'clean';

  const stamps = significant
    .map((f) => f.timestamp)
    .filter((t): t is string => Boolean(t))
    .sort();
  const timelineAll = timelineOf(findings);
  const timeline =
    timelineAll.length > TIMELINE_LIMIT
      ? [...timelineAll.slice(0, TIMELINE_LIMIT / 2), ...timelineAll.slice(-TIMELINE_LIMIT / 2)]
      : timelineAll;
  const report: HostReport = {
    host,
    verdict,
    summary: '',
    cves: [...new Set(significant.map((f) => f.cve).filter((c): c is string => Boolean(c)))].sort(),
    first_seen: stamps[0] ?? null,
    last_seen: stamps.at(-1) ?? null,
    counts,
    attacker_ips: attackerIps(significant),
    timeline,
    timeline_omitted: timelineAll.length - timeline.length,
    coverage,
    next_steps: [],
  };
  report.summary = summarise(report, ctx, proxyLogs.length > 0);
  report.next_steps = nextSteps(report, ctx);
  return report;
}

/** One entry per record (file and line), led by its gravest finding, in time order. */
function timelineOf(findings: HuntFinding[]): TimelineEntry[] {
  const byRecord = new Map<string, HuntFinding[]>();
  for (const f of findings) {
    const key = `${f.file}\u0000${f.line}\u0000${f.line === 0 ? f.rule : ''}`;
    const list = byRecord.get(key);
    if (list) list.push(f);
    else byRecord.set(key, [f]);
  }
  const entries: TimelineEntry[] = [];
  for (const group of byRecord.values()) {
    group.sort((a, b) => STAGE_RANK[b.stage] - STAGE_RANK[a.stage]);
    const lead = group[0]!;
    entries.push({
      timestamp: lead.timestamp,
      stage: lead.stage,
      cve: lead.cve ?? group.find((g) => g.cve)?.cve ?? null,
      rule: lead.rule,
      title: lead.title,
      file: lead.file,
      line: lead.line,
      client: lead.client ?? null,
      also: [...new Set(group.slice(1).map((g) => g.title))],
    });
  }
  return entries.sort(
    (a, b) =>
      (a.timestamp ?? '').localeCompare(b.timestamp ?? '') || a.file.localeCompare(b.file) || a.line - b.line,
  );
}

function coverageOf(files: FileOutcome[], start?: string): CoverageEntry[] {
  const bySource = new Map<string, CoverageEntry>();
  const startIso = start ? `${start}T00:00:00.000Z` : undefined;
  for (const f of files) {
    if (!f.stats.type) continue;
    const source = coverageSource(f.relative, f.stats.type);
    const e = bySource.get(source) ?? {
      source,
      type: f.stats.type,
      files: 0,
      bytes: 0,
      lines: 0,
      first: null,
      last: null,
      reaches_back: null,
    };
    e.files++;
    e.bytes += f.stats.bytes;
    e.lines += f.stats.lines;
    if (f.stats.first && (!e.first || f.stats.first < e.first)) e.first = f.stats.first;
    if (f.stats.last && (!e.last || f.stats.last > e.last)) e.last = f.stats.last;
    bySource.set(source, e);
  }
  for (const e of bySource.values()) e.reaches_back = e.first && startIso ? e.first <= startIso : null;
  return [...bySource.values()].sort((a, b) => a.source.localeCompare(b.source));
}

function attackerIps(findings: HuntFinding[]): AttackerIp[] {
  const byIp = new Map<string, AttackerIp>();
  for (const f of findings) {
    if (!f.client) continue;
    const e = byIp.get(f.client) ?? {
      ip: f.client,
      first: null,
      last: null,
      findings: 0,
      worst: 'probe' as Stage,
    };
    e.findings++;
    if (STAGE_RANK[f.stage] > STAGE_RANK[e.worst]) e.worst = f.stage;
    if (f.timestamp && (!e.first || f.timestamp < e.first)) e.first = f.timestamp;
    if (f.timestamp && (!e.last || f.timestamp > e.last)) e.last = f.timestamp;
    byIp.set(f.client, e);
  }
  return [...byIp.values()].sort(
    (a, b) =>
      STAGE_RANK[b.worst] - STAGE_RANK[a.worst] || b.findings - a.findings || a.ip.localeCompare(b.ip),
  );
}

function summarise(r: HostReport, ctx: AssessContext, hadProxyLogs: boolean): string {
  const span = r.first_seen ? ` from ${r.first_seen} to ${r.last_seen}` : '';
  const ips = r.attacker_ips.length
    ? ` from ${r.attacker_ips.length} address${r.attacker_ips.length === 1 ? '' : 'es'}`
    : '';
  switch (r.verdict) {
    case 'compromised':
      return `Post-exploitation evidence (web shell written or used, virtual directory abuse or OAB file write)${span}${ips}.`;
    case 'exploitation_attempted':
      return `Exploitation attempts${span}${ips}; no post-exploitation evidence in the logs examined.`;
    case 'probed':
      return `Scanned or probed${span}${ips}; no sign of exploitation in the logs examined.`;
    case 'clean':
      return 'No indicators in the logs examined, which reach back before the exploitation start.';
    case 'insufficient_logs':
      return hadProxyLogs
        ? `No indicators, but the HttpProxy logs do not reach back to ${ctx.exploitationStart ?? 'the exploitation start'}: an earlier compromise would not show.`
        : 'No indicators, but no Exchange HttpProxy logs were given: the main evidence of this attack is missing.';
  }
}

/**
 * What to do next, in words a customer can act on: the same steps appear in the terminal, JSON and the HTML report
 * handed to a customer, so no command lines, and the timeline is mentioned only when there is one.
 */
function nextSteps(r: HostReport, ctx: AssessContext): string[] {
  const fix = ctx.fixes.length ? ctx.fixes.join(' / ') : 'the security update';
  const timeline =
    r.timeline.length > 0 ? ' Start from the places and times in the timeline of this report.' : '';
  const webShells =
    "look for web shells on the server itself: unexpected .aspx files under FrontEnd\\HttpProxy\\owa\\auth, FrontEnd\\HttpProxy\\ecp\\auth and inetpub\\wwwroot\\aspnet_client (a hunt over a copy of the server's drive does this check)";
  const confirm = `Confirm that ${fix} is installed (the server's exact build number tells).`;
  const steps: Record<HostVerdict, string[]> = {
    compromised: [
      'Treat the server as breached: cut its exposure to the internet (or shield it) and open an incident.',
      `Find and remove what the attacker left: ${webShells}.${timeline}`,
      'Assume credentials are stolen: look for LSASS dumps, reset privileged and service account passwords, and review new accounts and mailbox exports.',
      `Install ${fix} (the update closes the hole but removes nothing the attacker left).`,
      'Keep a copy of the log files examined, and check other servers for the same attacker addresses.',
    ],
    exploitation_attempted: [
      `${confirm} If it was installed only after the first attempt, treat the server as possibly breached.`,
      `To rule out a breach, ${webShells}, and include the Application event log and the ECP Server logs if they were not examined.`,
      'Block or watch the attacker addresses listed.',
    ],
    probed: [confirm, 'Nothing else is required by these findings; keep the logs.'],
    clean: [confirm],
    insufficient_logs: [
      `Collect the Exchange Logging folder (HttpProxy, ECP, OABGeneratorLog) and the IIS logs reaching back before ${ctx.exploitationStart ?? 'the exploitation start'}, and examine them too.`,
      `If the older logs are gone, ${webShells} instead.`,
      confirm,
    ],
  };
  return steps[r.verdict];
}
