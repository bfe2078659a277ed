import type { RulePhase, ShieldRequest } from '../types.js';
import { urlDecode } from './transforms.js';

/** Percent-decoding as libmodsecurity's utils::uri_decode: `%XX` only (no `+`), invalid escapes kept. */
export function uriDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/**
 * More arguments (query + urlencoded body) than the caller allows (ModSecurity's SecArgumentsLimit). Thrown by the
 * lazily parsed ARGS collections; the gateway refuses the request (limits.max_args).
 */
export class TooManyArgumentsError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} arguments (limits.max_args)`);
    this.name = 'TooManyArgumentsError';
  }
}

/**
 * `a=1&b=2` → pairs; name and value url-decoded (`+` → space) as ModSecurity does; empty pieces skipped. One pass
 * over `s` (linear); more than `max` pairs throws TooManyArgumentsError as soon as the pair past the limit is seen,
 * so an oversized body costs no more than `max` pairs.
 */
export function parseArgs(s: string, max = Number.POSITIVE_INFINITY): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i <= s.length) {
    let end = s.indexOf('&', i);
    if (end < 0) end = s.length;
    if (end > i) {
      if (out.length >= max) throw new TooManyArgumentsError(max);
      const piece = s.slice(i, end); // '=' searched in the piece only: a scan to the end of s would be quadratic
      const eq = piece.indexOf('=');
      const k = eq < 0 ? piece : piece.slice(0, eq);
      const v = eq < 0 ? '' : piece.slice(eq + 1);
      out.push([urlDecode(k), urlDecode(v)]);
    }
    i = end + 1;
  }
  return out;
}

/** One Cookie header → pairs, exactly as libmodsecurity v3 Transaction::addRequestHeader splits it. */
export function parseCookieHeader(value: string): Array<[string, string]> {
  const parts = value.split(';');
  const last = parts.length - 1;
  parts[last] = parts[last]!.replace(/[ \t\n\v\f\r]+$/, '');
  const out: Array<[string, string]> = [];
  for (const c of parts) {
    if (c === '') continue;
    const eq = c.indexOf('=');
    let k = eq < 0 ? c : c.slice(0, eq);
    const v = eq < 0 ? '' : c.slice(eq + 1);
    k = k.replace(/^[ \t\n\v\f\r]+/, '');
    if (k === '') continue;
    out.push([k, v]);
  }
  return out;
}

/** Per-request view of a ShieldRequest; every derived value is computed lazily, at most once. */
export class RequestView {
  private _hdrLower?: string[];
  private _cookies?: Array<[string, string]>;
  private _argsGet?: Array<[string, string]>;
  private _argsPost?: Array<[string, string]>;
  private _uriNoFrag?: string;
  private _decoded?: string;
  private _body?: string | null;
  private _bodyBuf: Buffer | undefined;
  private _tx?: Map<string, string>;
  /**
   * Transformation results of this request, per transformation chain (by number) and input value: rules that read
   * the same variable through the same chain (EOMT's two cookie rules) transform it once, in either phase.
   */
  private transformed?: Array<Map<string, string> | undefined>;
  /** Most ARGS (query + urlencoded body together) this request may have; more → TooManyArgumentsError. */
  maxArgs = Number.POSITIVE_INFINITY;

  /** `body`: what REQUEST_BODY reads in phase 2 (default: the request's own). */
  constructor(
    readonly req: ShieldRequest,
    private _phase: RulePhase,
    body: Buffer | undefined = req.body,
  ) {
    this._bodyBuf = body;
  }

  get phase(): RulePhase {
    return this._phase;
  }

  /**
   * Move on to another phase of the same request (a transaction evaluates phase 1, then phase 2 once the body, if
   * any was wanted, has arrived). TX is per phase; values derived from the head are kept; the body is replaced.
   */
  enterPhase(phase: RulePhase, body?: Buffer): void {
    this._phase = phase;
    this._tx = undefined;
    this._bodyBuf = body;
    this._body = undefined;
    this._argsPost = undefined;
  }

  /** TX:0..9 from `capture`. */
  get tx(): Map<string, string> {
    if (!this._tx) this._tx = new Map();
    return this._tx;
  }

  /** The TX collection without creating it (empty when no rule captured). */
  get txEntries(): Array<[string, string]> {
    return this._tx ? [...this._tx] : [];
  }

  transform(chainId: number, value: string, fn: (s: string) => string): string {
    if (!this.transformed) this.transformed = [];
    let byValue = this.transformed[chainId];
    if (!byValue) {
      byValue = new Map();
      this.transformed[chainId] = byValue;
    }
    let out = byValue.get(value);
    if (out === undefined) {
      out = fn(value);
      byValue.set(value, out);
    }
    return out;
  }

  get headerNamesLower(): string[] {
    if (!this._hdrLower) this._hdrLower = this.req.headers.map(([n]) => n.toLowerCase());
    return this._hdrLower;
  }

  get uriNoFragment(): string {
    if (this._uriNoFrag === undefined) {
      const u = this.req.uri;
      const h = u.indexOf('#');
      this._uriNoFrag = h < 0 ? u : u.slice(0, h);
    }
    return this._uriNoFrag;
  }

  get uriDecoded(): string {
    if (this._decoded === undefined) this._decoded = uriDecode(this.uriNoFragment);
    return this._decoded;
  }

  /** REQUEST_URI: decoded, with `scheme://host` removed from an absolute-form target (libmodsecurity v3). */
  get requestUri(): string {
    const d = this.uriDecoded;
    if (d.startsWith('/') || d === '') return d;
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(d);
    return m ? d.slice(m[0].length) || '/' : d;
  }

  /** REQUEST_FILENAME: decoded path, cut at the first (decoded) `?`, as libmodsecurity v3 does. */
  get filename(): string {
    const r = this.requestUri;
    const q = r.indexOf('?');
    return q < 0 ? r : r.slice(0, q);
  }

  get queryString(): string | undefined {
    const u = this.uriNoFragment;
    const q = u.indexOf('?');
    return q < 0 ? undefined : u.slice(q + 1);
  }

  get argsGet(): Array<[string, string]> {
    if (!this._argsGet) this._argsGet = parseArgs(this.queryString ?? '', this.maxArgs);
    return this._argsGet;
  }

  get argsPost(): Array<[string, string]> {
    if (!this._argsPost) {
      this._argsPost = [];
      const body = this.body;
      if (body !== null) {
        const i = this.headerNamesLower.indexOf('content-type');
        const ct = i < 0 ? '' : this.req.headers[i]![1].toLowerCase();
        if (ct.trimStart().startsWith('application/x-www-form-urlencoded'))
          this._argsPost = parseArgs(body, this.maxArgs - this.argsGet.length);
      }
    }
    return this._argsPost;
  }

  /** Body as a byte string (phase 2 only); null when absent. */
  get body(): string | null {
    if (this._body === undefined) {
      this._body = this._phase === 2 && this._bodyBuf ? this._bodyBuf.toString('latin1') : null;
    }
    return this._body;
  }

  get cookies(): Array<[string, string]> {
    if (!this._cookies) {
      this._cookies = [];
      const names = this.headerNamesLower;
      for (let i = 0; i < names.length; i++) {
        if (names[i] === 'cookie') this._cookies.push(...parseCookieHeader(this.req.headers[i]![1]));
      }
    }
    return this._cookies;
  }
}
