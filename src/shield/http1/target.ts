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
  let path = target;
  const abs = /^https?:\/\/[^/?]*/i.exec(path);
  if (abs) path = path.slice(abs[0].length);
  const q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  return ambiguousPath(path);
}

const HEX = /^[0-9A-Fa-f]{2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The path part of a target (no query): see ambiguousTarget. */
export function ambiguousPath(path: string): string | undefined {
  let decoded = '';
  let highBytes: number[] | undefined;
  for (let i = 0; i < path.length; i++) {
    let c = path.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hex = path.slice(i + 1, i + 3);
      // `%uXXXX` (http.sys decodes it unless PercentUAllowed is 0) and broken escapes have no single reading.
      if (!HEX.test(hex))
        return 'percent sign not followed by two hex digits in the path (%u or broken escape)';
      c = Number.parseInt(hex, 16);
      i += 2;
      if (c === 0x25) return 'encoded "%" in the path (double percent-encoding)';
    }
    if (c < 0x20 || c === 0x7f) return 'control byte in the decoded path';
    if (c === 0x5c) return 'backslash in the path (IIS reads "\\" as "/")';
    if (c === 0x3f || c === 0x23) return 'encoded "?" or "#" in the path';
    if (c === 0x3a) return 'colon in the path (NTFS stream or drive syntax, "::$DATA")';
    if (c >= 0x80) {
      highBytes ??= [];
      highBytes.push(c);
    } else if (highBytes) {
      if (!isUtf8(highBytes)) return 'invalid or overlong UTF-8 in the decoded path';
      highBytes = undefined;
    }
    decoded += String.fromCharCode(c);
  }
  if (highBytes && !isUtf8(highBytes)) return 'invalid or overlong UTF-8 in the decoded path';
  for (const seg of decoded.split('/')) {
    if (seg === '.' || seg === '..') return 'dot segment in the path (IIS resolves "." and "..")';
    const last = seg.charCodeAt(seg.length - 1);
    if (last === 0x2e || last === 0x20) {
      return 'path segment ending in "." or space (Windows strips them: "x.svc." is "x.svc")';
    }
    if (/^\([A-Za-z]\(/.test(seg))
      return 'cookieless-session segment "(X(…))" in the path (ASP.NET removes it)';
    if (/~[0-9]/.test(seg)) return '8.3 short-name segment ("NAME~1.EXT") in the path';
  }
  return undefined;
}

function isUtf8(bytes: number[]): boolean {
  try {
    UTF8.decode(Uint8Array.from(bytes));
    return true;
  } catch {
    return false;
  }
}
