/**
 * The Windows inventory document: the agent's collector (src/agent/inventory/windows/collect-inventory.ps1) and
 * the RMM script (scripts/rmm/bulwark-inventory.ps1) print one JSON document (schema `bulwark-windows-inventory/1`),
 * and this module turns it into AssetFacts, for the agent and for the server's RMM upload route alike. The
 * document is treated as hostile: every field is checked, anything malformed is left out, never thrown on.
 *
 * Facts from the document:
 * - os: `microsoft:windows_server` (an InstallationType of Server, or a caption naming Windows Server) or
 *   `microsoft:windows`, version `10.0.<CurrentBuild>.<UBR>` (the `windows` scheme), name = the caption.
 * - Exchange: `microsoft:exchange_server` with ExSetup.exe's file version in canonical form (`15.01.2176.009` →
 *   `15.1.2176.9`): the SU-level build, which the registry's MsiBuildMinor is not.
 * - installed_kbs: every KB of Get-HotFix, plus the KB of every uninstall entry whose name carries one (Exchange
 *   security updates are listed there, not by Get-HotFix).
 * - products: IIS URL Rewrite as `microsoft:iis_url_rewrite` with its MSI version, and every other uninstall
 *   entry as `<publisher>:<display name>` slugs (best effort: Windows software has no common package naming).
 * - endpoints: `https://<host>:<port>/` for every https binding of every IIS site (the host header, else the
 *   machine's DNS name).
 * - tags: `windows`, `iis:url-rewrite` when the module is installed, `mitigation:proxylogon-eomt` when both EOMT
 *   rules are present (`mitigation:proxylogon-eomt-partial` when one is), `exchange` on an Exchange server. A rule
 *   counts when its name, its {HTTP_COOKIE} condition pattern and its AbortRequest action are EOMT's, wherever the
 *   collector found it (applicationHost.config's location for the site, or the site's web.config).
 */
import type { AssetFacts, ProductFact } from '../exposure/facts.js';
import { cleanField, cleanText, MAX_ENTRIES, PRODUCT_ID_RE } from './lines.js';

export const WINDOWS_INVENTORY_SCHEMA = 'bulwark-windows-inventory/1';

/** The two IIS URL Rewrite rules EOMT and BackendCookieMitigation.ps1 install (CVE-2021-26855): name → cookie pattern. */
export const EOMT_RULES: Readonly<Record<string, string>> = {
  'X-AnonResource-Backend Abort - inbound': '(.*)X-AnonResource-Backend(.*)',
  'X-BEResource Abort - inbound': '(.*)X-BEResource=(.+)/(.+)~(.+)',
};

const KB_RE = /\bKB(\d{6,8})\b/i;

const COMPANY_SUFFIX =
  /[,.]?\s+(corporation|corp\.?|inc\.?|incorporated|llc|ltd\.?|limited|gmbh|co\.?|s\.a\.|ag)$/i;

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9._+-]+/g, '_')
    .replace(/^[_.+-]+|[_.+-]+$/g, '');
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function list(v: unknown): unknown[] {
  if (Array.isArray(v)) return v.slice(0, MAX_ENTRIES);
  // ConvertTo-Json writes a one-element array as the element itself.
  return v === undefined || v === null ? [] : [v];
}

function int(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d{1,10}$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 2 ** 31 ? n : undefined;
}

/** A numeric dotted version in canonical form (no leading zeros), or undefined. */
export function canonicalDotted(text: unknown, parts?: number): string | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^\s*(\d{1,9}(?:\.\d{1,9}){1,4})/.exec(text);
  if (!m) return undefined;
  const nums = m[1]!.split('.').map((p) => String(Number(p)));
  if (parts !== undefined && nums.length !== parts) return undefined;
  return nums.join('.');
}

