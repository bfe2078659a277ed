/**
 * IIS URL Rewrite export: a `web.config` with `<system.webServer><rewrite><rules>` inbound rules, the mechanism of
 * Microsoft's EOMT / BackendCookieMitigation.ps1.
 *
 * Known equivalents first: a SecLang rule that is itself a translation of an IIS rule (by id, `iisEquivalents`;
 * default EOMT_IIS_EQUIVALENTS: 4210550 → "X-AnonResource-Backend Abort - inbound", 4210551 → "X-BEResource Abort
 * - inbound") is emitted as Microsoft's rule, attribute for attribute (match url `.*`, `{HTTP_COOKIE}`, EOMT's
 * pattern, ignoreCase, AbortRequest, stopProcessing false/true).
 *
 * Otherwise a translation: `<match url=".*" />`, one `<add>` condition per chain link (logicalGrouping MatchAll =
 * the AND of a chain); a link with several variables (an OR) is expanded into one rule per combination (≤ 16).
 *   REQUEST_HEADERS:Cookie → {HTTP_COOKIE} (the raw header, all Cookie lines); REQUEST_HEADERS:X-Y → {HTTP_X_Y}
 *   REQUEST_FILENAME → {URL} (decoded path, no query); REQUEST_URI → {UrlDecode:{REQUEST_URI}} (ModSecurity's is
 *   decoded); QUERY_STRING → {QUERY_STRING}; REQUEST_METHOD → {REQUEST_METHOD}; REQUEST_PROTOCOL →
 *   {SERVER_PROTOCOL}; REMOTE_ADDR → {REMOTE_ADDR}.
 *   t:lowercase → ignoreCase="true"; t:urlDecode → {UrlDecode:{…}}; other transformations → skipped (or dropped
 *   with a note when `lossy`). drop → AbortRequest; deny → CustomResponse statusCode.
 * Not expressible: REQUEST_BODY, ARGS*, REQUEST_COOKIES*, *_NAMES, TX (URL Rewrite sees server variables only);
 * regex constructs outside ECMAScript (inline flags `(?i)`, `(?P<…>`, `\A`, `\z`, `\p{…}`, POSIX classes).
 */
import type { SecLangAst, VariableRef } from '../seclang/index.js';
import {
  type Analysed,
  analyse,
  type Condition,
  type ExportNote,
  type ExportOptions,
  type ExportResult,
  type IisRuleSpec,
  oneLine,
  reasonPhrase,
  type SkippedRule,
  type TargetCaps,
} from './common.js';

/** Microsoft's EOMT rules (microsoft/CSS-Exchange Security/src/EOMT.ps1; reference proxylogon.md §2.1). */
export const EOMT_IIS_RULES: readonly IisRuleSpec[] = [
  {
    name: 'X-AnonResource-Backend Abort - inbound',
    stopProcessing: false,
    matchUrl: '.*',
    conditions: [
      { input: '{HTTP_COOKIE}', pattern: '(.*)X-AnonResource-Backend(.*)', ignoreCase: true, negate: false },
    ],
    action: { type: 'AbortRequest' },
  },
  {
    name: 'X-BEResource Abort - inbound',
    stopProcessing: true,
    matchUrl: '.*',
    conditions: [
      { input: '{HTTP_COOKIE}', pattern: '(.*)X-BEResource=(.+)/(.+)~(.+)', ignoreCase: true, negate: false },
    ],
    action: { type: 'AbortRequest' },
  },
];

/** Bulwark's ProxyLogon pack (eomt.conf) translates EOMT rule 1 as id 4210550 and rule 2 as 4210551. */
export const EOMT_IIS_EQUIVALENTS: Readonly<Record<number, IisRuleSpec>> = {
  4210550: EOMT_IIS_RULES[0]!,
  4210551: EOMT_IIS_RULES[1]!,
};

function iisInput(v: VariableRef): string | { reason: string } {
  switch (v.name) {
    case 'REQUEST_HEADERS':
      if (v.selector === undefined)
        return { reason: 'REQUEST_HEADERS without a header name cannot be expressed in IIS' };
      if (!/^[A-Za-z0-9-]+$/.test(v.selector))
        return { reason: `header name ${v.selector} has no IIS server variable` };
      return `{HTTP_${v.selector.toUpperCase().replace(/-/g, '_')}}`;
    case 'REQUEST_FILENAME':
      return '{URL}';
    case 'REQUEST_URI':
      return '{UrlDecode:{REQUEST_URI}}';
    case 'QUERY_STRING':
      return '{QUERY_STRING}';
    case 'REQUEST_METHOD':
      return '{REQUEST_METHOD}';
    case 'REQUEST_PROTOCOL':
      return '{SERVER_PROTOCOL}';
    case 'REMOTE_ADDR':
      return '{REMOTE_ADDR}';
    case 'REQUEST_BODY':
      return {
        reason: 'REQUEST_BODY cannot be expressed in IIS URL Rewrite (it sees server variables only)',
      };
    default:
      return {
        reason: `${v.name} cannot be expressed in IIS URL Rewrite (no parsed arguments, cookies by name or names)`,
      };
  }
}

