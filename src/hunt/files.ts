/**
 * File-system checks for a server's disk (or a copy of it): web shells where ProxyLogon wrote them, LSASS dumps,
 * staged archives, and files matching IOC hashes or paths. Test-ProxyLogon looks for the dumps and archives;
 * the web shell places come from Volexity and the community hunting scripts (Volexity's March 2021 write-up, Test-ProxyLogon.ps1 of Microsoft CSS-Exchange).
 */
import { createHash } from 'node:crypto';
import { splitCsv } from './parse/index.js';
import type { HuntFinding, Severity, Stage } from './types.js';

export interface IocSet {
  sha256: ReadonlySet<string>;
  ips: ReadonlySet<string>;
  /** Lower-cased Windows paths with `/` separators and no drive letter, e.g. `inetpub/wwwroot/aspnet_client/shell.aspx`. */
  paths: ReadonlySet<string>;
  /** Lower-cased file names of `paths`, for a cheap first test. */
  names: ReadonlySet<string>;
}

export const EMPTY_IOCS: IocSet = { sha256: new Set(), ips: new Set(), paths: new Set(), names: new Set() };

/** Pages Exchange ships in owa\auth and ecp\auth; anything else there is suspicious. */
const STANDARD_AUTH_PAGES = new Set([
  'owa/auth/errorfe.aspx',
  'owa/auth/expiredpassword.aspx',
  'owa/auth/frowny.aspx',
  'owa/auth/getidtoken.htm',
  'owa/auth/logoff.aspx',
  'owa/auth/logon.aspx',
  'owa/auth/outlookcn.aspx',
  'owa/auth/redirsuiteserviceproxy.aspx',
  'owa/auth/signout.aspx',
  'ecp/auth/timeoutlogout.aspx',
]);

const SCRIPT_PAGE = /\.(aspx|ashx|asmx|asp)$/i;
/** Files worth hashing against IOC hashes: web content and executables, not every file of a drive. */
const HASHABLE = /\.(aspx|ashx|asmx|asp|js|dll|exe|ps1|bat)$/i;
const MAX_HASH_BYTES = 64 * 1024 * 1024;

interface PathVerdict {
  rule: string;
  title: string;
  stage: Stage;
  severity: Severity;
  cve: string | null;
}

/** Normalises a Windows or POSIX path: lower case, `/` separators, no drive letter or leading slash. */
export function normalisePath(path: string): string {
  return path
    .replace(/\\/g, '/')
    .replace(/^[a-z]:\//i, '')
    .replace(/^\/+/, '')
    .toLowerCase();
}

/** Judges a path alone. `rel` is relative to the input root (any prefix such as a server or drive folder is fine). */
export function classifyPath(rel: string): PathVerdict | undefined {
  const p = `/${normalisePath(rel)}`;
  const name = p.slice(p.lastIndexOf('/') + 1);
  if (/^lsass.*\.dmp$/.test(name)) {
    return {
      rule: 'file-lsass-dump',
      title: 'LSASS memory dump (credential theft)',
      stage: 'post_exploitation',
      severity: 'critical',
      cve: null,
    };
  }
  if (/\/programdata\/.*\.(7z|zip|rar)$/.test(p)) {
    return {
      rule: 'file-programdata-archive',
      title: 'Archive under ProgramData (possible data staging)',
      stage: 'context',
      severity: 'low',
      cve: null,
    };
  }
  if (SCRIPT_PAGE.test(name)) {
    if (/\/inetpub\/wwwroot\/aspnet_client\//.test(p)) {
      return {
        rule: 'file-webshell-aspnet-client',
        title: 'Script page under inetpub\\wwwroot\\aspnet_client (web shell place)',
        stage: 'post_exploitation',
        severity: 'critical',
        cve: null,
      };
    }
    const auth = /\/frontend\/httpproxy\/((owa|ecp)\/auth\/.*)$/.exec(p);
    if (auth && !STANDARD_AUTH_PAGES.has(auth[1]!)) {
      return {
        rule: 'file-webshell-auth-folder',
        title: `Non-standard script page under FrontEnd\\HttpProxy\\${auth[2]}\\auth (web shell place)`,
        stage: 'post_exploitation',
        severity: 'critical',
        cve: null,
      };
    }
  }
  return undefined;
}

export function needsHash(rel: string, iocs: IocSet): boolean {
  if (!iocs.sha256.size) return false;
  const name = normalisePath(rel).split('/').pop() ?? '';
  return HASHABLE.test(name) || iocs.names.has(name);
}

/** SHA-256 of a stream, or undefined past MAX_HASH_BYTES (leaving the loop closes the stream). */
export async function sha256Of(stream: AsyncIterable<Buffer>): Promise<string | undefined> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.length;
    if (n > MAX_HASH_BYTES) return undefined;
    hash.update(chunk);
  }
  return hash.digest('hex');
}