export function windowsOsFact(os: Record<string, unknown> | undefined): ProductFact | undefined {
  if (!os) return undefined;
  const build = int(os.current_build);
  if (build === undefined) return undefined;
  const ubr = int(os.ubr);
  const major = int(os.major) ?? 10;
  const minor = int(os.minor) ?? 0;
  const caption = cleanText(os.caption, 200) ?? cleanText(os.product_name, 200);
  const server =
    cleanText(os.installation_type)?.toLowerCase().startsWith('server') ||
    /windows server/i.test(caption ?? '');
  return {
    product: server ? 'microsoft:windows_server' : 'microsoft:windows',
    version: `${major}.${minor}.${build}${ubr !== undefined ? `.${ubr}` : ''}`,
    ...(caption ? { name: caption } : {}),
  };
}

/** The Exchange build from ExSetup.exe's version parts, else its FileVersion text. */
export function exchangeFact(ex: Record<string, unknown> | undefined): ProductFact | undefined {
  if (!ex) return undefined;
  const parts = [ex.file_major, ex.file_minor, ex.file_build, ex.file_private].map(int);
  const version = parts.every((p) => p !== undefined)
    ? parts.join('.')
    : canonicalDotted(ex.exsetup_file_version, 4);
  if (!version) return undefined;
  return { product: 'microsoft:exchange_server', version, name: 'Microsoft Exchange Server' };
}

export interface UninstallEntry {
  name: string;
  version?: string;
  publisher?: string;
}

function uninstallEntries(v: unknown): UninstallEntry[] {
  const out: UninstallEntry[] = [];
  for (const item of list(v)) {
    const o = obj(item);
    const name = cleanText(o?.display_name, 200);
    if (!name) continue;
    const version = cleanField(typeof o?.display_version === 'string' ? o.display_version : undefined);
    const publisher = cleanText(o?.publisher, 200);
    out.push({ name, ...(version ? { version } : {}), ...(publisher ? { publisher } : {}) });
  }
  return out;
}

/** An uninstall entry as a product fact: `<publisher>:<display name>` slugs, or undefined without a version. */
export function uninstallProduct(e: UninstallEntry): ProductFact | undefined {
  if (!e.version) return undefined;
  if (/^(IIS URL Rewrite Module|Microsoft URL Rewrite)/i.test(e.name)) {
    return { product: 'microsoft:iis_url_rewrite', version: e.version, name: e.name };
  }
  const publisher = (e.publisher ?? '').replace(COMPANY_SUFFIX, '').trim();
  const vendor = slug(publisher) || 'unknown';
  // "Microsoft Visual C++ 2013 …" from Microsoft Corporation is microsoft:visual_c++_2013_…
  const bare = publisher ? e.name.replace(new RegExp(`^${escapeRe(publisher)}\\s+`, 'i'), '') : e.name;
  const product = slug(bare).slice(0, 120);
  const id = `${vendor.slice(0, 60)}:${product}`;
  return PRODUCT_ID_RE.test(id) ? { product: id, version: e.version, name: e.name } : undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function kbOf(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const m = KB_RE.exec(text.slice(0, 300));
  return m ? `KB${m[1]}` : undefined;
}

function endpointsOf(iis: Record<string, unknown> | undefined, machine: string | undefined): string[] {
  const out = new Set<string>();
  for (const site of list(iis?.sites)) {
    for (const b of list(obj(site)?.bindings)) {
      const binding = obj(b);
      if (cleanText(binding?.protocol)?.toLowerCase() !== 'https') continue;
      // binding_information is `<ip>:<port>:<host header>`; the IP may be `*` or a bracketed IPv6 address.
      const info = cleanText(binding?.binding_information, 300) ?? '';
      const m = /^(\*|[0-9.]+|\[[0-9a-fA-F:]+\]):(\d{1,5}):([A-Za-z0-9.*-]*)$/.exec(info);
      if (!m) continue;
      const host = (m[3] && !m[3].includes('*') ? m[3] : machine)?.toLowerCase();
      if (!host) continue;
      const port = Number(m[2]);
      out.add(port === 443 ? `https://${host}/` : `https://${host}:${port}/`);
    }
    if (out.size >= 500) break;
  }
  return [...out].slice(0, 500);
}

/** The EOMT rules the document reports present, by name, with EOMT's cookie condition and AbortRequest action. */
export function eomtRulesPresent(iis: Record<string, unknown> | undefined): string[] {
  const found = new Set<string>();
  for (const item of list(iis?.rewrite_rules)) {
    const r = obj(item);
    const name = cleanText(r?.name, 200);
    if (!name || !(name in EOMT_RULES)) continue;
    const input = cleanText(r?.input, 100)?.toUpperCase();
    const pattern = typeof r?.pattern === 'string' ? r.pattern.trim() : undefined;
    const action = cleanText(r?.action, 50)?.toLowerCase();
    if (input === '{HTTP_COOKIE}' && pattern === EOMT_RULES[name] && action === 'abortrequest')
      found.add(name);
  }
  return Object.keys(EOMT_RULES).filter((n) => found.has(n));
}

/** Parses the collector's JSON text into facts with the given asset id; throws when it is not that document. */
export function parseWindowsInventory(text: string, id: string): AssetFacts {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    doc = undefined;
  }
  return windowsInventoryFacts(doc, id);
}

