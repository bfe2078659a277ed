/** `bulwark scan <target...>`: find exposed Exchange servers from the outside; results stream as hosts finish. */
import { readFileSync } from 'node:fs';
import type { KnowledgeBase } from '../../advisories/index.js';
import type { ApiClientOptions, ObservationsResult, PushSummary } from '../../api/index.js';
import { csvCell, escapeAllStrings, escapeLines, terminalSafeJson } from '../../core/index.js';
import {
  assetIdFor,
  byLine,
  CHECK_CVE,
  collectTargets,
  type HostResult,
  hasScanFacts,
  readTargetMap,
  scanKnowledge,
  scanObservations,
  scanResultsToFacts,
  scanTargets,
  type Target,
  type TargetEntry,
  targetsFileEntries,
} from '../../scan/index.js';
import { EXIT, type Io, paint, UsageError } from '../io.js';
import { progressBar } from '../progress.js';
import { pushRefusal, requireServerAdvisory, serverClient } from './server-access.js';

export interface ScanCliOptions {
  targets?: string;
  /** CSV or YAML mapping targets to tenants (and optionally existing assets), for --push. */
  targetsFile?: string;
  ports?: string;
  sni?: string;
  force?: boolean;
  passive?: boolean;
  concurrency?: number;
  perHost?: number;
  timeout?: number;
  retries?: number;
  json?: boolean;
  csv?: boolean;
  /** Control-plane URL to register the Exchange servers found as assets. */
  push?: string;
  tenant?: string;
  /** With --push and one target: the existing asset the scan's observations update. */
  asset?: string;
  /** File holding the API token (else BULWARK_TOKEN); never a flag, so it stays out of ps and shell history. */
  tokenFile?: string;
}

function parsePorts(text: string | undefined): number[] | undefined {
  if (!text) return undefined;
  const ports = text.split(',').map((p) => Number(p.trim()));
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535))
    throw new UsageError(`--ports: "${text}" is not a comma-separated list of ports 1-65535`);
  return ports;
}

const CSV_COLUMNS = [
  'target',
  'url',
  'state',
  'build',
  'exact',
  'method',
  'vulnerable',
  'check',
  'certificate_expires',
  'findings',
  'error',
] as const;

function csvRow(r: HostResult): string {
  const cells = [
    r.target,
    r.url,
    r.state,
    r.build ?? '',
    String(r.exact),
    r.method ?? '',
    r.vulnerable.join(' '),
    r.check,
    r.tls?.validTo ?? '',
    r.findings.join('; '),
    r.error ?? '',
  ];
  return cells.map(csvCell).join(',');
}

/** One line per host. Every string in it came from the target list or the server: shown, never obeyed. */
function textRow(io: Io, raw: HostResult): string {
  const r = escapeAllStrings(raw);
  const style =
    r.state === 'vulnerable'
      ? 'red'
      : r.state === 'patched'
        ? 'green'
        : r.state === 'error'
          ? 'dim'
          : 'yellow';
  const state = paint(io, style, r.state.toUpperCase().padEnd(12));
  const build = r.build ? `${r.build} (${r.exact ? 'exact' : 'CU level'} via ${r.method})` : '';
  const cves = r.vulnerable.length ? `  ${r.vulnerable.join(' ')}` : '';
  const notes = [...r.findings, ...(r.error ? [r.error] : [])];
  return `${state} ${r.target}  ${build}${cves}${notes.length ? paint(io, 'dim', `  [${notes.join('; ')}]`) : ''}\n`;
}

