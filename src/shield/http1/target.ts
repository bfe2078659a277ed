/**
 * Request-target forms the Exchange front end (http.sys + IIS + ASP.NET) reads differently from their literal,
 * once-percent-decoded text. The gateway refuses them with 400 before any rule runs, so that what the rules see as
 * REQUEST_FILENAME (the path decoded once, as ModSecurity computes it) is what IIS serves, up to letter case and
 * repeated slashes (which the rules fold themselves with `t:lowercase` and `t:normalizePath`). Nothing is
 * rewritten: a target is either forwarded byte for byte or refused. docs/shield.md ("Canonicalisation") has the
 * table of every step, the choice made for it and the sources.
 *
 * Only the path is checked (up to the first `?`); the query string is split into arguments the same way by
 * ASP.NET and ModSecurity and is inspected as it is.
 */

/** Why `target` is refused, or undefined when its path means what it says. `*` and empty paths pass. */
export function ambiguousTarget(target: string): string | undefined {
  // RFC 9112 §3.2: a request-target never carries a fragment; what a server does with `#…` is unspecified.
  if (target.indexOf('#') >= 0) return 'fragment ("#") in request-target (RFC 9112 §3.2)';
  if (target === '*') return undefined;
  let start = 0;
  if (target.charCodeAt(0) !== SLASH) {
    const abs = /^https?:\/\/[^/?]*/i.exec(target);
    if (abs) start = abs[0].length;
  }
  const q = target.indexOf('?', start);
  return ambiguousPath(target, start, q < 0 ? target.length : q);
}

const SLASH = 0x2f;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * The path part of a target (`path.slice(from, to)`, no query): see ambiguousTarget. One pass over the raw characters,
 * decoding escapes as it goes (this runs on every request: no intermediate strings, no regular expressions).
 */
export function ambiguousPath(path: string, from = 0, to = path.length): string | undefined {
  // The current segment (decoded): its length, whether it is only dots, its first two bytes and its last one.
  let segLen = 0;
  let onlyDots = true;
  let first = -1;
  let second = -1;
  let last = -1;
  let tilde = false;
  // The two bytes before this one (decoded), for the three-byte look-alikes.
  let p1 = 0;
  let p2 = 0;
  // UTF-8 (RFC 3629, Unicode table 3-7): continuation bytes still expected and the range of the next one.
  let need = 0;
  let lo = 0x80;
  let hi = 0xbf;
  for (let i = from; i <= to; i++) {
    let c = i < to ? path.charCodeAt(i) : SLASH; // the end closes the last segment
    if (c === 0x25 /* % */) {
      const h = i + 1 < to ? hexVal(path.charCodeAt(i + 1)) : -1;
      const l = i + 2 < to ? hexVal(path.charCodeAt(i + 2)) : -1;
      // `%uXXXX` (http.sys decodes it unless PercentUAllowed is 0) and broken escapes have no single reading.
      if (h < 0 || l < 0)
        return 'percent sign not followed by two hex digits in the path (%u or broken escape)';
      c = h * 16 + l;
      i += 2;
      if (c === 0x25) return 'encoded "%" in the path (double percent-encoding)';
    }
    if (need > 0) {
      if (c < lo || c > hi) return 'invalid or overlong UTF-8 in the decoded path';
      need--;
      lo = 0x80;
      hi = 0xbf;
      if (need === 0 && isLookAlike((p2 << 16) | (p1 << 8) | c)) {
        return 'look-alike of "/", "\\" or "." (full-width or division slash) in the path';
      }
    } else if (c >= 0x80) {
      if (c >= 0xc2 && c <= 0xdf) need = 1;
      else if (c === 0xe0) [need, lo] = [2, 0xa0];
      else if (c === 0xed) [need, hi] = [2, 0x9f];
      else if (c >= 0xe1 && c <= 0xef) need = 2;
      else if (c === 0xf0) [need, lo] = [3, 0x90];
      else if (c >= 0xf1 && c <= 0xf3) need = 3;
      else if (c === 0xf4) [need, hi] = [3, 0x8f];
      else return 'invalid or overlong UTF-8 in the decoded path';
    } else if (c < 0x20 || c === 0x7f) return 'control byte in the decoded path';
    else if (c === 0x5c) return 'backslash in the path (IIS reads "\\" as "/")';
    else if (c === 0x3f || c === 0x23) return 'encoded "?" or "#" in the path';
    else if (c === 0x3a) return 'colon in the path (NTFS stream or drive syntax, "::$DATA")';
    p2 = p1;
    p1 = c;
    if (c === SLASH) {
      if (need > 0) return 'invalid or overlong UTF-8 in the decoded path';
      if (segLen > 0) {
        if (onlyDots && segLen <= 2) return 'dot segment in the path (IIS resolves "." and "..")';
        if (last === 0x2e || last === 0x20) {
          return 'path segment ending in "." or space (Windows strips them: "x.svc." is "x.svc")';
        }
      }
      segLen = 0;
      onlyDots = true;
      first = second = last = -1;
      tilde = false;
      continue;
    }
    if (segLen === 2 && first === 0x28 /* ( */ && isLetter(second) && c === 0x28) {
      return 'cookieless-session segment "(X(…))" in the path (ASP.NET removes it)';
    }
    if (tilde && c >= 0x30 && c <= 0x39) return '8.3 short-name segment ("NAME~1.EXT") in the path';
    tilde = c === 0x7e;
    if (segLen === 0) first = c;
    else if (segLen === 1) second = c;
    if (c !== 0x2e) onlyDots = false;
    last = c;
    segLen++;
  }
  return undefined;
}

/**
 * UTF-8 of characters that look like a separator or a dot: U+FF0F／ U+FF3C＼ U+FF0E． U+2215∕ U+2216∖ U+2044⁄
 * U+FE52﹒. Whether anything between http.sys and the file system maps them (a best-fit conversion to an ANSI code
 * page would) is unknown, so they are refused rather than assumed harmless; Exchange's paths are ASCII.
 */
const LOOK_ALIKES = new Set([0xefbc8f, 0xefbcbc, 0xefbc8e, 0xe28895, 0xe28896, 0xe28184, 0xefb992]);

function isLookAlike(threeBytes: number): boolean {
  return LOOK_ALIKES.has(threeBytes);
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
