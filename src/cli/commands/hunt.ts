/** `bulwark hunt <path...>`: compromise assessment over logs and files, reported per server. */
import { writeFileSync } from 'node:fs';
import type { KnowledgeBase } from '../../advisories/index.js';
import { hunt, huntConfig, renderCsv, renderHtml, renderText } from '../../hunt/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';
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
}

export async function runHunt(
  io: Io,
  kb: KnowledgeBase,
  paths: string[],
  opts: HuntCliOptions,
): Promise<number> {
  if (opts.json && opts.csv) throw new UsageError('choose one of --json and --csv');
  const chosen = kb.advisories.filter((a) =>
    opts.advisory ? a.id === opts.advisory : a.hunt_rules.length > 0 || a.iocs,
  );
  if (opts.advisory && !chosen.length)
    throw new UsageError(`no advisory "${opts.advisory}" (see: bulwark advisories list)`);
  let config: ReturnType<typeof huntConfig>;
  try {
    config = huntConfig({
      advisories: chosen.map((advisory) => ({ advisory, file: kb.fileOf.get(advisory.id)! })),
      sigmaPaths: opts.sigma,
      iocFiles: opts.iocs,
      strict: Boolean(opts.strict20210302),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const w of config.warnings) io.err(`${paint(io, 'yellow', 'warning')} ${w}\n`);
  const bar = progressBar(io, 'hunting');
  const result = await hunt({
    paths,
    host: opts.host,
    rules: config.rules,
    assess: config.assess,
    workers: opts.workers,
    onProgress: bar.update,
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
      `nothing to judge under ${paths.join(', ')}: no recognised log and no finding${why}`,
    );
  }
  if (opts.html) {
    writeFileSync(
      opts.html,
      renderHtml(result, { title: 'Bulwark compromise assessment', generated: new Date().toISOString() }),
    );
  }
  if (opts.json) printJson(io, result);
  else if (opts.csv) io.out(renderCsv(result));
  else io.out(renderText(result, (style, text) => paint(io, style, text)));
  return result.hosts.every((h) => h.verdict === 'clean') ? EXIT.clean : EXIT.findings;
}
