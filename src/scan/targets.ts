/**
 * Target parsing for `bulwark scan`: URLs, host names, IPv4/IPv6 literals, `host:port`, `[v6]:port`
 * and CIDR ranges (v4 and v6). Never throws: every bad entry becomes one error line naming the input.
 *
 * Rules (documented for the CLI help):
 * - `https://host[:port][/path]` / `http://…` fix the scheme (no fallback) and the port (default of the scheme).
 * - Bare names/addresses get no scheme (the scanner tries HTTPS, then HTTP) and, unless they carry a port,
 *   one target per `opts.ports` entry (or no port: 443 then 80).
 * - An entry may be followed by `sni=NAME` (whitespace-separated) to set the TLS server name and Host header,
 *   e.g. `203.0.113.5 sni=mail.contoso.com`; `opts.sni` applies to every entry without one.
 * - CIDR: host bits are masked (`10.0.0.7/24` = `10.0.0.0/24`). IPv4 /0–/30 skip the network and broadcast
 *   addresses; /31 and /32 list every address (RFC 3021). IPv6 ranges list every address.
 *   More than 4096 addresses (larger than a v4 /20 or a v6 /116) is an error unless `force`; more than 65536
 *   (larger than a v4 /16 or a v6 /112) is an error even with `force`.
 * - At most 262144 targets in total; duplicates (same scheme, host, port, path, SNI) are dropped silently.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Target {
  /** The entry as written (for CIDR ranges: the expanded address). */
  input: string;
  /** Host name (lower case) or address; IPv6 without brackets. */
  host: string;
  port?: number;
  scheme?: 'https' | 'http';
  sni?: string;
  path?: string;
  /** The CIDR range this address was expanded from. */
  range?: string;
  /** `scan --push`: the tenant the result is pushed to (from a targets file, or `--tenant`). */
  tenant?: string;
  /** `scan --push`: the existing asset this endpoint's observations update (instead of a `host_port` asset). */
  asset?: string;
  /** Where the target was written (`file:line`), for messages about it after the scan. */
  origin?: string;
}

export interface ParseOptions {
  ports?: number[];
  force?: boolean;
  sni?: string;
}

export interface ParseResult {
  targets: Target[];
  errors: string[];
}

export const CIDR_FORCE_LIMIT = 4096;
export const CIDR_HARD_LIMIT = 65536;
export const MAX_TARGETS = 262144;
const MAX_ENTRY_CHARS = 2048;

class EntryError extends Error {}

/** How an input is shown in an error: trimmed, control characters replaced, at most 80 characters. */
export function shown(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters on purpose
  const clean = text.trim().replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}

export function parseTargets(texts: string[], opts: ParseOptions = {}): ParseResult {
  return collectTargets(
    texts.map((text) => ({ text, where: '' })),
    opts,
  );
}

/** One target per line; `#` starts a comment; blank lines are skipped; errors name `file:line`. */
export function parseTargetsFile(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  return collectTargets(targetsFileEntries(text, file), opts);
}

/** The entries of a one-target-per-line file, each with its `file:line: ` (see parseTargetsFile). */
export function targetsFileEntries(text: string, file: string): TargetEntry[] {
  const lines = String(text).split(/\r?\n/);
  const entries: { text: string; where: string }[] = [];
  lines.forEach((line, i) => {
    const hash = line.indexOf('#');
    const body = hash >= 0 ? line.slice(0, hash) : line;
    if (body.trim() === '') return;
    entries.push({ text: body, where: `${file}:${i + 1}: ` });
  });
  return entries;
}

/** One entry of a target list: the text, where it was written (an error prefix), and what it maps to. */
export interface TargetEntry {
  text: string;
  /** Prefix of error messages about this entry, e.g. `customers.csv:3: ` (empty for command-line arguments). */
  where: string;
  /** Named before the entry in errors, e.g. `target: ` in a file with several fields per line. */
  field?: string;
  tenant?: string;
  asset?: string;
  origin?: string;
}

/**
 * Parses entries into targets: ports applied, duplicates dropped, limits enforced. A duplicate mapped to another
 * tenant or asset is an error (one endpoint cannot be pushed to two places), as is one asset bound to two
 * endpoints, or an asset bound to an entry that expands to several targets.
 */
