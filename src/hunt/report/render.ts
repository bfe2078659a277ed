/**
 * Hunt reports for people: a terminal report, CSV of findings for spreadsheets and SIEMs, and one
 * self-contained HTML page an MSP can hand to its customer. Every value from the logs (and every file name) is
 * hostile: control characters are made visible before anything is written (core/escape.ts), HTML is escaped, every CSV
 * cell is quoted and cells that a spreadsheet would run as formulas are neutralised.
 */

import { csvCell, escapeAllStrings, escapeControls } from '../../core/index.js';
import type { HostReport, HostVerdict } from '../assess.js';
import type { HuntResult } from './model.js';

type Paint = (style: 'red' | 'green' | 'yellow' | 'bold' | 'dim' | 'cyan', text: string) => string;

const VERDICT_LABEL: Record<HostVerdict, string> = {
  compromised: 'COMPROMISED',
  exploitation_attempted: 'EXPLOITATION ATTEMPTED',
  probed: 'PROBED',
  clean: 'CLEAN',
  insufficient_logs: 'INSUFFICIENT LOGS',
};

const VERDICT_STYLE: Record<HostVerdict, 'red' | 'yellow' | 'green' | 'dim'> = {
  compromised: 'red',
  exploitation_attempted: 'red',
  probed: 'yellow',
  clean: 'green',
  insufficient_logs: 'yellow',
};

const TEXT_TIMELINE = 20;
const TEXT_SKIPPED = 20;
const HTML_SKIPPED = 200;

export function renderText(result: HuntResult, paint: Paint): string {
  // Every string the report shows, escaped once: the only escape sequences in the output are paint's colours.
  // (Findings and file samples are not shown here; a large hunt's copies of them would cost for nothing.)
  const r = escapeAllStrings({ ...result, findings: [], files: [] });
  const out: string[] = [];
  for (const h of r.hosts) {
    out.push(
      `${paint('bold', `Host ${h.host}:`)} ${paint(VERDICT_STYLE[h.verdict], paint('bold', VERDICT_LABEL[h.verdict]))}`,
    );
    out.push(`  ${h.summary}`);
    if (h.cves.length) out.push(`  CVEs: ${h.cves.join(' ')}`);
    for (const ip of h.attacker_ips.slice(0, 10)) {
      out.push(
        `  From ${ip.ip}: ${ip.findings} finding${ip.findings === 1 ? '' : 's'}, worst ${ip.worst.replace('_', '-')}, ${ip.first ?? '?'} to ${ip.last ?? '?'}`,
      );
    }
    if (h.attacker_ips.length > 10) out.push(`  … and ${h.attacker_ips.length - 10} more addresses`);
    const total = h.timeline.length + h.timeline_omitted;
    if (total) {
      out.push(
        `  Timeline${total > TEXT_TIMELINE ? ` (first ${TEXT_TIMELINE} of ${total}; all in --json/--html)` : ''}:`,
      );
      for (const t of h.timeline.slice(0, TEXT_TIMELINE)) {
        const stage =
          t.stage === 'post_exploitation'
            ? paint('red', 'post-exploitation')
            : t.stage === 'exploitation'
              ? paint('red', 'exploitation')
              : t.stage;
        out.push(
          `    ${t.timestamp ?? '(no time)'}  ${stage}  ${t.cve ?? '-'}  ${t.title}  ${paint('dim', `${t.file}:${t.line}`)}${t.client ? `  ${t.client}` : ''}`,
        );
      }
    }
    if (h.coverage.length) {
      out.push('  Logs examined:');
      for (const c of h.coverage) {
        const back =
          c.reaches_back === false
            ? paint('yellow', ' (starts after the exploitation start)')
            : c.reaches_back
              ? ' (reaches back)'
              : '';
        out.push(
          `    ${c.source}: ${c.files} file${c.files === 1 ? '' : 's'}, ${c.lines} lines, ${c.first ?? '?'} to ${c.last ?? '?'}${back}`,
        );
      }
    }
    out.push('  Next steps:');
    h.next_steps.forEach((s, i) => {
      out.push(`    ${i + 1}. ${s}`);
    });
    out.push('');
  }
  out.push(summaryLine(r));
  if (r.skipped.length) {
    out.push(`${r.skipped.length} file(s) not examined:`);
    for (const s of r.skipped.slice(0, TEXT_SKIPPED)) {
      const line = `  ${s.file}: ${s.reason}`;
      out.push(s.incomplete ? paint('yellow', line) : paint('dim', line));
    }
    if (r.skipped.length > TEXT_SKIPPED)
      out.push(paint('dim', `  … and ${r.skipped.length - TEXT_SKIPPED} more (all in --json "skipped")`));
  }
  if (r.summary.incomplete_archives)
    out.push(
      paint(
        'yellow',
        `${r.summary.incomplete_archives} archive(s) not examined whole: the verdicts above do not cover what they hold.`,
      ),
    );
  if (r.summary.malformed_lines || r.summary.truncated_lines) {
    out.push(
      paint(
        'dim',
        `${r.summary.malformed_lines} malformed and ${r.summary.truncated_lines} over-long line(s) counted; samples in --json "files".`,
      ),
    );
  }
  for (const u of r.rules.unsupported)
    out.push(paint('yellow', `Rule not evaluated: ${u.rule} (${u.file}): ${u.reason}`));
  return `${out.join('\n')}\n`;
}

