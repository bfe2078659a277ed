/**
 * nginx export: a snippet of rewrite-module directives for a `server { }` block (no ModSecurity needed).
 * Include it in every server that fronts the protected application; it runs in the server rewrite phase, before
 * any location, so it also covers `proxy_pass`.
 *
 * Shape of one rule: per chain link a flag `set $bw_<id>_<n> 0; if ($input ~* "re") { set $bw_<id>_<n> 1; }`
 * (one `if` per variable: the variables of a link are ORed), then `if` on the concatenated flags (the links of a
 * chain are ANDed) → `return 444;` (drop: nginx closes the connection without a response, like IIS AbortRequest)
 * or `return <status>;` (deny).
 *
 * Inputs:
 *   REQUEST_HEADERS:Cookie  → $http_cookie   — ALL Cookie header lines joined with "; " (nginx 1.22, checked live
 *                                              in nginx.test.ts), i.e. IIS's {HTTP_COOKIE}; ModSecurity tests
 *                                              each Cookie line on its own (differs only for patterns spanning lines)
 *   REQUEST_HEADERS:<Name>  → $http_<name>   — `-` → `_`; for other repeated headers nginx 1.22 gives the first
 *   REQUEST_FILENAME        → $uri           — %-decoded path like ModSecurity's, but nginx also merges slashes and
 *                                              resolves dot segments (what t:normalizePath does) — noted
 *   QUERY_STRING            → $args          — raw, as ModSecurity's
 *   REQUEST_METHOD          → $request_method
 *   REQUEST_PROTOCOL        → $server_protocol
 *   REQUEST_LINE            → $request
 *   REMOTE_ADDR             → $remote_addr
 *   REQUEST_URI             → $request_uri   — only with `lossy`: nginx's is raw, ModSecurity's is %-decoded
 * Not expressible: REQUEST_BODY, ARGS/ARGS_* (nginx does not read or parse bodies in the rewrite phase, and has no
 * per-argument decoded values), REQUEST_COOKIES* (nginx's $cookie_<name> is only the first cookie of that name),
 * REQUEST_HEADERS without a selector, *_NAMES, TX.
 * Transformations: t:lowercase → `~*` (case-insensitive PCRE); nothing else has an nginx equivalent (no decoding,
 * no NUL/whitespace removal) → skipped, or dropped with a note when `lossy`.
 * Regexes are PCRE: the RE2 subset Bulwark accepts is valid as is. Quoting: `\` → `\\`, `"` → `\"` inside "…".
 */
import type { SecLangAst, VariableRef } from '../seclang/index.js';
import {
  type Analysed,
  analyse,
  type ExportNote,
  type ExportOptions,
  type ExportResult,
  oneLine,
  renderCommented,
  type TargetCaps,
} from './common.js';

function nginxInput(v: VariableRef, lossy: boolean): string | { reason: string } {
  switch (v.name) {
    case 'REQUEST_HEADERS': {
      if (v.selector === undefined)
        return { reason: 'REQUEST_HEADERS without a header name cannot be expressed in nginx' };
      if (!/^[A-Za-z0-9-]+$/.test(v.selector))
        return { reason: `header name ${v.selector} has no nginx variable` };
      return `$http_${v.selector.toLowerCase().replace(/-/g, '_')}`;
    }
    case 'REQUEST_FILENAME':
      return '$uri';
    case 'QUERY_STRING':
      return '$args';
    case 'REQUEST_METHOD':
      return '$request_method';
    case 'REQUEST_PROTOCOL':
      return '$server_protocol';
    case 'REQUEST_LINE':
      return '$request';
    case 'REMOTE_ADDR':
      return '$remote_addr';
    case 'REQUEST_URI':
      return lossy
        ? '$request_uri'
        : {
            reason:
              'REQUEST_URI: nginx has only the raw $request_uri, ModSecurity matches the %-decoded URI (lossy exports it raw)',
          };
    case 'REQUEST_BODY':
      return {
        reason:
          'REQUEST_BODY cannot be expressed in plain nginx (the rewrite phase runs before the body is read)',
      };
    default:
      return {
        reason: `${v.name} cannot be expressed in plain nginx (no parsed arguments, cookies by name or names)`,
      };
  }
}

export function nginxCaps(opts: ExportOptions): TargetCaps {
  return {
    name: 'nginx',
    transformations: new Set(),
    input: (v) => nginxInput(v, opts.lossy === true),
    regexProblem: (p) => (/[\r\n]/.test(p) ? 'line break in the pattern' : undefined),
  };
}

export function nginxQuote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function ruleText(a: Analysed, notes: ExportNote[]): string | { reason: string } {
  const { rule } = a;
  let ret: string;
  if (rule.effectiveAction === 'drop') ret = 'return 444;';
  else if (rule.status >= 400 && rule.status <= 599) ret = `return ${rule.status};`;
  else return { reason: `deny with status ${rule.status}: nginx "return" needs 4xx/5xx here` };
  const lines = [
    `# ${rule.id}: ${oneLine(rule.actions.msg)} (${oneLine(rule.source.file)}:${rule.source.line})`,
  ];
  for (const n of a.notes) lines.push(`# note: ${n}`);
  const flags: string[] = [];
  a.conditions.forEach((c, i) => {
    const flag = `bw_${rule.id}_${i + 1}`;
    flags.push(flag);
    if (c.always) {
      lines.push(`set $${flag} 1;`);
      return;
    }
    lines.push(`set $${flag} 0;`);
    const op = `${c.negated ? '!' : ''}~${c.caseInsensitive ? '*' : ''}`;
    for (const v of c.variables) {
      const input = nginxInput(v, true) as string;
      if (v.name === 'REQUEST_FILENAME') {
        notes.push({
          id: rule.id,
          note: 'REQUEST_FILENAME → $uri: nginx also merges slashes and resolves dot segments',
        });
      }
      if (v.name === 'REQUEST_URI') {
        notes.push({ id: rule.id, note: 'REQUEST_URI → $request_uri: raw, not %-decoded (lossy)' });
      }
      lines.push(`if (${input} ${op} ${nginxQuote(c.pattern)}) { set $${flag} 1; }`);
    }
  });
  if (flags.length === 1) {
    lines.push(`if ($${flags[0]} = 1) { ${ret} }`);
  } else {
    lines.push(`set $bw_${rule.id} "${flags.map((f) => `\${${f}}`).join('')}";`);
    lines.push(`if ($bw_${rule.id} = "${'1'.repeat(flags.length)}") { ${ret} }`);
  }
  return lines.join('\n');
}

export function exportNginx(asts: readonly SecLangAst[], opts: ExportOptions = {}): ExportResult {
  return renderCommented(
    [
      '# Exported by Bulwark (bulwark shield export --format nginx).',
      '# Include inside each server { } block that fronts the protected application.',
      '# drop → "return 444" (close without a response); deny → "return <status>".',
    ],
    analyse(asts, nginxCaps(opts), opts),
    ruleText,
  );
}
