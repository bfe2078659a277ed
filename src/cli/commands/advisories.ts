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

export interface RemoteImportOptions {
  server: string;
  tokenFile?: string;
  format?: ImportFormat;
  json?: boolean;
  wait?: boolean;
  /** Seconds --wait waits at most (default 3600). */
  waitTimeout?: number;
  idempotencyKey?: string;
  /** Ends the wait (tests); by default Ctrl-C (SIGINT) does. */
  interrupt?: AbortSignal;
  /** Where the progress bar draws (tests); default standard error. */
  progressStream?: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>;
}

/** Exit code of a wait ended by Ctrl-C, as shells report a command stopped by SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** The content type an advisory document travels as: XML (CVRF), YAML (Bulwark packs) or JSON. */
export function importContentType(file: string, text: string): string {
  if (/^\s*</.test(text.slice(0, 1024))) return 'application/xml';
  if (/\.ya?ml$/i.test(file)) return 'application/yaml';
  return 'application/json';
}

/**
 * `bulwark advisories import FILE --server URL [--wait]`: uploads the document; the server imports it and
 * recomputes findings as a job. Prints the job id; with --wait follows the job to its end (a progress bar on a
 * terminal) and exits with its outcome: 0 succeeded, 1 failed, cancelled or expired, or the wait timed out.
 * Ctrl-C stops waiting, not the job (`bulwark jobs cancel` cancels it).
 */
export async function runImportRemote(io: Io, file: string, opts: RemoteImportOptions): Promise<number> {
  const { serverClient } = await import('./server-access.js');
  const { importAdvisories, waitForJob, WaitTimeoutError } = await import('../../api/index.js');
  const { asUsageError, describeJob, jobExitCode, progressText } = await import('./jobs.js');
  const { progressBar } = await import('../progress.js');
  const api = serverClient(io, { url: opts.server, tokenFile: opts.tokenFile, flag: '--server' });
  let text: string;
  try {
    text = readDataFile(file);
  } catch (err) {
    throw new UsageError(
      `${escapeControls(file)}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  let job: Awaited<ReturnType<typeof importAdvisories>>['job'];
  try {
    ({ job } = await importAdvisories(api, {
      body: text,
      contentType: importContentType(file, text),
      format: opts.format,
      idempotencyKey: opts.idempotencyKey,
    }));
  } catch (err) {
    throw asUsageError(err);
  }
  const id = escapeControls(job.id);
  if (!opts.wait) {
    if (opts.json) printJson(io, job);
    else io.out(`${id}\n`);
    return EXIT.clean;
  }
  if (!opts.json) io.err(`${escapeControls(file)}: import job ${id} (Ctrl-C stops waiting, not the job)\n`);
  const bar = progressBar(io, 'recomputing', { unit: 'assets', stream: opts.progressStream });
  const stop = new AbortController();
  const onSigint = () => stop.abort(new Error('interrupted'));
  const forward = () => stop.abort(opts.interrupt?.reason ?? new Error('interrupted'));
  if (opts.interrupt?.aborted) forward();
  else if (opts.interrupt) opts.interrupt.addEventListener('abort', forward, { once: true });
  else process.once('SIGINT', onSigint);
  try {
    const finished = await waitForJob(api, job.id, {
      timeoutMs: (opts.waitTimeout ?? 3600) * 1000,
      signal: stop.signal,
      onUpdate: (j) => bar.update(j.progress.done, j.progress.total ?? 0),
      onFallback: (reason) =>
        bar.print(() =>
          io.err(`${paint(io, 'yellow', 'note')} ${escapeLines(reason)}; polling the job instead\n`),
        ),
    });
    bar.done();
    if (opts.json) printJson(io, finished);
    else io.out(describeJob(io, finished));
    return jobExitCode(finished);
  } catch (err) {
    bar.done();
    if (stop.signal.aborted && !(err instanceof WaitTimeoutError)) {
      io.err(
        `stopped waiting; job ${id} goes on (see: bulwark jobs show ${id}; stop it: bulwark jobs cancel ${id})\n`,
      );
      return EXIT_INTERRUPTED;
    }
    if (err instanceof WaitTimeoutError) {
      io.err(
        `job ${id} is still ${escapeControls(err.job.state)} (${progressText(err.job)}) after ${opts.waitTimeout ?? 3600} s; it goes on (see: bulwark jobs show ${id})\n`,
      );
      return EXIT.findings;
    }
    throw asUsageError(err, job.id);
  } finally {
    if (opts.interrupt) opts.interrupt.removeEventListener('abort', forward);
    else process.off('SIGINT', onSigint);
  }
}