export function summaryLine(r: HuntResult): string {
  const counts = new Map<HostVerdict, number>();
  for (const h of r.hosts) counts.set(h.verdict, (counts.get(h.verdict) ?? 0) + 1);
  const verdicts = [...counts].map(([v, n]) => `${n} ${v.replace('_', ' ')}`).join(', ');
  const mb = (r.summary.bytes / 1e6).toFixed(1);
  return `${r.hosts.length} host${r.hosts.length === 1 ? '' : 's'}${verdicts ? `: ${verdicts}` : ''}. ${r.summary.files} files, ${mb} MB in ${r.summary.seconds.toFixed(2)} s (${r.summary.mb_per_s.toFixed(0)} MB/s), ${r.summary.findings} findings, ${r.rules.loaded} rules (${r.summary.mode}).`;
}

/** The summary for a customer: what was examined and found, without speeds or modes. */
function plainSummary(r: HuntResult): string {
  const counts = new Map<HostVerdict, number>();
  for (const h of r.hosts) counts.set(h.verdict, (counts.get(h.verdict) ?? 0) + 1);
  const verdicts = [...counts].map(([v, n]) => `${n} ${VERDICT_LABEL[v].toLowerCase()}`).join(', ');
  const n = r.hosts.length;
  return `${n} server${n === 1 ? '' : 's'} assessed${verdicts ? ` (${verdicts})` : ''} from ${r.summary.files} log file${r.summary.files === 1 ? '' : 's'} (${(r.summary.bytes / 1e6).toFixed(1)} MB); ${r.summary.findings} finding${r.summary.findings === 1 ? '' : 's'}.`;
}

const CSV_COLUMNS = [
  'host',
  'verdict',
  'timestamp',
  'stage',
  'severity',
  'cve',
  'rule',
  'title',
  'source',
  'file',
  'line',
  'client',
  'matched',
  'raw',
] as const;

export function renderCsv(r: HuntResult): string {
  const verdictOf = new Map(r.hosts.map((h) => [h.host, h.verdict]));
  const rows = [CSV_COLUMNS.map(csvCell).join(',')];
  for (const f of r.findings) {
    const cells: Record<(typeof CSV_COLUMNS)[number], string> = {
      host: f.host,
      verdict: verdictOf.get(f.host) ?? '',
      timestamp: f.timestamp ?? '',
      stage: f.stage,
      severity: f.severity,
      cve: f.cve ?? '',
      rule: f.rule,
      title: f.title,
      source: f.source,
      file: f.file,
      line: String(f.line),
      client: f.client ?? '',
      matched: Object.entries(f.matched)
        .map(([k, v]) => `${k}=${v}`)
        .join('; '),
      raw: f.raw,
    };
    rows.push(CSV_COLUMNS.map((c) => csvCell(cells[c])).join(','));
  }
  return `${rows.join('\r\n')}\r\n`;
}

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** The files that were not examined, named with the reason, for the customer's report. */
function skippedHtml(r: HuntResult, e: (s: string) => string): string {
  if (!r.skipped.length) return '';
  const incomplete = r.summary.incomplete_archives
    ? `<p><b>${r.summary.incomplete_archives} archive${r.summary.incomplete_archives === 1 ? ' was' : 's were'} not examined whole</b> (refused as malformed or too large once unpacked): the conclusions above do not cover what ${r.summary.incomplete_archives === 1 ? 'it holds' : 'they hold'}.</p>`
    : '';
  const rows = r.skipped
    .slice(0, HTML_SKIPPED)
    .map((s) => `<tr><td class="mono">${e(s.file)}</td><td>${e(s.reason)}</td></tr>`)
    .join('');
  const more =
    r.skipped.length > HTML_SKIPPED
      ? `<p>… and ${r.skipped.length - HTML_SKIPPED} more files not examined.</p>`
      : '';
  return `<section class="skipped">
<h2>Files not examined</h2>
${incomplete}<p>These files were given but are not logs this assessment reads, or could not be read.</p>
<table><tr><th>File</th><th>Why</th></tr>${rows}</table>${more}
</section>`;
}

