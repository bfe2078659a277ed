/**
 * `bulwark hunt <path...>`: compromise assessment over logs and files, reported per server; with --push the host
 * reports go to a Bulwark server, which matches them to assets.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { huntAdvisories, type KnowledgeBase } from '../../advisories/index.js';
import type { ApiClientOptions, HuntReportsResult } from '../../api/index.js';
import { escapeControls, escapeLines, terminalSafeJson } from '../../core/index.js';
import {
  DEFAULT_ARCHIVE_LIMITS,
  type HuntResult,
  hostReportUploads,
  hunt,
  huntConfig,
  renderCsv,
  renderHtml,
  renderText,
} from '../../hunt/index.js';
import { EXIT, type Io, paint, UsageError } from '../io.js';
import { progressBar } from '../progress.js';
import { pushRefusal, requireServerAdvisory, serverClient } from './server-access.js';

export interface HuntCliOptions {
  json?: boolean;
  csv?: boolean;
  html?: string;
  sigma: string[];
  iocs: string[];
  advisory?: string;
  strict20210302?: boolean;
  host?: string;
  workers?: number;
  maxArchiveBytes?: string;
  maxArchiveRatio?: string;
  /** Bulwark server URL to upload the host reports to. */
  push?: string;
  /** With --push: the tenant whose assets the hosts are. */
  tenant?: string;
  /** With --push: file holding the API token (else BULWARK_TOKEN); never a flag, so it stays out of ps. */
  tokenFile?: string;
  /** With --push: CSV rows `host,address…` — the addresses each server is known by, for matching. */
  addresses?: string;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `64G`, `500M`, `1048576` → bytes (binary units; a trailing `B`/`iB` is accepted). */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw new UsageError(`${flag} takes a size such as 64G, 500M or 1048576 (got "${text}")`);
  return bytes;
}

function archiveLimits(opts: HuntCliOptions) {
  const ratio = opts.maxArchiveRatio === undefined ? undefined : Number(opts.maxArchiveRatio);
  if (ratio !== undefined && !(Number.isFinite(ratio) && ratio >= 1))
    throw new UsageError(`--max-archive-ratio takes a number of at least 1 (got "${opts.maxArchiveRatio}")`);
  return {
    maxBytes:
      opts.maxArchiveBytes === undefined
        ? DEFAULT_ARCHIVE_LIMITS.maxBytes
        : parseSize('--max-archive-bytes', opts.maxArchiveBytes),
    maxRatio: ratio ?? DEFAULT_ARCHIVE_LIMITS.maxRatio,
  };
}

/** Where and what --push sends, settled before the hunt runs. */
interface HuntPush {
  client: ApiClientOptions;
  tenant: string;
  advisory: string;
  addresses: Map<string, string[]>;
}

const MAX_ADDRESSES = 20;

/** `host,address[,address…]` per line (`#` comments, blank lines skipped), keyed by lower-case host name. */
export function parseHostAddresses(text: string, file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [host = '', ...rest] = line.split(',').map((c) => c.trim());
    const addresses = rest.filter(Boolean);
    const at = `${file}:${i + 1}`;
    if (!host || host.length > 255) throw new UsageError(`${at}: give a host name of 1-255 characters first`);
    if (!addresses.length) throw new UsageError(`${at}: give at least one address after ${host}`);
    const bad = addresses.find((a) => a.length > 255);
    if (bad !== undefined) throw new UsageError(`${at}: an address is longer than 255 characters`);
    const known = out.get(host.toLowerCase()) ?? [];
    for (const a of addresses) if (!known.includes(a)) known.push(a);
    if (known.length > MAX_ADDRESSES)
      throw new UsageError(`${at}: more than ${MAX_ADDRESSES} addresses for ${host}`);
    out.set(host.toLowerCase(), known);
  }
  return out;
}

/**
 * The push of this hunt, checked before any log is read: the token, the tenant (exists, in the token's scope,
 * writable), and the advisory (the one the hunt runs, known to the server). One error, exit 2, nothing sent.
 */
