/**
 * Fast text formatting for the generator: ISO-8601 and IIS timestamps without Intl or Date per call (a cached
 * per-minute prefix plus lookup tables), and RFC 4180 quoting.
 */

const PAD2: string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3: string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

const MINUTE = 60_000;

/** Formats epoch milliseconds; keeps two cached minute prefixes (events and their begin times straddle minutes). */
export class Clock {
  private isoMinA = Number.NaN;
  private isoPreA = '';
  private isoMinB = Number.NaN;
  private isoPreB = '';
  private iisMin = Number.NaN;
  private iisDate = '';
  private iisHm = '';

  /** `2021-03-03T06:49:42.162Z` */
  iso(ms: number): string {
    const t = Math.floor(ms);
    const minute = Math.floor(t / MINUTE);
    const rest = t - minute * MINUTE;
    const tail = `${PAD2[Math.floor(rest / 1000)]!}.${PAD3[rest % 1000]!}Z`;
    if (minute === this.isoMinA) return this.isoPreA + tail;
    if (minute === this.isoMinB) return this.isoPreB + tail;
    const pre = new Date(minute * MINUTE).toISOString().slice(0, 17);
    this.isoMinB = this.isoMinA;
    this.isoPreB = this.isoPreA;
    this.isoMinA = minute;
    this.isoPreA = pre;
    return pre + tail;
  }

  /** IIS W3C `date time` pair: `2021-03-03 06:49:42`. */
  iis(ms: number): string {
    const t = Math.floor(ms);
    const minute = Math.floor(t / MINUTE);
    if (minute !== this.iisMin) {
      const s = new Date(minute * MINUTE).toISOString();
      this.iisMin = minute;
      this.iisDate = s.slice(0, 10);
      this.iisHm = s.slice(11, 17);
    }
    return `${this.iisDate} ${this.iisHm}${PAD2[Math.floor((t - minute * MINUTE) / 1000)]!}`;
  }
}

/** `yyyyMMddHH` of an epoch-ms instant (UTC). */
export function hourStamp(ms: number): string {
  const s = new Date(ms).toISOString();
  return s.slice(0, 4) + s.slice(5, 7) + s.slice(8, 10) + s.slice(11, 13);
}

/** `yyyyMMdd` (UTC). */
export function dayStamp(ms: number): string {
  const s = new Date(ms).toISOString();
  return s.slice(0, 4) + s.slice(5, 7) + s.slice(8, 10);
}

/** `YYMMDD` as in IIS `u_exYYMMDD.log` (UTC). */
export function iisDayStamp(ms: number): string {
  const s = new Date(ms).toISOString();
  return s.slice(2, 4) + s.slice(5, 7) + s.slice(8, 10);
}

const NEEDS_QUOTE = /[",\r\n]/;

/** One CSV field, quoted per RFC 4180 when it contains a comma, quote or line break. */
export function csv(value: string): string {
  return NEEDS_QUOTE.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The HttpProxy form of a user agent: Exchange writes commas as spaces (`(KHTML  like Gecko)`). */
export function proxyUa(ua: string): string {
  return ua.replaceAll(',', ' ');
}

/** The IIS W3C form of a value: spaces as `+`, empty as `-`. */
export function iisValue(value: string): string {
  return value === '' ? '-' : value.replaceAll(' ', '+');
}