export function collectTargets(entries: TargetEntry[], opts: ParseOptions): ParseResult {
  const targets: Target[] = [];
  const errors: string[] = [];
  /** Every target kept, by endpoint: a second mention is dropped, or an error when it maps elsewhere. */
  const seen = new Map<string, Target>();
  let portsOk = true;
  const ports = opts.ports ?? [];
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      errors.push(`ports: ${String(p)} is not a port number (1-65535)`);
      portsOk = false;
    }
  }
  if (!portsOk) return { targets, errors };
  let full = false;
  const boundAssets = new Map<string, Target>();
  for (const { text, where, field = '', tenant, asset, origin } of entries) {
    const raw = String(text);
    if (raw.trim() === '') continue;
    let parsed: Target[];
    try {
      parsed = parseEntry(raw.trim(), opts);
    } catch (err) {
      const msg = err instanceof EntryError ? err.message : `unexpected error: ${(err as Error).message}`;
      errors.push(`${where}${field}${shown(raw)}: ${msg}`);
      continue;
    }
    const withPorts: Target[] = parsed.flatMap((t) =>
      t.port === undefined && t.scheme === undefined && ports.length > 0
        ? ports.map((port) => ({ ...t, port }))
        : [t],
    );
    if (asset !== undefined && withPorts.length !== 1) {
      errors.push(
        `${where}asset: "${shown(asset)}" binds one endpoint, but "${shown(raw)}" is ${withPorts.length} targets; give one address and port`,
      );
      continue;
    }
    for (const t of withPorts) {
      const x: Target = {
        ...t,
        ...(tenant !== undefined ? { tenant } : {}),
        ...(asset !== undefined ? { asset } : {}),
        ...(origin !== undefined ? { origin } : {}),
      };
      const key = `${x.scheme ?? ''}|${x.host}|${x.port ?? ''}|${x.path ?? ''}|${x.sni ?? ''}`;
      const before = seen.get(key);
      if (before) {
        if (before.tenant !== x.tenant || before.asset !== x.asset) {
          errors.push(
            `${where}${field}${shown(raw)}: already given${before.origin ? ` at ${before.origin}` : ''} for ${describeMapping(before)}; one endpoint is pushed to one place`,
          );
        }
        continue;
      }
      if (x.asset !== undefined) {
        const assetKey = `${x.tenant ?? ''}/${x.asset}`;
        const other = boundAssets.get(assetKey);
        if (other) {
          errors.push(
            `${where}asset: "${shown(x.asset)}" is already bound to ${shown(other.input)}${other.origin ? ` at ${other.origin}` : ''}; an asset takes one endpoint's observations`,
          );
          continue;
        }
        boundAssets.set(assetKey, x);
      }
      if (targets.length >= MAX_TARGETS) {
        if (!full)
          errors.push(`${where}${shown(raw)}: more than ${MAX_TARGETS} targets in total; split the list`);
        full = true;
        break;
      }
      seen.set(key, x);
      targets.push(x);
    }
  }
  return { targets, errors };
}

function describeMapping(t: Target): string {
  if (t.tenant === undefined && t.asset === undefined) return 'no tenant';
  return `tenant ${t.tenant ?? '(none)'}${t.asset !== undefined ? ` asset ${t.asset}` : ''}`;
}

function parseEntry(text: string, opts: ParseOptions): Target[] {
  if (text.length > MAX_ENTRY_CHARS) throw new EntryError(`entry longer than ${MAX_ENTRY_CHARS} characters`);
  const tokens = text.split(/\s+/);
  const first = tokens[0] ?? '';
  let sni = opts.sni;
  for (const tok of tokens.slice(1)) {
    const m = /^sni=(.+)$/i.exec(tok);
    if (!m)
      throw new EntryError(`unexpected "${shown(tok)}" (one target per entry; sni=NAME sets the TLS name)`);
    sni = m[1];
  }
  if (sni !== undefined) {
    const name = normaliseName(sni);
    if (name === null) throw new EntryError(`sni "${shown(sni)}" is not a valid host name`);
    sni = name;
  }
  const withSni = (t: Target): Target => (sni === undefined ? t : { ...t, sni });

  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(first)) return [withSni(parseUrl(first))];
  if (first.includes('/')) return expandCidr(first, opts.force === true).map(withSni);
  if (first.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(first);
    if (!m || !isIPv6(m[1] ?? ''))
      throw new EntryError('not a valid bracketed IPv6 address ([addr] or [addr]:port)');
    const t: Target = { input: text, host: normaliseV6(m[1] ?? '') };
    if (m[2] !== undefined) t.port = parsePort(m[2]);
    return [withSni(t)];
  }
  if (isIPv6(first)) return [withSni({ input: text, host: normaliseV6(first) })];
  const colons = first.split(':').length - 1;
  if (colons > 1) throw new EntryError('not a valid IPv6 address (write [addr]:port to give a port)');
  let hostPart = first;
  let port: number | undefined;
  if (colons === 1) {
    const i = first.lastIndexOf(':');
    hostPart = first.slice(0, i);
    port = parsePort(first.slice(i + 1));
  }
  const host = validateHost(hostPart);
  const t: Target = { input: text, host };
  if (port !== undefined) t.port = port;
  return [withSni(t)];
}