async function preparePush(
  io: Io,
  opts: HuntCliOptions,
  advisories: readonly string[],
): Promise<HuntPush | undefined> {
  if (!opts.push) {
    for (const [flag, value] of [
      ['--tenant', opts.tenant],
      ['--token-file', opts.tokenFile],
      ['--addresses', opts.addresses],
    ] as const)
      if (value !== undefined)
        throw new UsageError(`${flag} goes with --push URL; add it or leave ${flag} out`);
    return undefined;
  }
  const client = serverClient(io, { url: opts.push, tokenFile: opts.tokenFile, flag: '--push' });
  if (!opts.tenant)
    throw new UsageError('--push needs --tenant <id>: the tenant whose servers these logs come from');
  if (advisories.length !== 1)
    throw new UsageError(
      `--push needs --advisory <id>: this hunt runs the rules of ${advisories.length} advisories (${advisories.join(', ')}) and a report is about one`,
    );
  let addresses = new Map<string, string[]>();
  if (opts.addresses) {
    let text: string;
    try {
      text = readFileSync(opts.addresses, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--addresses ${escapeControls(opts.addresses)}: cannot read (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    addresses = parseHostAddresses(text, opts.addresses);
  }
  const refused = await pushRefusal(client, opts.tenant, { source: 'hunt' }, { flag: '--push' });
  if (refused) throw new UsageError(refused);
  await requireServerAdvisory(client, advisories[0]!, '--push');
  return { client, tenant: opts.tenant, advisory: advisories[0]!, addresses };
}

type PushOutcome = { ok: true; result: HuntReportsResult } | { ok: false; error: string };

async function pushReports(push: HuntPush, result: HuntResult, at: string): Promise<PushOutcome> {
  const { ApiClientError, pushHuntReports } = await import('../../api/index.js');
  try {
    const answer = await pushHuntReports(push.client, push.tenant, {
      advisory_id: push.advisory,
      observed_at: at,
      reports: hostReportUploads(result, push.addresses),
    });
    return { ok: true, result: answer };
  } catch (err) {
    if (!(err instanceof ApiClientError)) throw err;
    return { ok: false, error: `--push: ${err.message}` };
  }
}

/** What the push did, on standard error: every matched host, every unmatched one with its reason, a summary. */
function reportPush(io: Io, push: HuntPush, result: HuntResult, answer: HuntReportsResult): void {
  // Host names come from the logs and folder names, reasons from the server: shown, never obeyed.
  const err = (text: string) => io.err(escapeLines(text));
  const verdictOf = new Map(result.hosts.map((h) => [h.host, h.verdict]));
  for (const m of answer.matched)
    err(`pushed ${m.host} → asset ${m.asset_id} (${verdictOf.get(m.host) ?? 'reported'})\n`);
  for (const u of answer.unmatched)
    io.err(
      `${paint(io, 'yellow', 'warning')} ${escapeControls(`${u.host} not matched to an asset of tenant ${push.tenant}: ${u.reason}`)}\n`,
    );
  err(
    `pushed ${answer.matched.length + answer.unmatched.length} host report(s) for advisory ${push.advisory} to tenant ${push.tenant}: ${answer.matched.length} matched, ${answer.unmatched.length} unmatched\n`,
  );
}

export async function runHunt(
  io: Io,
  kb: KnowledgeBase,
  paths: string[],
  opts: HuntCliOptions,
): Promise<number> {
  if (opts.json && opts.csv) throw new UsageError('choose one of --json and --csv');
  const limits = archiveLimits(opts);
  let config: ReturnType<typeof huntConfig>;
  let packs: ReturnType<typeof huntAdvisories>;
  try {
    packs = huntAdvisories(kb, opts.advisory);
  } catch (err) {
    throw new UsageError(escapeControls((err as Error).message));
  }
  try {
    config = huntConfig({
      advisories: packs,
      sigmaPaths: opts.sigma,
      iocFiles: opts.iocs,
      strict: Boolean(opts.strict20210302),
    });
  } catch (err) {
    throw new UsageError(escapeControls((err as Error).message));
  }
  const push = await preparePush(
    io,
    opts,
    packs.map((p) => p.advisory.id),
  );
  for (const w of config.warnings) io.err(`${paint(io, 'yellow', 'warning')} ${escapeControls(w)}\n`);
  const bar = progressBar(io, 'hunting');
  const started = new Date().toISOString();
  const result = await hunt({
    paths,
    host: opts.host,
    rules: config.rules,
    assess: config.assess,
    workers: opts.workers,
    onProgress: bar.update,
    archiveLimits: limits,
  }).catch((err: Error) => {
    // A failure names the file it happened on: that name is the attacker's text too.
    bar.done();
    throw Object.assign(err, { message: escapeControls(err.message) });
  });
  bar.done();
  if (!result.hosts.length) {
    const why = result.skipped.length
      ? ` (${result.skipped.length} file(s) skipped: ${result.skipped
          .slice(0, 3)
          .map((s) => `${s.file}: ${s.reason}`)
          .join('; ')})`
      : '';
    throw new UsageError(
      escapeControls(`nothing to judge under ${paths.join(', ')}: no recognised log and no finding${why}`),
    );
  }
  if (opts.html) {
    writeFileSync(
      opts.html,
      renderHtml(result, { title: 'Bulwark compromise assessment', generated: new Date().toISOString() }),
    );
  }
  const pushed = push ? await pushReports(push, result, started) : undefined;
  // JSON: the exact values, with the characters a terminal would act on written as \u escapes.
  if (opts.json)
    io.out(
      `${terminalSafeJson(pushed?.ok ? { ...result, pushed: { tenant: push!.tenant, advisory_id: push!.advisory, ...pushed.result } } : result)}\n`,
    );
  else if (opts.csv) io.out(renderCsv(result));
  else io.out(renderText(result, (style, text) => paint(io, style, text)));
  if (push && pushed) {
    if (!pushed.ok) {
      io.err(`bulwark: ${escapeLines(pushed.error)}\n`);
      return EXIT.usage;
    }
    reportPush(io, push, result, pushed.result);
  }
  // An archive refused or cut at a bound was not examined whole: never "all clean". Unmatched hosts of a push
  // are warnings, not findings: the exit code is the hunt's answer about the logs.
  const allClean = result.hosts.every((h) => h.verdict === 'clean') && !result.summary.incomplete_archives;
  return allClean ? EXIT.clean : EXIT.findings;
}
