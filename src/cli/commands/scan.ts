/** `bulwark scan <target...>`: find exposed Exchange servers from the outside; results stream as hosts finish. */
import { readFileSync } from 'node:fs';
import type { KnowledgeBase } from '../../advisories/index.js';
import { compareVersions } from '../../core/index.js';
import { csvCell } from '../../hunt/index.js';
import {
  type HostResult,
  type Judgement,
  parseTargets,
  parseTargetsFile,
  scanResultsToFacts,
  scanTargets,
  type Target,
} from '../../scan/index.js';
import type { ApiClientOptions, PushSummary } from '../../server/index.js';
import { EXIT, type Io, paint, UsageError } from '../io.js';
import { progressBar } from '../progress.js';
import { EXCHANGE_PRODUCT } from './exchange.js';

export interface ScanCliOptions {
  targets?: string;
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
  /** File holding the API token (else BULWARK_TOKEN); never a flag, so it stays out of ps and shell history. */
  tokenFile?: string;
}

/** What the scanner needs from the knowledge base: a judgement per build, and the known builds of a CU. */
export function scanKnowledge(kb: KnowledgeBase): {
  judge: (build: string) => Judgement;
  candidates: (cu: string) => string[];
} {
  const byCu = new Map<string, string[]>();
  for (const c of kb.catalogs.filter((c) => c.product === EXCHANGE_PRODUCT)) {
    for (const t of c.trains) {
      for (const b of [t.build, ...t.updates.map((u) => u.build)]) {
        const cu = b.split('.').slice(0, 3).join('.');
        byCu.set(cu, [...(byCu.get(cu) ?? []), b]);
      }
    }
  }
  // Highest first: the scanner probes the newest update of a CU before older ones.
  for (const list of byCu.values()) list.sort((a, b) => compareVersions('exchange', b, a));
  return {
    judge: (build) => {
      const { verdicts } = kb.engine.evaluate({
        id: build,
        products: [{ product: EXCHANGE_PRODUCT, version: build }],
        installed_kbs: [],
        endpoints: [],
        tags: [],
      });
      return {
        vulnerable: [...new Set(verdicts.filter((v) => v.verdict === 'affected').map((v) => v.cve))],
        verdicts,
      };
    },
    candidates: (cu) => byCu.get(cu) ?? [],
  };
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

function textRow(io: Io, r: HostResult): string {
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

/** Where --push goes, checked before scanning so a typo does not waste a scan. */
function pushTarget(io: Io, opts: ScanCliOptions): { client: ApiClientOptions; tenant: string } {
  if (!opts.tenant) throw new UsageError('--push needs --tenant <id>: the tenant the servers belong to');
  let token = io.env.BULWARK_TOKEN;
  if (opts.tokenFile) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(
        `--token-file ${opts.tokenFile}: cannot read (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (!token) throw new UsageError('--push needs an API token: set BULWARK_TOKEN or give --token-file FILE');
  try {
    const u = new URL(opts.push!);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UsageError(
      `--push: "${opts.push}" is not an http(s) URL of a Bulwark server, e.g. http://127.0.0.1:8440`,
    );
  }
  return { client: { baseUrl: opts.push!, token }, tenant: opts.tenant };
}

export async function runScan(
  io: Io,
  kb: KnowledgeBase,
  inputs: string[],
  opts: ScanCliOptions,
): Promise<number> {
  if (opts.json && opts.csv) throw new UsageError('choose one of --json and --csv');
  const push = opts.push ? pushTarget(io, opts) : undefined;
  const ports = parsePorts(opts.ports);
  const parseOpts = { ports, force: opts.force, sni: opts.sni };
  const targets: Target[] = [];
  const errors: string[] = [];
  const fromArgs = parseTargets(inputs, parseOpts);
  targets.push(...fromArgs.targets);
  errors.push(...fromArgs.errors);
  if (opts.targets) {
    let text: string;
    try {
      text = readFileSync(opts.targets, 'utf8');
    } catch (err) {
      throw new UsageError(
        `${opts.targets}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const fromFile = parseTargetsFile(text, opts.targets, parseOpts);
    targets.push(...fromFile.targets);
    errors.push(...fromFile.errors);
  }
  if (errors.length)
    throw new UsageError(errors.length === 1 ? errors[0]! : `${errors[0]} (and ${errors.length - 1} more)`);
  if (!targets.length)
    throw new UsageError('no targets: give hosts, URLs, addresses or CIDR ranges, or --targets FILE');

  const bar = progressBar(io, 'scanning');
  let done = 0;
  if (opts.csv) io.out(`${CSV_COLUMNS.join(',')}\r\n`);
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
      if (opts.json) io.out(`${JSON.stringify(r)}\n`);
      else if (opts.csv) io.out(`${csvRow(r)}\r\n`);
      else io.out(textRow(io, r));
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
  let pushed: (PushSummary & { assets: number; tenant: string }) | undefined;
  if (push) {
    const facts = scanResultsToFacts(results);
    // Loaded only for --push: a plain scan does not pay for the server's modules.
    const { ApiClientError, pushAssets } = await import('../../server/index.js');
    try {
      pushed = {
        ...(await pushAssets(push.client, push.tenant, facts, 'scan')),
        assets: facts.length,
        tenant: push.tenant,
      };
    } catch (err) {
      if (err instanceof ApiClientError) throw new UsageError(`--push: ${err.message}`);
      throw err;
    }
  }
  if (opts.json) io.out(`${JSON.stringify({ summary, ...(pushed ? { pushed } : {}) })}\n`);
  else if (!opts.csv) {
    const parts = Object.entries(counts).map(([s, n]) => `${n} ${s}`);
    io.out(`\n${results.length} host(s) in ${seconds.toFixed(1)} s: ${parts.join(', ')}\n`);
  }
  if (pushed && !opts.json) {
    io.err(
      `pushed ${pushed.assets} Exchange server(s) to tenant ${pushed.tenant}: ${pushed.created} new, ${pushed.updated} updated, ${pushed.unchanged} unchanged\n`,
    );
  }
  if (results.some((r) => r.state === 'vulnerable')) return EXIT.findings;
  if (results.every((r) => r.state === 'error')) return EXIT.usage;
  return EXIT.clean;
}