function parseUrl(text: string): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EntryError('not a valid URL');
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'https' && scheme !== 'http')
    throw new EntryError(`unsupported scheme "${scheme}" (use https or http)`);
  if (url.username || url.password) throw new EntryError('credentials in URLs are not supported');
  let host = url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = normaliseV6(host.slice(1, -1));
  else host = validateHost(host);
  const t: Target = { input: text, host, scheme };
  if (url.port !== '') t.port = parsePort(url.port);
  const path = url.pathname + url.search;
  if (path !== '/' && path !== '') t.path = path;
  return t;
}

function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s)) throw new EntryError(`port "${shown(s)}" is not a number`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw new EntryError(`port ${n} is out of range (1-65535)`);
  return n;
}

function validateHost(h: string): string {
  if (h === '') throw new EntryError('empty host');
  if (isIPv4(h)) return h;
  if (/^[0-9.]+$/.test(h)) throw new EntryError('not a valid IPv4 address');
  const name = normaliseName(h);
  if (name === null) throw new EntryError('not a valid host name, address, URL or CIDR range');
  return name;
}

function normaliseName(h: string): string | null {
  const name = h.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return null;
  const labels = name.split('.');
  for (const l of labels) {
    if (!/^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) return null;
  }
  return name;
}

// ---------------------------------------------------------------- CIDR

function expandCidr(text: string, force: boolean): Target[] {
  const slash = text.indexOf('/');
  const addr = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  const v4 = isIPv4(addr);
  const v6 = !v4 && isIPv6(addr) && !addr.includes('%');
  if (!v4 && !v6) throw new EntryError('not a CIDR range (address/prefix); give paths as a full URL');
  if (!/^\d{1,3}$/.test(lenText)) throw new EntryError('CIDR prefix length is not a number');
  const len = Number(lenText);
  const bits = v4 ? 32 : 128;
  if (len > bits) throw new EntryError(`CIDR prefix length ${len} is larger than ${bits}`);
  const hostBits = BigInt(bits - len);
  const size = 1n << hostBits;
  const skipEnds = v4 && len <= 30;
  const count = skipEnds ? size - 2n : size;
  if (count > BigInt(CIDR_HARD_LIMIT)) {
    throw new EntryError(
      `range has ${count} addresses; the limit is ${CIDR_HARD_LIMIT} (a /${v4 ? 16 : 112}) even with --force — split it`,
    );
  }
  if (count > BigInt(CIDR_FORCE_LIMIT) && !force) {
    throw new EntryError(
      `range has ${count} addresses (more than ${CIDR_FORCE_LIMIT}, i.e. larger than a /${v4 ? 20 : 116}); pass --force to scan it`,
    );
  }
  const base = (v4 ? v4ToBig(addr) : v6ToBig(addr)) & ~(size - 1n);
  const range = `${v4 ? bigToV4(base) : bigToV6(base)}/${len}`;
  const out: Target[] = [];
  const first = skipEnds ? 1n : 0n;
  const last = skipEnds ? size - 2n : size - 1n;
  for (let i = first; i <= last; i++) {
    const a = v4 ? bigToV4(base + i) : bigToV6(base + i);
    out.push({ input: a, host: a, range });
  }
  return out;
}

function v4ToBig(a: string): bigint {
  return a.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function bigToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => ((n >> s) & 255n).toString()).join('.');
}

/** Parses a valid IPv6 literal (checked with isIPv6 first) into a 128-bit integer. */
export function v6ToBig(addr: string): bigint {
  let s = addr.split('%')[0] ?? '';
  if (s.includes('.')) {
    const i = s.lastIndexOf(':');
    const [a = 0, b = 0, c = 0, d = 0] = s
      .slice(i + 1)
      .split('.')
      .map(Number);
    s = `${s.slice(0, i + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  let groups: string[];
  if (s.includes('::')) {
    const [head = '', tail = ''] = s.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  } else {
    groups = s.split(':');
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

/** RFC 5952 text form of a 128-bit integer. */
export function bigToV6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function normaliseV6(a: string): string {
  if (a.includes('%')) return a; // keep zone ids as written (link-local)
  return bigToV6(v6ToBig(a));
}
