/**
 * IP addresses, CIDR ranges and loopback: the one definition every capability uses (Sigma `|cidr`, SecLang
 * `@ipMatch`, the gateway, the lab). Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6, so an IPv4 range also
 * matches `::ffff:a.b.c.d`. Strict parsing: anything that is not an address is null and never matches.
 */

export interface CidrRange {
  text: string;
  /** Address as 16 bytes (IPv4 as IPv4-mapped IPv6). */
  bytes: Uint8Array;
  /** Prefix length over the 128-bit form (an IPv4 /8 is 104). */
  prefix: number;
}

const V4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): number[] | null {
  const m = V4.exec(s);
  if (!m) return null;
  const out: number[] = [];
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function groups(part: string): number[] | null {
  if (part === '') return [];
  const out: number[] = [];
  const items = part.split(':');
  for (let i = 0; i < items.length; i++) {
    const g = items[i]!;
    if (i === items.length - 1 && g.includes('.')) {
      const v4 = parseV4(g);
      if (!v4) return null;
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (HEX_GROUP.test(g)) {
      out.push(Number.parseInt(g, 16));
    } else {
      return null;
    }
  }
  return out;
}

function parseV6(s: string): Uint8Array | null {
  const parts = s.split('::');
  let words: number[];
  if (parts.length === 1) {
    const all = groups(s);
    if (all?.length !== 8) return null;
    words = all;
  } else if (parts.length === 2) {
    const head = groups(parts[0]!);
    const tail = groups(parts[1]!);
    if (!head || !tail || head.length + tail.length > 7) return null;
    if (head.length > 0 && parts[0]!.includes('.')) return null; // an embedded IPv4 only ends an address
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    return null;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** Parses an IPv4 or IPv6 address (IPv6 may carry brackets or a `%zone`), or returns null. */
export function parseIp(text: string): { bytes: Uint8Array; v4: boolean } | null {
  let s = text.trim();
  if (s.length > 64) return null;
  const v4 = parseV4(s);
  if (v4) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(v4, 12);
    return { bytes, v4: true };
  }
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone > 0) s = s.slice(0, zone);
  if (!s.includes(':')) return null;
  const bytes = parseV6(s);
  return bytes ? { bytes, v4: false } : null;
}

/** Parses `address/prefix` (or a bare address, a full-length prefix). */
export function parseCidr(text: string): CidrRange | null {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return null;
  const max = addr.v4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  return { text, bytes: addr.bytes, prefix: addr.v4 ? prefix + 96 : prefix };
}

/** Whether the 16-byte address `ip` (from parseIp) is inside `range`. */
export function inCidr(range: CidrRange, ip: Uint8Array): boolean {
  const full = range.prefix >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((ip[full]! ^ range.bytes[full]!) & mask) === 0;
}

/**
 * Whether `host` is this machine only: `localhost`, an address in 127.0.0.0/8, `::1` (any spelling), or
 * `::ffff:127.x.x.x`. Brackets and an IPv6 zone are ignored; a name other than `localhost` is not loopback.
 */
export function isLoopback(host: string): boolean {
  if (host.trim().toLowerCase() === 'localhost') return true;
  const ip = parseIp(host);
  if (!ip) return false;
  const b = ip.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  if (b[10] === 0xff && b[11] === 0xff) return b[12] === 127;
  if (b[10] !== 0 || b[11] !== 0) return false;
  return b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15] === 1;
}
