/** `bulwark advisories list|show|validate|import`. */
import { readFileSync } from 'node:fs';
import {
  type ImportFormat,
  importDocument,
  type KnowledgeBase,
  loadAdvisoryFile,
  readDataFile,
  saveImport,
} from '../../advisories/index.js';
import { type Advisory, escapeAllStrings, escapeControls, escapeLines } from '../../core/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';

export function runList(io: Io, kb: KnowledgeBase, opts: { json?: boolean }): number {
  const rows = kb.advisories.map((a) => ({
    id: a.id,
    title: a.title,
    published: a.published,
    cves: a.cves.map((c) => c.id),
    kev: a.cves.filter((c) => c.kev).map((c) => c.id),
    products: [...new Set(a.affected.map((x) => x.product))],
    source: kb.sourceOf.get(a.id) ?? 'built-in',
  }));
  if (opts.json) {
    printJson(io, { advisories: rows });
    return EXIT.clean;
  }
  if (!rows.length) io.out('No advisories loaded.\n');
  // Ids, titles and sources come from imported feeds: shown, never obeyed.
  for (const r of escapeAllStrings(rows)) {
    const kev = r.kev.length ? paint(io, 'red', ` KEV:${r.kev.length}`) : '';
    io.out(
      `${paint(io, 'bold', r.id)}  ${r.published}  ${r.cves.length} CVE${r.cves.length === 1 ? '' : 's'}${kev}  [${r.source}]\n  ${r.title}\n`,
    );
  }
  return EXIT.clean;
}

export function runShow(io: Io, kb: KnowledgeBase, id: string, opts: { json?: boolean }): number {
  const a = kb.advisories.find((x) => x.id === id);
  if (!a) {
    const known = kb.advisories.map((x) => x.id).join(', ');
    throw new UsageError(`no advisory "${id}"; loaded: ${known || 'none'} (see: bulwark advisories list)`);
  }
  if (opts.json) printJson(io, a);
  else io.out(renderAdvisory(io, escapeAllStrings(a)));
  return EXIT.clean;
}

function renderAdvisory(io: Io, a: Advisory): string {
  const out: string[] = [
    `${paint(io, 'bold', a.title)} (${a.id})`,
    `Published ${a.published}${a.exploitation_start ? `; exploited since ${a.exploitation_start}` : ''}`,
    '',
    a.summary,
    '',
    'CVEs:',
  ];
  for (const c of a.cves) {
    const score = c.cvss ? ` CVSS ${c.cvss.score}` : '';
    const kev = c.kev
      ? ` KEV (added ${c.kev.date_added}, due ${c.kev.due_date}, ransomware ${c.kev.ransomware})`
      : '';
    out.push(
      `  ${c.id}${score}${c.cwe.length ? ` ${c.cwe.join(',')}` : ''}${kev}${c.title ? ` - ${c.title}` : ''}`,
    );
  }
  if (a.affected.length) {
    out.push('', 'Affected:');
    for (const x of a.affected) {
      out.push(`  ${x.name ?? x.product} [${x.scheme}] ${x.cves.join(' ')}`);
      for (const r of x.ranges) {
        const lo = r.introduced ? `>= ${r.introduced}` : '';
        const hi = r.fixed ? `< ${r.fixed}` : r.last_affected ? `<= ${r.last_affected}` : '';
        out.push(`    ${[lo, hi].filter(Boolean).join(', ')}${r.train ? `  (${r.train})` : ''}`);
      }
      if (x.versions.length) out.push(`    versions: ${x.versions.join(', ')}`);
    }
  }
  if (a.fixes.length) {
    out.push('', 'Fixes:');
    for (const f of a.fixes)
      out.push(
        `  ${f.kb ?? f.id}  ${f.title}${f.released ? ` (${f.released})` : ''}${f.url ? `  ${f.url}` : ''}`,
      );
  }
  if (a.mitigations.length) {
    out.push('', 'Mitigations (interim, not a fix):');
    for (const m of a.mitigations) out.push(`  ${m.id}: ${m.title} [${m.cves.join(' ')}]`);
  }
  if (a.references.length) {
    out.push('', 'References:');
    for (const r of a.references) out.push(`  ${r.url}`);
  }
  return `${out.join('\n')}\n`;
}

export function runValidate(io: Io, files: string[], opts: { json?: boolean }): number {
  const results = files.map((file) => {
    try {
      const a = loadAdvisoryFile(file);
      return { file, valid: true, id: a.id, error: null as string | null };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES')
        throw new UsageError(`${file}: cannot read (${code})`);
      return { file, valid: false, id: null, error: (err as Error).message };
    }
  });
  if (opts.json) printJson(io, { files: results });
  else {
    for (const r of results) {
      if (r.valid) io.out(`${paint(io, 'green', 'valid')}  ${escapeControls(`${r.file} (${r.id})`)}\n`);
      else io.out(`${paint(io, 'red', 'invalid')}  ${escapeLines(r.error ?? '')}\n`);
    }
  }
  return results.every((r) => r.valid) ? EXIT.clean : EXIT.findings;
}

export function runImport(
  io: Io,
  kb: KnowledgeBase,
  files: string[],
  opts: { json?: boolean; format?: ImportFormat; dryRun?: boolean; dataDir: string },
): number {
  // Convert every file first; nothing is written unless all of them convert.
  const imported = files.map((file) => {
    let text: string;
    try {
      text =
        file.endsWith('.json') || file.endsWith('.xml') ? readDataFile(file) : readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    try {
      return { file, ...importDocument(text, { origin: file, catalogs: kb.catalogs, format: opts.format }) };
    } catch (err) {
      throw new UsageError(`${file}: ${(err as Error).message}`);
    }
  });
  const advisories = imported.flatMap((i) => i.advisories);
  const kev = new Map(imported.flatMap((i) => [...i.kev]));
  const saved = opts.dryRun ? undefined : saveImport(opts.dataDir, advisories, kev);
  if (opts.json) {
    printJson(io, {
      dry_run: Boolean(opts.dryRun),
      files: imported.map((i) => ({
        file: i.file,
        format: i.format,
        advisories: i.advisories.map((a) => a.id),
        kev_entries: i.kev.size,
        warnings: i.warnings,
      })),
      written: saved?.files ?? [],
    });
  } else {
    // File names are the user's; ids and warnings quote the feed: shown, never obeyed.
    for (const i of imported) {
      const file = escapeControls(i.file);
      const ids = i.advisories.map((a) => escapeControls(a.id));
      const what =
        i.format === 'kev'
          ? `${i.kev.size} KEV entries`
          : `${ids.length} advisor${ids.length === 1 ? 'y' : 'ies'}`;
      io.out(`${file}: ${i.format}, ${what}${ids.length ? ` (${ids.join(', ')})` : ''}\n`);
      for (const w of i.warnings.slice(0, 20))
        io.err(
          `${paint(io, 'yellow', 'warning')} ${file}: ${escapeControls(w.path)}: ${escapeLines(w.message)}\n`,
        );
      if (i.warnings.length > 20)
        io.err(`… and ${i.warnings.length - 20} more warnings (use --json to see all)\n`);
    }
    io.out(
      opts.dryRun
        ? 'Dry run: nothing written.\n'
        : `Saved to ${escapeControls(opts.dataDir)}: ${saved!.files.length} file(s).\n`,
    );
  }
  return EXIT.clean;
}
