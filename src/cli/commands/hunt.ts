/** `bulwark hunt <path...>`: compromise assessment over logs and files, reported per server. */
import { writeFileSync } from 'node:fs';
import { huntAdvisories, type KnowledgeBase } from '../../advisories/index.js';
import { escapeControls, terminalSafeJson } from '../../core/index.js';
import {
  DEFAULT_ARCHIVE_LIMITS,
  hunt,
  huntConfig,
  renderCsv,
  renderHtml,
  renderText,
} from '../../hunt/index.js';
import { EXIT, type Io, paint, UsageError } from '../io.js';
import { progressBar } from '../progress.js';

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

export async function runHunt(
  io: Io,
  kb: KnowledgeBase,
  paths: string[],
  opts: HuntCliOptions,
): Promise<number> {
  if (opts.json && opts.csv) throw new UsageError('choose one of --json and --csv');
  const limits = archiveLimits(opts);
  let config: ReturnType<typeof huntConfig>;
  try {
    config = huntConfig({
      advisories: huntAdvisories(kb, opts.advisory),
      sigmaPaths: opts.sigma,
      iocFiles: opts.iocs,
      strict: Boolean(opts.strict20210302),
    });
  } catch (err) {
    throw new UsageError(escapeControls((err as Error).message));
  }
  for (const w of config.warnings) io.err(`${paint(io, 'yellow', 'warning')} ${escapeControls(w)}\n`);
  const bar = progressBar(io, 'hunting');
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
  // JSON: the exact values, with the characters a terminal would act on written as \u escapes.
  if (opts.json) io.out(`${terminalSafeJson(result)}\n`);
  else if (opts.csv) io.out(renderCsv(result));
  else io.out(renderText(result, (style, text) => paint(io, style, text)));
  // An archive refused or cut at a bound was not examined whole: never "all clean".
  const allClean = result.hosts.every((h) => h.verdict === 'clean') && !result.summary.incomplete_archives;
  return allClean ? EXIT.clean : EXIT.findings;
}
