/**
 * Small allocation-light helpers: CSV (RFC 4180) and W3C splitting, timestamp normalisation, value shapes.
 * No regular expression runs per field; the CSV splitter only walks characters when the line has a quote.
 */

/**
 * Split one CSV record (RFC 4180: fields may be quoted, quotes inside doubled; a quoted field may hold commas and
 * newlines). Characters after a closing quote up to the next comma are kept as written (lenient).
 * Returns undefined when a quoted field is not closed.
 */
export function splitCsv(line: string): string[] | undefined {
  const out: string[] = [];
  if (line.indexOf('"') === -1) {
    let start = 0;
    for (let c = line.indexOf(','); c !== -1; c = line.indexOf(',', start)) {
      out.push(line.slice(start, c));
      start = c + 1;
    }
    out.push(line.slice(start));
    return out;
  }
  const n = line.length;
  let i = 0;
  for (;;) {
    if (i < n && line.charCodeAt(i) === 34) {
      // Quoted field.
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = line.indexOf('"', from);
        if (q === -1) return undefined;
        value += line.slice(from, q);
        if (line.charCodeAt(q + 1) === 34) {
          value += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Lenient: text between the closing quote and the next comma belongs to the field.
      const c = line.indexOf(',', i);
      const end = c === -1 ? n : c;
      if (end > i) value += line.slice(i, end);
      out.push(value);
      if (c === -1) return out;
      i = c + 1;
    } else {
      const c = line.indexOf(',', i);
      if (c === -1) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

/** Number of `"` characters in a string (odd = an open quoted CSV field continues on the next line). */
export function countQuotes(s: string): number {
  let n = 0;
  for (let i = s.indexOf('"'); i !== -1; i = s.indexOf('"', i + 1)) n++;
  return n;
}

/** Split a W3C line on single spaces (consecutive spaces give empty tokens, so joining restores the text). */
export function splitSpaces(line: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let c = line.indexOf(' '); c !== -1; c = line.indexOf(' ', start)) {
    out.push(line.slice(start, c));
    start = c + 1;
  }
  out.push(line.slice(start));
  return out;
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s?(Z|[+-]\d{2}:?\d{2})?$/;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ`, the form Exchange writes: recognised without a regular expression. */
export function isCanonicalIso(s: string): boolean {
  return (
    s.length === 24 &&
    s.charCodeAt(4) === 45 &&
    s.charCodeAt(10) === 84 &&
    s.charCodeAt(19) === 46 &&
    s.charCodeAt(23) === 90 &&
    isDigit(s.charCodeAt(0)) &&
    isDigit(s.charCodeAt(5)) &&
    isDigit(s.charCodeAt(8)) &&
    isDigit(s.charCodeAt(11)) &&
    isDigit(s.charCodeAt(14)) &&
    isDigit(s.charCodeAt(17)) &&
    isDigit(s.charCodeAt(22))
  );
}

function build(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  offsetMin: number,
) {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return undefined;
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000;
  if (!Number.isFinite(t)) return undefined;
  const date = new Date(t);
  // Reject roll-overs such as 2021-02-30.
  if (offsetMin === 0 && h < 24 && s < 60 && date.getUTCDate() !== d) return undefined;
  const iso = date.toISOString();
  return iso.length === 24 ? iso : undefined;
}

/**
 * An ISO-8601 timestamp (`T` or space, optional seconds, fraction of any length, `Z`, offset or none = UTC) as
 * `YYYY-MM-DDTHH:MM:SS.sssZ`; undefined when it is not one.
 */
export function toIsoUtc(s: string): string | undefined {
  if (isCanonicalIso(s)) return s;
  if (s.length < 16 || s.length > 40) return undefined;
  const m = ISO_RE.exec(s);
  if (!m) return undefined;
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  let offset = 0;
  const z = m[8];
  if (z && z !== 'Z') {
    const sign = z[0] === '-' ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  }
  return build(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, m[6] ? +m[6] : 0, ms, offset);
}

/** IIS `date` + `time` fields (UTC) as an ISO timestamp. */
export function w3cTimestamp(date: string, time: string): string | undefined {
  if (date.length === 10 && time.length === 8) {
    const s = `${date}T${time}.000Z`;
    if (isCanonicalIso(s)) return s;
  }
  return toIsoUtc(`${date}T${time}`);
}

const LOCAL_RE =
  /^(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?(?:\s*([AaPp])\.?\s?[Mm]\.?)?$/;

/**
 * A date as Event Viewer or PowerShell writes it in the exporting machine's locale (`3/3/2021 6:49:53 AM`,
 * `03.03.2021 06:49:53`, `03/03/2021 06:49:53`, `2021-03-03 06:49:53`), read as UTC (the file does not say which
 * zone it was written in). With AM/PM the order is month/day; with dots, or slashes and a 24-hour clock, day/month.
 */
export function localDateToIso(s: string): string | undefined {
  const t = s.trim();
  const iso = toIsoUtc(t);
  if (iso) return iso;
  const m = LOCAL_RE.exec(t);
  if (!m) return undefined;
  const a = +m[1]!;
  const sep = m[2]!;
  const b = +m[3]!;
  const c = +m[4]!;
  let y: number;
  let mo: number;
  let d: number;
  if (m[1]!.length === 4) {
    y = a;
    mo = b;
    d = c;
  } else {
    if (m[4]!.length !== 4) return undefined;
    y = c;
    const monthFirst = m[9] !== undefined ? true : sep === '/' && b > 12;
    if (monthFirst) {
      mo = a;
      d = b;
    } else {
      d = a;
      mo = b;
    }
  }
  let h = +m[5]!;
  if (m[9]) {
    if (h < 1 || h > 12) return undefined;
    const pm = m[9].toLowerCase() === 'p';
    if (h === 12) h = pm ? 12 : 0;
    else if (pm) h += 12;
  }
  const ms = m[8] ? Math.floor(Number(`0.${m[8]}`) * 1000) : 0;
  return build(y, mo, d, h, +m[6]!, m[7] ? +m[7] : 0, ms, 0);
}

/** Dotted-quad IPv4 or an IPv6 address (optionally with a `%zone`), by shape. */
export function looksLikeIp(s: string): boolean {
  if (s.length < 2 || s.length > 64) return false;
  let dots = 0;
  let colons = 0;
  let hex = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) dots++;
    else if (c === 58) colons++;
    else if ((c >= 97 && c <= 102) || (c >= 65 && c <= 70)) hex = true;
    else if (c === 37)
      return colons >= 2 && i < s.length - 1; // IPv6 %zone
    else if (!isDigit(c)) return false;
  }
  if (colons === 0) {
    if (hex || dots !== 3) return false;
    const parts = s.split('.');
    return parts.every((p) => p.length > 0 && p.length <= 3 && +p <= 255);
  }
  return colons >= 2;
}

/** `15.01.2375.007` → `15.1.2375.7`; undefined unless four numeric parts. */
export function normaliseBuild(v: string): string | undefined {
  const parts = v.trim().split('.');
  if (parts.length !== 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    if (p.length === 0 || p.length > 6) return undefined;
    for (let i = 0; i < p.length; i++) if (!isDigit(p.charCodeAt(i))) return undefined;
    nums.push(Number(p));
  }
  return nums.join('.');
}
