/** `bulwark check --facts F`: verdicts with provenance for every asset in a facts file. */
import { type KnowledgeBase, readDataFile } from '../../advisories/index.js';
import {
  type AssetVerdicts,
  escapeAllStrings,
  factsFileValidator,
  parseDataText,
  type Verdict,
} from '../../core/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';

export function runCheck(
  io: Io,
  kb: KnowledgeBase,
  opts: { facts: string; json?: boolean; advisory?: string },
): number {
  let text: string;
  try {
    text = readDataFile(opts.facts);
  } catch (err) {
    throw new UsageError(
      `${opts.facts}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const assets = parseDataText(text, opts.facts, factsFileValidator);
  if (opts.advisory && !kb.advisories.some((a) => a.id === opts.advisory)) {
    throw new UsageError(`no advisory "${opts.advisory}" (see: bulwark advisories list)`);
  }
  const results = assets.map((asset) => {
    const r = kb.engine.evaluate(asset);
    return opts.advisory ? { ...r, verdicts: r.verdicts.filter((v) => v.advisory === opts.advisory) } : r;
  });
  const exposed = (r: AssetVerdicts) =>
    r.verdicts.some((v) => v.verdict === 'affected' || v.verdict === 'unknown');
  const counts: Record<Verdict, number> = { affected: 0, fixed: 0, not_affected: 0, unknown: 0 };
  for (const r of results) for (const v of r.verdicts) counts[v.verdict]++;
  const summary = {
    assets: results.length,
    exposed_assets: results.filter(exposed).length,
    verdicts: counts,
  };
  if (opts.json) printJson(io, { results, summary });
  // Asset names come from the facts file, advisory text from imported feeds: shown, never obeyed.
  else io.out(renderText(io, escapeAllStrings(results), summary.exposed_assets));
  return summary.exposed_assets ? EXIT.findings : EXIT.clean;
}

function renderText(io: Io, results: AssetVerdicts[], exposedCount: number): string {
  const out: string[] = [];
  for (const r of results) {
    const name = r.tenant ? `${r.tenant}/${r.asset}` : r.asset;
    const bad = r.verdicts.filter((v) => v.verdict === 'affected' || v.verdict === 'unknown');
    if (!r.verdicts.length) {
      out.push(`${paint(io, 'dim', 'no advisory applies')}  ${name}`);
      continue;
    }
    if (!bad.length) {
      out.push(
        `${paint(io, 'green', 'ok')}  ${name}  (${r.verdicts.length} verdicts: fixed or not affected)`,
      );
      continue;
    }
    out.push(`${paint(io, 'red', 'EXPOSED')}  ${name}`);
    for (const v of bad) {
      const label = v.verdict === 'affected' ? paint(io, 'red', 'affected') : paint(io, 'yellow', 'unknown ');
      const fixes = v.fixes.length ? `; fix: ${v.fixes.join(', ')}` : '';
      out.push(
        `  ${label}  ${v.cve}  ${v.product} ${v.version}  [${v.advisory} ${v.provenance.rule}] ${v.provenance.comparison}${fixes}`,
      );
    }
  }
  out.push(`\n${results.length} asset(s), ${exposedCount} exposed.`);
  return `${out.join('\n')}\n`;
}
