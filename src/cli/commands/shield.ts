/** `bulwark shield export`: an advisory's virtual patch (or any SecLang file) for the WAF or IIS a customer runs. */
import { readFileSync } from 'node:fs';
import { type KnowledgeBase, PackError, virtualPatchFiles } from '../../advisories/index.js';
import { type ExportFormat, exportRules } from '../../shield/export/index.js';
import { parseSecLangAst, SecLangError } from '../../shield/seclang/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';

export interface ShieldExportOptions {
  format: ExportFormat;
  advisory?: string;
  strict?: boolean;
  /** Drop decoding steps the target cannot express (misses encoded evasions; every such rule gets a note). */
  lossy?: boolean;
  allowCrsIds?: boolean;
  json?: boolean;
  /** Exit 1 when any rule is left out (for pipelines that accept only a complete translation). */
  requireAll?: boolean;
}

/** An advisory's SecLang files (see advisories/packs.ts), a PackError as a usage error. */
export function advisoryRuleFiles(kb: KnowledgeBase, id: string, strict: boolean): string[] {
  try {
    return virtualPatchFiles(kb, id, strict);
  } catch (err) {
    if (err instanceof PackError) throw new UsageError(err.message);
    throw err;
  }
}

export function runShieldExport(
  io: Io,
  kb: KnowledgeBase,
  files: string[],
  opts: ShieldExportOptions,
): number {
  if (!files.length && !opts.advisory) throw new UsageError('give rule files or --advisory ID');
  const paths = [
    ...files,
    ...(opts.advisory ? advisoryRuleFiles(kb, opts.advisory, Boolean(opts.strict)) : []),
  ];
  const asts = paths.map((p) => {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (err) {
      throw new UsageError(
        `${p}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    try {
      return parseSecLangAst(text, p);
    } catch (err) {
      if (err instanceof SecLangError) throw new UsageError(err.message);
      throw err;
    }
  });
  const out = exportRules(asts, opts.format, { lossy: opts.lossy, allowCrsIds: opts.allowCrsIds });
  const total = asts.reduce((n, a) => n + a.rules.length, 0);
  // An export that enforces nothing is not a result: say why instead of printing a file of comments.
  if (total > 0 && out.skipped.length >= total) {
    const first = out.skipped[0]!;
    throw new UsageError(
      `none of the ${total} rule(s) can be expressed for ${opts.format} (rule ${first.id}: ${first.reason})` +
        (opts.lossy ? '' : '; --lossy drops the decoding steps the target lacks'),
    );
  }
  if (opts.json) printJson(io, { format: opts.format, files: paths, ...out });
  else {
    io.out(out.text.endsWith('\n') ? out.text : `${out.text}\n`);
    for (const s of out.skipped) io.err(`${paint(io, 'yellow', 'not exported')} rule ${s.id}: ${s.reason}\n`);
    for (const n of out.notes) io.err(`${paint(io, 'dim', 'note')} rule ${n.id}: ${n.note}\n`);
  }
  // A written export is a success even when some rules are left out (each is reported above and commented in the
  // output): the target simply cannot express them. --require-all makes that a failure for strict pipelines.
  return opts.requireAll && out.skipped.length ? EXIT.findings : EXIT.clean;
}