/** Path and hash findings for one file (the hash only when the caller computed it). */
export function fileFindings(
  file: { display: string; relative: string; host: string; modified?: string },
  iocs: IocSet,
  sha256?: string,
): HuntFinding[] {
  const out: HuntFinding[] = [];
  const base = {
    host: file.host,
    file: file.display,
    line: 0,
    timestamp: file.modified ?? null,
    raw: file.relative,
  };
  const verdict = classifyPath(file.relative);
  if (verdict) {
    out.push({
      ...base,
      rule: verdict.rule,
      title: verdict.title,
      source: 'file system',
      cve: verdict.cve,
      severity: verdict.severity,
      stage: verdict.stage,
      matched: { path: file.relative },
    });
  }
  const norm = normalisePath(file.relative);
  for (const ioc of iocs.paths) {
    if (norm === ioc || norm.endsWith(`/${ioc}`)) {
      out.push({
        ...base,
        rule: 'ioc-path',
        title: 'File at a path named in the IOC list',
        source: 'ioc',
        cve: null,
        severity: 'critical',
        stage: 'post_exploitation',
        matched: { path: file.relative, ioc },
      });
      break;
    }
  }
  if (sha256 && iocs.sha256.has(sha256)) {
    out.push({
      ...base,
      rule: 'ioc-sha256',
      title: 'File with a known-bad SHA-256 (IOC list)',
      source: 'ioc',
      cve: null,
      severity: 'critical',
      stage: 'post_exploitation',
      matched: { path: file.relative, sha256 },
    });
  }
  return out;
}

/**
 * IOC lists: Microsoft's MSTIC CSV (`DateAdded,FirstSeen,Indicator,IndicatorType,TLP` with types sha256 and
 * filepath), or plain text with one indicator per line (SHA-256, IPv4/IPv6 address or Windows path; `#` comments).
 */
export function parseIocText(
  text: string,
  file: string,
): { iocs: { sha256: string[]; ips: string[]; paths: string[] }; skipped: string[] } {
  const out = { sha256: [] as string[], ips: [] as string[], paths: [] as string[] };
  const skipped: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines[0]?.toLowerCase() ?? '';
  const csv = header.includes('indicator') && header.includes('indicatortype');
  const cols = csv ? (splitCsv(lines[0]!) ?? []).map((c) => c.toLowerCase()) : [];
  const iInd = cols.indexOf('indicator');
  const iType = cols.indexOf('indicatortype');
  lines.slice(csv ? 1 : 0).forEach((line, i) => {
    const lineNo = i + (csv ? 2 : 1);
    if (!line.trim() || line.startsWith('#')) return;
    const cells = csv ? (splitCsv(line) ?? []) : [];
    const value = csv ? cells[iInd]?.trim() : line.trim();
    const type = csv ? cells[iType]?.trim().toLowerCase() : undefined;
    if (!value) {
      skipped.push(`${file}:${lineNo}: no indicator`);
      return;
    }
    if ((type === 'sha256' || !type) && /^[0-9a-f]{64}$/i.test(value)) out.sha256.push(value.toLowerCase());
    else if (
      (type === 'ipv4-addr' || type === 'ip' || !type) &&
      /^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-f:]+:[0-9a-f:]*$/i.test(value)
    )
      out.ips.push(value);
    else if ((type === 'filepath' || type === 'path' || !type) && /[\\/]/.test(value)) out.paths.push(value);
    else
      skipped.push(
        `${file}:${lineNo}: indicator type ${type ?? 'unknown'} of "${value.slice(0, 80)}" is not used by hunt`,
      );
  });
  return { iocs: out, skipped };
}

export function buildIocSet(
  parts: { sha256?: readonly string[]; ips?: readonly string[]; paths?: readonly string[] }[],
): IocSet {
  const paths = new Set(parts.flatMap((p) => p.paths ?? []).map(normalisePath));
  return {
    sha256: new Set(parts.flatMap((p) => p.sha256 ?? []).map((h) => h.toLowerCase())),
    ips: new Set(parts.flatMap((p) => p.ips ?? [])),
    paths,
    names: new Set([...paths].map((p) => p.split('/').pop() ?? '')),
  };
}