const MAX_ERRORS_SHOWN = 20;

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** Every target of the run: arguments, --targets (one per line) and --targets-file (with tenants), checked as one list. */
function gatherTargets(inputs: string[], opts: ScanCliOptions): Target[] {
  if (opts.asset !== undefined) {
    if (!opts.push)
      throw new UsageError('--asset binds the scanned endpoint to an asset for --push; add --push URL');
    if (inputs.length !== 1 || opts.targets || opts.targetsFile)
      throw new UsageError(
        '--asset binds one endpoint: give exactly one target (for many, use the asset column of --targets-file)',
      );
  }
  if (opts.targetsFile && !opts.push)
    throw new UsageError(
      '--targets-file maps targets to tenants for --push URL; add it (or give a plain list with --targets FILE)',
    );
  const mapping = { tenant: opts.tenant, asset: opts.asset };
  const own = (e: TargetEntry): TargetEntry => ({
    ...e,
    ...(mapping.tenant !== undefined ? { tenant: mapping.tenant } : {}),
    ...(mapping.asset !== undefined ? { asset: mapping.asset } : {}),
  });
  const entries: TargetEntry[] = inputs.map((text) => own({ text, where: '' }));
  if (opts.targets) entries.push(...targetsFileEntries(readText(opts.targets), opts.targets).map(own));
  const mapErrors: string[] = [];
  if (opts.targetsFile) {
    const read = readTargetMap(readText(opts.targetsFile), opts.targetsFile);
    mapErrors.push(...read.errors);
    entries.push(...read.entries);
  }
  const parsed = collectTargets(entries, {
    ports: parsePorts(opts.ports),
    force: opts.force,
    sni: opts.sni,
  });
  // The targets file's errors in line order, whichever step found them, after the other lists' errors.
  const inMap = (e: string) => opts.targetsFile !== undefined && e.startsWith(`${opts.targetsFile}:`);
  const errors = [
    ...parsed.errors.filter((e) => !inMap(e)),
    ...[...mapErrors, ...parsed.errors.filter(inMap)].sort(byLine),
  ];
  if (errors.length) {
    // Every mistake of a hand-written list at once (up to a screenful), not one per run.
    const shownErrors = errors.slice(0, MAX_ERRORS_SHOWN);
    const more = errors.length - shownErrors.length;
    throw new UsageError(`${shownErrors.join('\n')}${more > 0 ? `\n(and ${more} more)` : ''}`);
  }
  if (!parsed.targets.length)
    throw new UsageError(
      'no targets: give hosts, URLs, addresses or CIDR ranges, --targets FILE or --targets-file FILE',
    );
  return parsed.targets;
}

/** How a target is named in messages: where it was written, or the target itself. */
const named = (t: Target) => t.origin ?? t.input;

/**
 * Push errors found before scanning: the token, each tenant (exists, in the token's scope, writable), each bound
 * asset (exists) and the advisory of the check's observations, with the requests the push itself makes. One
 * error, exit 2, nothing scanned.
 */
async function preflightPush(
  client: ApiClientOptions,
  targets: Target[],
  advisory: CheckAdvisory | undefined,
): Promise<void> {
  const { ApiClientError, assetExists } = await import('../../api/index.js');
  const problems: string[] = [];
  const firstOf = new Map<string, Target>();
  for (const t of targets) if (t.tenant !== undefined && !firstOf.has(t.tenant)) firstOf.set(t.tenant, t);
  const refused = new Set<string>();
  for (const [tenant, t] of firstOf) {
    const problem = await pushRefusal(client, tenant, PUSH, { flag: '--push', where: named(t) });
    if (problem) {
      problems.push(problem);
      refused.add(tenant);
    }
  }
  for (const t of targets) {
    if (t.asset === undefined || t.tenant === undefined || refused.has(t.tenant)) continue;
    try {
      if (!(await assetExists(client, t.tenant, t.asset)))
        problems.push(
          `--push: ${t.origin ? `${t.origin}: ` : ''}asset ${t.asset} does not exist in tenant ${t.tenant}; register it first (agent, facts file or PUT …/assets/${t.asset}) or leave the asset out`,
        );
    } catch (err) {
      if (!(err instanceof ApiClientError)) throw err;
      problems.push(`--push: asset ${t.asset} of tenant ${t.tenant} (${named(t)}): ${err.message}`);
    }
  }
  if (problems.length) throw new UsageError(problems.join('\n'));
  if (advisory) await requireServerAdvisory(client, advisory.id, '--push');
}