/** True when the value is a Windows inventory document (by its schema field). */
export function isWindowsInventory(value: unknown): boolean {
  return obj(value)?.schema === WINDOWS_INVENTORY_SCHEMA;
}

/** The facts of a parsed collector document, with the given asset id; throws when it is not that document. */
export function windowsInventoryFacts(value: unknown, id: string): AssetFacts {
  const doc = obj(value);
  if (!doc || doc.schema !== WINDOWS_INVENTORY_SCHEMA) {
    throw new Error(`windows inventory: not a ${WINDOWS_INVENTORY_SCHEMA} document`);
  }
  const machine =
    cleanField(typeof doc.fqdn === 'string' ? doc.fqdn : undefined) ??
    cleanField(typeof doc.computer_name === 'string' ? doc.computer_name : undefined);
  const products: ProductFact[] = [];
  const kbs = new Set<string>();
  const tags = new Set<string>(['windows']);
  const exchange = exchangeFact(obj(doc.exchange));
  if (exchange) {
    products.push(exchange);
    tags.add('exchange');
  }
  for (const h of list(doc.hotfixes)) {
    const kb = kbOf(obj(h)?.id ?? h);
    if (kb) kbs.add(kb);
  }
  for (const e of uninstallEntries(doc.uninstall)) {
    const kb = kbOf(e.name);
    if (kb) kbs.add(kb);
    // Updates are KBs, not products; Exchange itself comes from ExSetup.exe.
    if (kb || /^Microsoft Exchange Server/i.test(e.name)) continue;
    const p = uninstallProduct(e);
    if (p) products.push(p);
  }
  const iis = obj(doc.iis);
  const rewrite = obj(iis?.url_rewrite);
  if (rewrite?.installed === true) {
    tags.add('iis:url-rewrite');
    const version = cleanField(typeof rewrite.version === 'string' ? rewrite.version : undefined);
    if (version && !products.some((p) => p.product === 'microsoft:iis_url_rewrite')) {
      products.push({ product: 'microsoft:iis_url_rewrite', version, name: 'IIS URL Rewrite Module' });
    }
  }
  const rules = eomtRulesPresent(iis);
  if (rules.length === Object.keys(EOMT_RULES).length) tags.add('mitigation:proxylogon-eomt');
  else if (rules.length) tags.add('mitigation:proxylogon-eomt-partial');
  const os = windowsOsFact(obj(doc.os));
  const name = cleanText(doc.computer_name, 255);
  return {
    id,
    ...(name ? { name } : {}),
    ...(os ? { os } : {}),
    products: dedupe(products).slice(0, MAX_ENTRIES),
    installed_kbs: [...kbs].sort().slice(0, 5000),
    endpoints: endpointsOf(iis, machine),
    tags: [...tags].sort(),
  };
}

function dedupe(products: ProductFact[]): ProductFact[] {
  const seen = new Set<string>();
  return products.filter((p) => {
    const k = `${p.product}\u0000${p.version}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