export function ecmaScriptProblem(p: string): string | undefined {
  const s = p.replace(/\\\\/g, '');
  if (/\(\?(?![:=!])/.test(s)) return 'inline flags or named groups are not ECMAScript regex syntax';
  if (/\\[AzZQEpP]/.test(s)) return 'escape \\A, \\z, \\Z, \\Q, \\p is not ECMAScript regex syntax';
  if (/\[\[:/.test(s)) return 'POSIX character classes are not ECMAScript regex syntax';
  if (/[\r\n]/.test(p)) return 'line break in the pattern';
  return undefined;
}

export const iisCaps: TargetCaps = {
  name: 'IIS URL Rewrite',
  transformations: new Set(['urlDecode']),
  input: iisInput,
  regexProblem: ecmaScriptProblem,
};

function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function inputFor(v: VariableRef, c: Condition): string {
  let input = iisInput(v) as string;
  for (const t of c.transformations) if (t === 'urlDecode') input = `{UrlDecode:${input}}`;
  return input;
}

function translate(a: Analysed): IisRuleSpec[] | { reason: string } {
  const { rule } = a;
  const action: IisRuleSpec['action'] =
    rule.effectiveAction === 'drop'
      ? { type: 'AbortRequest' }
      : { type: 'CustomResponse', statusCode: rule.status };
  let combos: IisRuleSpec['conditions'][] = [[]];
  for (const c of a.conditions) {
    if (c.always) continue;
    const next: IisRuleSpec['conditions'][] = [];
    for (const combo of combos) {
      for (const v of c.variables) {
        next.push([
          ...combo,
          { input: inputFor(v, c), pattern: c.pattern, ignoreCase: c.caseInsensitive, negate: c.negated },
        ]);
      }
    }
    combos = next;
    if (combos.length > 16)
      return { reason: 'more than 16 IIS rules needed for the variable combinations of this chain' };
  }
  const base = `Bulwark ${rule.id}${rule.actions.msg ? ` ${oneLine(rule.actions.msg).slice(0, 80)}` : ''}`;
  return combos.map((conditions, i) => ({
    name: combos.length > 1 ? `${base} (${i + 1})` : base,
    stopProcessing: true,
    matchUrl: '.*',
    conditions,
    action,
  }));
}

export function iisRuleXml(r: IisRuleSpec): string {
  const lines = [
    `        <rule name="${xmlAttr(r.name)}" patternSyntax="ECMAScript" stopProcessing="${r.stopProcessing}">`,
    `          <match url="${xmlAttr(r.matchUrl)}" />`,
  ];
  if (r.conditions.length > 0) {
    lines.push('          <conditions logicalGrouping="MatchAll">');
    for (const c of r.conditions) {
      lines.push(
        `            <add input="${xmlAttr(c.input)}" pattern="${xmlAttr(c.pattern)}" ignoreCase="${c.ignoreCase}" negate="${c.negate}" />`,
      );
    }
    lines.push('          </conditions>');
  }
  if (r.action.type === 'AbortRequest') lines.push('          <action type="AbortRequest" />');
  else {
    lines.push(
      `          <action type="CustomResponse" statusCode="${r.action.statusCode}" statusReason="${xmlAttr(reasonPhrase(r.action.statusCode))}" statusDescription="Blocked by a Bulwark virtual patch" />`,
    );
  }
  lines.push('        </rule>');
  return lines.join('\n');
}

export function exportIis(asts: readonly SecLangAst[], opts: ExportOptions = {}): ExportResult {
  const equivalents = opts.iisEquivalents ?? EOMT_IIS_EQUIVALENTS;
  const skipped: SkippedRule[] = [];
  const notes: ExportNote[] = [];
  const rulesXml: string[] = [];
  // Known equivalents bypass the transformation check (the source rule is a hardened translation of them).
  const remaining: SecLangAst[] = [];
  for (const ast of asts) {
    const keep = ast.rules.filter((r) => {
      const eq = equivalents[r.id];
      if (!eq || (ast.engine && ast.engine !== 'On')) return true;
      rulesXml.push(`        <!-- ${r.id}: ${xmlComment(r.actions.msg)} -->`, iisRuleXml(eq));
      notes.push({
        id: r.id,
        note: `emitted as the original IIS rule "${eq.name}" (the SecLang rule is its translation)`,
      });
      return false;
    });
    remaining.push({ ...ast, rules: keep });
  }
  const { rules, skipped: s } = analyse(remaining, iisCaps, opts);
  skipped.push(...s);
  for (const a of rules) {
    const t = translate(a);
    if ('reason' in t) {
      skipped.push({ id: a.rule.id, reason: t.reason });
      continue;
    }
    for (const n of a.notes) notes.push({ id: a.rule.id, note: n });
    rulesXml.push(`        <!-- ${a.rule.id}: ${xmlComment(a.rule.actions.msg)} -->`, ...t.map(iisRuleXml));
  }
  const skippedXml = skipped.map((k) => `        <!-- not exported: ${k.id}: ${xmlComment(k.reason)} -->`);
  const text = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!-- Exported by Bulwark (bulwark shield export --format iis). Requires the IIS URL Rewrite module. -->',
    '<configuration>',
    '  <system.webServer>',
    '    <rewrite>',
    '      <rules>',
    ...rulesXml,
    ...skippedXml,
    '      </rules>',
    '    </rewrite>',
    '  </system.webServer>',
    '</configuration>',
    '',
  ].join('\n');
  return { text, skipped, notes };
}

function xmlComment(s: string | undefined): string {
  return oneLine(s).replace(/--/g, '- -').replace(/-$/, '- ');
}