/** The advisory whose CVE the active check tests: the check's results are observations for it. */
interface CheckAdvisory {
  id: string;
  cves: string[];
}

function checkAdvisory(kb: KnowledgeBase): CheckAdvisory | undefined {
  const a = kb.advisories.find((x) => x.cves.some((c) => c.id === CHECK_CVE));
  return a ? { id: a.id, cves: a.cves.map((c) => c.id) } : undefined;
}

/** Scan pushes are observations: merged into existing assets, never replacing what an agent registered. */
const PUSH = { source: 'scan', merge: true } as const;

interface TenantPush extends PushSummary {
  tenant: string;
  assets: number;
  /** Bound assets the scan could not update (no Exchange build seen), by target. */
  not_updated: { target: string; asset: string; state: string }[];
  /** The check's results recorded as shield and patch observations (absent when none applied). */
  observations?: ObservationsResult & { advisory_id: string };
}

interface PushReport extends PushSummary {
  assets: number;
  tenants: TenantPush[];
  errors: string[];
}

/** Pushes each tenant's results (every tenant is tried; failures are reported, not thrown). */
async function pushResults(
  client: ApiClientOptions,
  targets: Target[],
  results: HostResult[],
  observed: { advisory: CheckAdvisory | undefined; at: string },
): Promise<PushReport> {
  const { ApiClientError, pushAssets, recordObservations } = await import('../../api/index.js');
  const byTenant = new Map<string, number[]>();
  targets.forEach((t, i) => {
    if (t.tenant !== undefined) byTenant.set(t.tenant, [...(byTenant.get(t.tenant) ?? []), i]);
  });
  const report: PushReport = {
    assets: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    findings_written: 0,
    tenants: [],
    errors: [],
  };
  for (const [tenant, indices] of byTenant) {
    const mine = indices.map((i) => results[i]!);
    const facts = scanResultsToFacts(
      mine,
      indices.map((i) => targets[i]!.asset),
    );
    const not_updated = indices
      .filter((i) => targets[i]!.asset !== undefined && !hasScanFacts(results[i]!))
      .map((i) => ({ target: named(targets[i]!), asset: targets[i]!.asset!, state: results[i]!.state }));
    // The asset each result's observations are about: the bound one, else the one its facts registered.
    const assetIds = indices.map((i) =>
      targets[i]!.asset !== undefined
        ? targets[i]!.asset
        : hasScanFacts(results[i]!)
          ? assetIdFor(results[i]!)
          : undefined,
    );
    const observations = observed.advisory
      ? scanObservations(mine, assetIds, {
          advisoryId: observed.advisory.id,
          advisoryCves: observed.advisory.cves,
          observedAt: observed.at,
        })
      : [];
    let pushedTenant: TenantPush;
    try {
      const summary = facts.length
        ? await pushAssets(client, tenant, facts, PUSH)
        : { created: 0, updated: 0, unchanged: 0, findings_written: 0 };
      pushedTenant = { tenant, assets: facts.length, ...summary, not_updated };
      report.tenants.push(pushedTenant);
      report.assets += facts.length;
      for (const k of ['created', 'updated', 'unchanged', 'findings_written'] as const)
        report[k] += summary[k];
    } catch (err) {
      if (!(err instanceof ApiClientError)) throw err;
      report.errors.push(`--push: tenant ${tenant}: ${err.message}`);
      continue;
    }
    if (!observations.length || !observed.advisory) continue;
    // After the facts: an observation of an asset the push has just registered finds it.
    try {
      const result = await recordObservations(client, tenant, observations);
      pushedTenant.observations = { advisory_id: observed.advisory.id, ...result };
    } catch (err) {
      if (!(err instanceof ApiClientError)) throw err;
      report.errors.push(`--push: tenant ${tenant}: observations not recorded: ${err.message}`);
    }
  }
  return report;
}