const HTML_COLOR: Record<HostVerdict, string> = {
  compromised: '#b3261e',
  exploitation_attempted: '#c4561b',
  probed: '#8a6d00',
  clean: '#1e7b34',
  insufficient_logs: '#6b5d00',
};

export function renderHtml(r: HuntResult, meta: { title: string; generated: string }): string {
  // Controls made visible (a page shows them as nothing at all, or reorders text around bidi overrides), then
  // HTML-escaped: every interpolated string goes through `e`; numbers are the only other values interpolated.
  const e = (s: string) => escapeHtml(escapeControls(s));
  const host = (h: HostReport) => `
<section class="host">
  <h2>${e(h.host)} <span class="verdict" style="background:${HTML_COLOR[h.verdict]}">${e(VERDICT_LABEL[h.verdict])}</span></h2>
  <p>${e(h.summary)}</p>
  ${h.cves.length ? `<p><b>CVEs:</b> ${h.cves.map(e).join(', ')}</p>` : ''}
  <h3>What to do next</h3>
  <ol>${h.next_steps.map((s) => `<li>${e(s)}</li>`).join('')}</ol>
  ${
    h.attacker_ips.length
      ? `<h3>Source addresses</h3><table><tr><th>Address</th><th>Findings</th><th>Worst stage</th><th>First seen</th><th>Last seen</th></tr>${h.attacker_ips
          .map(
            (ip) =>
              `<tr><td>${e(ip.ip)}</td><td>${ip.findings}</td><td>${e(ip.worst.replace('_', '-'))}</td><td>${e(ip.first ?? '')}</td><td>${e(ip.last ?? '')}</td></tr>`,
          )
          .join('')}</table>`
      : ''
  }
  ${
    h.timeline.length
      ? `<h3>Timeline</h3>${h.timeline_omitted ? `<p>${h.timeline_omitted} entries in the middle are left out here; the full list of findings is kept with the assessment's data.</p>` : ''}<table><tr><th>Time (UTC)</th><th>Stage</th><th>CVE</th><th>What</th><th>Evidence</th><th>Client</th></tr>${h.timeline
          .map(
            (t) =>
              `<tr class="${e(t.stage)}"><td class="nowrap">${e(t.timestamp ?? '')}</td><td>${e(t.stage.replace('_', '-'))}</td><td class="nowrap">${e(t.cve ?? '')}</td><td>${e(t.title)}${t.also.length ? `<br><small>also: ${t.also.map(e).join('; ')}</small>` : ''}</td><td class="mono">${e(t.file)}:${t.line}</td><td>${e(t.client ?? '')}</td></tr>`,
          )
          .join('')}</table>`
      : ''
  }
  <h3>Logs examined</h3>
  ${
    h.coverage.length
      ? `<table><tr><th>Log</th><th>Files</th><th>Lines</th><th>From</th><th>To</th><th>Reaches back?</th></tr>${h.coverage
          .map(
            (c) =>
              `<tr><td>${e(c.source)}</td><td>${c.files}</td><td>${c.lines}</td><td>${e(c.first ?? '')}</td><td>${e(c.last ?? '')}</td><td>${c.reaches_back === null ? '' : c.reaches_back ? 'yes' : 'no'}</td></tr>`,
          )
          .join('')}</table>`
      : '<p>No recognised logs for this server.</p>'
  }
</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${e(meta.title)}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem;margin-bottom:.2rem}.meta{color:#555;margin-top:0}
section.host{border:1px solid #ddd;border-radius:8px;padding:0 1.2rem 1rem;margin:1.5rem 0}
.verdict{color:#fff;border-radius:4px;padding:.1rem .5rem;font-size:.9rem;vertical-align:middle}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}th,td{border-bottom:1px solid #eee;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.nowrap{white-space:nowrap}.mono{font-family:ui-monospace,Consolas,monospace;word-break:break-all}
tr.post_exploitation td:nth-child(2){color:#b3261e;font-weight:600}tr.exploitation td:nth-child(2){color:#c4561b}
footer{color:#666;font-size:.85rem;margin-top:2rem}
</style></head><body>
<h1>${e(meta.title)}</h1>
<p class="meta">${e(plainSummary(r))}<br>Generated ${e(meta.generated)} by Bulwark.</p>
${r.hosts.map(host).join('\n')}
${skippedHtml(r, e)}
<footer>
<p>Rules: ${r.rules.loaded} evaluated${r.rules.unsupported.length ? `; not evaluated: ${r.rules.unsupported.map((u) => `${e(u.rule)} (${e(u.reason)})`).join('; ')}` : ''}.
Sigma rules keep their authors' attribution (Detection Rule License 1.1); the ProxyLogon checks follow Microsoft's Test-ProxyLogon.ps1.</p>
</footer>
</body></html>
`;
}
