/** `bulwark exchange <build>`: what an Exchange build is, what it is exposed to, and the least to install. */
import type { KnowledgeBase } from '../../advisories/index.js';
import {
  EXCHANGE_PRODUCT,
  escapeAllStrings,
  type FixSuggestion,
  getScheme,
  reportVersion,
  type VersionReport,
} from '../../core/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';

export function runExchange(io: Io, kb: KnowledgeBase, build: string, opts: { json?: boolean }): number {
  const parsed = getScheme('exchange').parse(build);
  if (!parsed.ok) throw new UsageError(parsed.error);
  const report = reportVersion(kb.engine, kb.catalogIndex, EXCHANGE_PRODUCT, build);
  if (opts.json) printJson(io, toJson(report));
  // Names, titles and advisory ids can come from imported data: shown, never obeyed.
  else io.out(renderText(io, escapeAllStrings(report)));
  return report.vulnerable.length || report.unknown.length ? EXIT.findings : EXIT.clean;
}

/** The documented JSON shape (docs/cli.md): stable field names, snake_case. */
function toJson(r: VersionReport) {
  return {
    build: r.build,
    product: r.productName ?? null,
    cu: r.train ?? null,
    update: r.update ? { name: r.update.name, title: r.update.title ?? null, kb: r.update.kb ?? null } : null,
    level: r.level,
    known: r.known,
    nearest: r.known ? null : { below: r.nearest.below ?? null, above: r.nearest.above ?? null },
    vulnerable: r.vulnerable,
    unknown: r.unknown,
    fixed: r.fixed,
    not_affected: r.notAffected,
    kev: r.kev,
    advisories: r.advisories,
    fixes: r.fixes.map((f) => ({
      kind: f.kind,
      kb: f.kb ?? null,
      build: f.build,
      title: f.title,
      train: f.train,
      requires: f.requires ?? null,
    })),
    verdicts: r.verdicts.map((v) => ({
      cve: v.cve,
      advisory: v.advisory,
      verdict: v.verdict,
      provenance: v.provenance,
    })),
  };
}

function renderText(io: Io, r: VersionReport): string {
  const lines: string[] = [];
  if (r.known) {
    lines.push(`${r.productName} ${r.train} (${r.build}), ${r.level}`);
  } else {
    const near = [r.nearest.below, r.nearest.above]
      .filter((n) => n !== undefined)
      .map((n) => `${n.build} (${n.name})`)
      .join(' and ');
    lines.push(
      `Unknown Exchange build ${r.build}: not in the build catalog${near ? `; nearest known: ${near}` : ''}`,
    );
  }
  const tail = (cves: string[]) => {
    const kev = cves.length && cves.every((c) => r.kev.includes(c)) ? ', CISA KEV' : '';
    return `  (advisory ${r.advisories.join(', ')}${kev})`;
  };
  if (r.vulnerable.length)
    lines.push(
      `${paint(io, 'red', paint(io, 'bold', 'VULNERABLE'))}  ${r.vulnerable.join(' ')}${tail(r.vulnerable)}`,
    );
  if (r.unknown.length) {
    lines.push(
      `${paint(io, 'yellow', 'UNKNOWN')}  ${r.unknown.join(' ')}  (${
        // A known build is unknown when the advisory's source does not cover its release (see --json provenance).
        r.known
          ? "the advisory's source does not say whether this release is affected"
          : 'cannot be judged for a build the catalog does not know'
      }; treat as exposed until confirmed)`,
    );
  }
  if (!r.vulnerable.length && !r.unknown.length) {
    const fixed = r.fixed.length ? `; fixed: ${r.fixed.join(' ')}` : '';
    lines.push(`${paint(io, 'green', 'NOT VULNERABLE')} to any loaded advisory${fixed}`);
  }
  if (r.fixes.length) lines.push(`Fix: ${r.fixes.map(describeFix).join(', or ')}`);
  else if (r.vulnerable.length || r.unknown.length)
    lines.push('Fix: no fixed build of this product line is known to the catalog');
  return `${lines.join('\n')}\n`;
}

function describeFix(f: FixSuggestion): string {
  if (f.kind === 'cumulative_update') return `upgrade to ${f.title} (${f.build}) or later`;
  const what = `install ${f.kb ?? f.title} (${shortTitle(f.title)}) -> ${f.build}`;
  return f.requires ? `upgrade to ${f.requires.train} (${f.requires.build}) and ${what}` : what;
}

/** "March 2021 Security Update" → "March 2021 SU", the way admins say it. */
function shortTitle(title: string): string {
  return title.replace(/Security Update$/, 'SU');
}