export async function runScan(
  io: Io,
  kb: KnowledgeBase,
  inputs: string[],
  opts: ScanCliOptions,
): Promise<number> {
  if (opts.json && opts.csv) throw new UsageError('choose one of --json and --csv');
  const client = opts.push
    ? serverClient(io, { url: opts.push, tokenFile: opts.tokenFile, flag: '--push' })
    : undefined;
  const targets = gatherTargets(inputs, opts);
  const advisory = checkAdvisory(kb);
  if (client) {
    const homeless = targets.find((t) => t.tenant === undefined);
    if (homeless)
      throw new UsageError(
        `--push needs --tenant <id> for ${named(homeless)}: the tenant the servers belong to (or list targets with their tenants in --targets-file)`,
      );
    await preflightPush(client, targets, advisory);
  }

  const bar = progressBar(io, 'scanning', { unit: 'hosts' });
  let done = 0;
  if (opts.csv) io.out(`${CSV_COLUMNS.map(csvCell).join(',')}\r\n`);
  const started = Date.now();
  const results = await scanTargets(targets, {
    ...scanKnowledge(kb),
    passive: opts.passive,
    concurrency: opts.concurrency,
    perHost: opts.perHost,
    timeoutMs: opts.timeout,
    retries: opts.retries,
    onResult: (r) => {
      bar.update(++done, targets.length);
      // The bar is cleared before the line and redrawn after it, so the two never share a terminal line.
      bar.print(() => {
        // Exact values, with C1 controls and bidi overrides \u-escaped (JSON.stringify leaves them raw).
        if (opts.json) io.out(`${terminalSafeJson(r, 0)}\n`);
        else if (opts.csv) io.out(`${csvRow(r)}\r\n`);
        else io.out(textRow(io, r));
      });
    },
  });
  bar.done();
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.state] = (counts[r.state] ?? 0) + 1;
  const seconds = (Date.now() - started) / 1000;
  const summary = {
    hosts: results.length,
    seconds,
    hosts_per_s: seconds > 0 ? results.length / seconds : 0,
    states: counts,
  };
  const pushed = client
    ? await pushResults(client, targets, results, { advisory, at: new Date(started).toISOString() })
    : undefined;
  if (opts.json) io.out(`${terminalSafeJson({ summary, ...(pushed ? { pushed } : {}) }, 0)}\n`);
  else if (!opts.csv) {
    const parts = Object.entries(counts).map(([s, n]) => `${n} ${s}`);
    io.out(`\n${results.length} host(s) in ${seconds.toFixed(1)} s: ${parts.join(', ')}\n`);
  }
  if (pushed) {
    // Tenants, assets and targets come from the targets file, errors from the server: shown, never obeyed.
    const err = (text: string) => io.err(escapeLines(text));
    for (const t of pushed.tenants) {
      if (!opts.json)
        err(
          `pushed ${t.assets} Exchange server(s) to tenant ${t.tenant}: ${t.created} new, ${t.updated} updated, ${t.unchanged} unchanged\n`,
        );
      for (const n of t.not_updated)
        err(`${n.target}: asset ${n.asset} not updated: the scan found no Exchange build (${n.state})\n`);
      const o = t.observations;
      if (o && !opts.json)
        err(
          `recorded ${o.recorded} shield/patch observation(s) for advisory ${o.advisory_id} in tenant ${t.tenant}\n`,
        );
      for (const id of o?.unknown_assets ?? [])
        io.err(
          `${paint(io, 'yellow', 'warning')} ${escapeLines(`tenant ${t.tenant} has no asset ${id}: its observations were not recorded`)}\n`,
        );
    }
    for (const e of pushed.errors) err(`bulwark: ${e}\n`);
    if (pushed.errors.length) return EXIT.usage;
  }
  if (results.some((r) => r.state === 'vulnerable')) return EXIT.findings;
  if (results.every((r) => r.state === 'error')) return EXIT.usage;
  return EXIT.clean;
}
