/**
 * The `iis_url_rewrite_rule` host state: an inbound URL Rewrite rule in the site's root web.config
 * (system.webServer/rewrite/rules, where EOMT's Add-WebConfigurationProperty on `IIS:\Sites\<site>` writes it).
 * The file is edited as text: one splice, the rest byte for byte; written atomically (temporary file, fsync,
 * rename) after a copy of the previous content is kept beside it (`web.config.bulwark-backup`).
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import type { HostState } from '../../core/index.js';
import { child, escapeAttr, indentAt, parseSpans, type XmlElement } from './xml-splice.js';

export type RewriteState = Extract<HostState, { kind: 'iis_url_rewrite_rule' }>;
type Rule = RewriteState['rule'];

/** What an apply changed, to undo it: the splice at `start` that replaced `removed` by `inserted`. */
export interface SpliceRecord {
  file: string;
  start: number;
  removed: string;
  inserted: string;
}

const CONTAINERS = ['configuration', 'system.webServer', 'rewrite', 'rules'] as const;

function readLatin1(file: string): string {
  return readFileSync(file).toString('latin1');
}

/** Writes `text` (latin1) to `file` atomically, keeping the previous content as `<file>.bulwark-backup`. */
export function writeAtomic(file: string, text: string): void {
  if (existsSync(file)) copyFileSync(file, `${file}.bulwark-backup`);
  const tmp = join(dirname(file), `.${process.pid}.${Date.now()}.bulwark-tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, Buffer.from(text, 'latin1'));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function checkXml(text: string, file: string): XmlElement {
  if (text.startsWith('\xff\xfe') || text.startsWith('\xfe\xff')) {
    throw new Error(`${file} is UTF-16; only UTF-8 configuration files are edited`);
  }
  const valid = XMLValidator.validate(text.startsWith('\xef\xbb\xbf') ? text.slice(3) : text);
  if (valid !== true)
    throw new Error(`${file} is not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const root = parseSpans(text);
  if (!child(root, 'configuration')) throw new Error(`${file} has no <configuration> element`);
  return root;
}

/** The rule element's XML lines (first line without indent), as EOMT's rule reads in web.config. */
export function ruleLines(rule: Rule): string[] {
  const lines = [
    `<rule name="${escapeAttr(rule.name)}" stopProcessing="${rule.stop_processing ? 'true' : 'false'}">`,
  ];
  lines.push(`  <match url="${escapeAttr(rule.match_url)}" />`);
  lines.push('  <conditions>');
  for (const c of rule.conditions) {
    const ic = c.ignore_case ? '' : ' ignoreCase="false"';
    lines.push(`    <add input="${escapeAttr(c.input)}" pattern="${escapeAttr(c.pattern)}"${ic} />`);
  }
  lines.push('  </conditions>');
  lines.push(`  <action type="${escapeAttr(rule.action)}" />`);
  lines.push('</rule>');
  return lines;
}

function findRule(root: XmlElement, name: string): XmlElement | undefined {
  let el: XmlElement | undefined = root;
  for (const c of CONTAINERS) {
    el = el && child(el, c);
    if (!el) return undefined;
  }
  return child(el!, 'rule', ['name', name]);
}

/** Whether a rule element says what `rule` says (attributes compared, defaults of URL Rewrite applied). */
function sameRule(el: XmlElement, rule: Rule): boolean {
  if ((el.attrs.stopProcessing ?? 'false').toLowerCase() !== String(rule.stop_processing)) return false;
  if (child(el, 'match')?.attrs.url !== rule.match_url) return false;
  if (child(el, 'action')?.attrs.type !== rule.action) return false;
  const adds = child(el, 'conditions')?.children.filter((c) => c.name === 'add') ?? [];
  if (adds.length !== rule.conditions.length) return false;
  return rule.conditions.every((c, i) => {
    const a = adds[i]!;
    const ic = (a.attrs.ignoreCase ?? 'true').toLowerCase() === 'true';
    return a.attrs.input === c.input && a.attrs.pattern === c.pattern && ic === c.ignore_case;
  });
}

/** True when the file holds the rule as stated, false when not (also when the file does not exist). */
export function checkRule(file: string, rule: Rule): boolean {
  if (!existsSync(file)) return false;
  const root = checkXml(readLatin1(file), file);
  const el = findRule(root, rule.name);
  return el !== undefined && sameRule(el, rule);
}

/** The one splice that makes `text` hold `rule`. */
export function planRule(text: string, file: string, rule: Rule): SpliceRecord {
  const root = checkXml(text, file);
  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  const unit = '  ';
  const existing = findRule(root, rule.name);
  if (existing) {
    const indent = indentAt(text, existing.start);
    const inserted = ruleLines(rule).join(nl + indent);
    return { file, start: existing.start, removed: text.slice(existing.start, existing.end), inserted };
  }
  // The deepest container that exists, and the ones to create inside it.
  let parent = child(root, 'configuration')!;
  let depth = 1;
  while (depth < CONTAINERS.length) {
    const next = child(parent, CONTAINERS[depth]!);
    if (!next) break;
    parent = next;
    depth++;
  }
  const missing = CONTAINERS.slice(depth);
  const base = indentAt(text, parent.start);
  // Lines of the new content, relative to the parent's children's indent.
  let body = ruleLines(rule);
  for (const name of [...missing].reverse()) body = [`<${name}>`, ...body.map((l) => unit + l), `</${name}>`];
  const inner = base + unit;
  if (parent.selfClosing) {
    const tagOpen = text.slice(parent.start, parent.end).replace(/\s*\/>$/, '>');
    const inserted = `${tagOpen}${nl}${inner}${body.join(nl + inner)}${nl}${base}</${parent.name}>`;
    return { file, start: parent.start, removed: text.slice(parent.start, parent.end), inserted };
  }
  const closeIndent = indentAt(text, parent.closeStart);
  const inserted =
    closeIndent === base && text.slice(parent.openEnd, parent.closeStart).includes('\n')
      ? `${unit}${body.join(nl + inner)}${nl}${base}`
      : `${nl}${inner}${body.join(nl + inner)}${nl}${closeIndent}`;
  return { file, start: parent.closeStart, removed: '', inserted };
}

export function splice(text: string, rec: Pick<SpliceRecord, 'start' | 'removed' | 'inserted'>): string {
  return text.slice(0, rec.start) + rec.inserted + text.slice(rec.start + rec.removed.length);
}

/** Applies the rule to the file; returns the record that undoes it. */
export function applyRule(file: string, rule: Rule): SpliceRecord {
  const text = readLatin1(file);
  const rec = planRule(text, file, rule);
  writeAtomic(file, splice(text, rec));
  return rec;
}

/** Puts back what `rec` replaced; throws when the file no longer holds the text the apply wrote. */
export function undoSplice(rec: SpliceRecord): void {
  const text = readLatin1(rec.file);
  let at = rec.start;
  if (text.slice(at, at + rec.inserted.length) !== rec.inserted) {
    at = text.indexOf(rec.inserted);
    if (at === -1 || text.indexOf(rec.inserted, at + 1) !== -1) {
      throw new Error(`${rec.file} changed since the rule was applied: the applied text is not found once`);
    }
  }
  writeAtomic(rec.file, text.slice(0, at) + rec.removed + text.slice(at + rec.inserted.length));
}

/**
 * The root web.config of `site`, from applicationHost.config: the physical path of the site's `/` application's
 * `/` virtual directory, its `%VARIABLES%` expanded from `env`.
 */
export function siteWebConfig(applicationHost: string, site: string, env: NodeJS.ProcessEnv): string {
  const text = readLatin1(applicationHost);
  const root = parseSpans(text);
  const sites = ['configuration', 'system.applicationHost', 'sites'].reduce<XmlElement | undefined>(
    (el, name) => el && child(el, name),
    root,
  );
  const siteEl = sites && child(sites, 'site', ['name', site]);
  if (!siteEl) throw new Error(`no site "${site}" in ${applicationHost}`);
  const app = child(siteEl, 'application', ['path', '/']);
  const vdir = app && child(app, 'virtualDirectory', ['path', '/']);
  const physical = vdir?.attrs.physicalPath;
  if (!physical) throw new Error(`site "${site}" has no root virtual directory in ${applicationHost}`);
  const expanded = physical.replace(/%([^%]+)%/g, (_m, name: string) => {
    const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
    if (!key) throw new Error(`site "${site}": %${name}% is not set`);
    return env[key]!;
  });
  const sep = expanded.includes('\\') && !expanded.includes('/') ? '\\' : '/';
  return `${expanded.replace(/[\\/]+$/, '')}${sep}web.config`;
}
