/**
 * HAProxy export: `acl` + `http-request` lines for a `frontend` (or `listen`) section in HTTP mode.
 *
 * One acl per chain link, named `bw_<id>_<n>`; several variables of a link are the same acl declared once per
 * variable (HAProxy ORs acls of one name); the links of a chain are ANDed on the `http-request` line:
 *   drop → `http-request silent-drop if …` (closes without a response, like IIS AbortRequest / nginx 444)
 *   deny → `http-request deny deny_status <status> if …`
 * Inputs (sample fetches):
 *   REQUEST_HEADERS:<Name> → req.fhdr(<name>)  — each header line whole (req.hdr would split values on commas);
 *                                                repeated Cookie lines are tested one by one, as ModSecurity does
 *   REQUEST_URI      → url,url_dec   (ModSecurity's REQUEST_URI is %-decoded)
 *   REQUEST_FILENAME → path,url_dec
 *   QUERY_STRING     → query
 *   REQUEST_METHOD   → method
 *   REQUEST_PROTOCOL → req.ver (HAProxy gives "1.1", ModSecurity "HTTP/1.1": skipped)
 * Transformations: t:lowercase → `-i`; t:urlDecode → `,url_dec`; others → skipped (dropped with a note when `lossy`).
 * Not expressed: REQUEST_BODY (needs `option http-buffer-request` and misses bodies beyond the buffer), ARGS*,
 * REQUEST_COOKIES*, *_NAMES, REQUEST_LINE, REMOTE_ADDR regexes, TX; a negated link with several variables.
 * Regexes are PCRE2 (Debian's build): the RE2 subset is valid as is. Patterns are single-quoted (no escapes
 * processed); a `'` is written as `'"'"'`.
 */
import type { SecLangAst, VariableRef } from '../seclang/index.js';
import {
  type Analysed,
  analyse,
  type ExportOptions,
  type ExportResult,
  oneLine,
  renderCommented,
  type TargetCaps,
} from './common.js';

function fetchFor(v: VariableRef): string | { reason: string } {
  switch (v.name) {
    case 'REQUEST_HEADERS':
      if (v.selector === undefined)
        return { reason: 'REQUEST_HEADERS without a header name cannot be expressed in HAProxy' };
      if (!/^[A-Za-z0-9-]+$/.test(v.selector)) return { reason: `header name ${v.selector} is not a token` };
      return `req.fhdr(${v.selector.toLowerCase()})`;
    case 'REQUEST_URI':
      return 'url,url_dec';
    case 'REQUEST_FILENAME':
      return 'path,url_dec';
    case 'QUERY_STRING':
      return 'query';
    case 'REQUEST_METHOD':
      return 'method';
    case 'REQUEST_BODY':
      return { reason: 'REQUEST_BODY is not exported to HAProxy (req.body sees only what fits the buffer)' };
    default:
      return { reason: `${v.name} cannot be expressed as an HAProxy acl here` };
  }
}

export const haproxyCaps: TargetCaps = {
  name: 'HAProxy',
  transformations: new Set(['urlDecode']),
  input: fetchFor,
  regexProblem: (p) => (/[\r\n\0]/.test(p) ? 'control character in the pattern' : undefined),
};

export function haproxyQuote(s: string): string {
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

function ruleText(a: Analysed): string | { reason: string } {
  const { rule } = a;
  const lines = [
    `# ${rule.id}: ${oneLine(rule.actions.msg)} (${oneLine(rule.source.file)}:${rule.source.line})`,
  ];
  for (const n of a.notes) lines.push(`# note: ${n}`);
  const terms: string[] = [];
  for (const [i, c] of a.conditions.entries()) {
    if (c.always) continue;
    const acl = `bw_${rule.id}_${i + 1}`;
    if (c.negated && c.variables.length > 1)
      return { reason: 'negated operator over several variables cannot be one HAProxy acl' };
    for (const v of c.variables) {
      let fetch = fetchFor(v) as string;
      for (const t of c.transformations) if (t === 'urlDecode') fetch += ',url_dec';
      lines.push(`acl ${acl} ${fetch} -m reg${c.caseInsensitive ? ' -i' : ''} ${haproxyQuote(c.pattern)}`);
    }
    terms.push(`${c.negated ? '!' : ''}${acl}`);
  }
  if (terms.length === 0) return { reason: 'the rule matches every request; not exported' };
  const action =
    rule.effectiveAction === 'drop'
      ? 'http-request silent-drop'
      : `http-request deny deny_status ${rule.status}`;
  lines.push(`${action} if ${terms.join(' ')}`);
  return lines.join('\n');
}

export function exportHaproxy(asts: readonly SecLangAst[], opts: ExportOptions = {}): ExportResult {
  return renderCommented(
    [
      '# Exported by Bulwark (bulwark shield export --format haproxy).',
      '# Paste into a frontend/listen section with "mode http".',
    ],
    analyse(asts, haproxyCaps, opts),
    ruleText,
  );
}
