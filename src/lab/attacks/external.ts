/**
 * Requests built from third-party corpora read at run time from a directory the caller names (never copied
 * into the project): `gotestwaf/testcases` (wallarm/gotestwaf test cases, MIT) and `crs-regression` (OWASP CRS
 * regression tests, Apache-2.0). They attack other things than Exchange, so under the ProxyLogon rule set they
 * are expected to pass (`allow`). A missing directory yields no requests.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { rawRequest } from './proxylogon.js';
import type { LabelledRequest } from './types.js';

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e)) out.push(p);
  }
  return out;
}

function loadYaml(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return parse(text, { strict: false, uniqueKeys: false });
  } catch {
    // GoTestWAF's Go-YAML-only escapes (\' inside double quotes): retry with them undone.
    try {
      return parse(text.replace(/\\'/g, "'"), { strict: false, uniqueKeys: false });
    } catch {
      return undefined;
    }
  }
}

const PRINTABLE = /^[ -~]*$/;

/** Printable ASCII plus tab, CR, LF. */
function isTextBody(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 9 && c !== 10 && c !== 13)) return false;
  }
  return true;
}

export interface ExternalOptions {
  /** The third-party corpus directory (tests: test/support/corpus-dir.ts CORPUS_DIR). */
  corpusDir: string;
  /** At most this many payloads per GoTestWAF file (default 12). */
  gotestwafPerFile?: number;
  /** At most this many payload bytes (default 4096). */
  maxPayload?: number;
  /** At most this many CRS tests per rule file (default 4). */
  crsPerFile?: number;
}

/** GoTestWAF payloads placed into a query parameter, a form body, a JSON body, a header and the path. */
export function gotestwafRequests(opts: ExternalOptions): LabelledRequest[] {
  const perFile = opts.gotestwafPerFile ?? 12;
  const maxPayload = opts.maxPayload ?? 4096;
  const root = path.join(opts.corpusDir, 'gotestwaf', 'testcases');
  const out: LabelledRequest[] = [];
  for (const file of yamlFiles(root)) {
    const doc = loadYaml(file) as { payload?: unknown[] } | undefined;
    const rel = path.relative(root, file);
    if (!doc || !Array.isArray(doc.payload)) continue;
    const payloads = doc.payload.filter((p): p is string => typeof p === 'string' && p.length <= maxPayload);
    payloads.slice(0, perFile).forEach((p, i) => {
      const src = `gotestwaf ${rel}#${i}`;
      const q = encodeURIComponent(p);
      const add = (kind: string, raw: Buffer) =>
        out.push({ name: `gotestwaf:${rel}#${i}:${kind}`, raw, expect: 'allow', source: src });
      add('urlparam', rawRequest('GET', `/search?q=${q}`, [['User-Agent', 'gotestwaf']]));
      add(
        'form',
        rawRequest('POST', '/form', [['Content-Type', 'application/x-www-form-urlencoded']], `a=${q}`),
      );
      add(
        'json',
        rawRequest('POST', '/api', [['Content-Type', 'application/json']], JSON.stringify({ a: p })),
      );
      add('path', rawRequest('GET', `/${q}`, []));
      if (PRINTABLE.test(p)) add('header', rawRequest('GET', '/', [['X-Payload', p.trim()]]));
    });
  }
  return out;
}

interface CrsInput {
  method?: string;
  uri?: string;
  version?: string;
  headers?: Record<string, unknown>;
  data?: unknown;
  encoded_request?: string;
}

/** CRS regression stages with a plain (not encoded) input, as exact request bytes. */
export function crsRegressionRequests(opts: ExternalOptions): LabelledRequest[] {
  const perFile = opts.crsPerFile ?? 4;
  const root = path.join(opts.corpusDir, 'crs-regression');
  const out: LabelledRequest[] = [];
  for (const file of yamlFiles(root)) {
    const doc = loadYaml(file) as
      | { tests?: { test_id?: number; stages?: { input?: CrsInput }[] }[] }
      | undefined;
    if (!doc || !Array.isArray(doc.tests)) continue;
    const rel = path.relative(root, file);
    let taken = 0;
    for (const t of doc.tests) {
      if (taken >= perFile) break;
      const input = t.stages?.[0]?.input;
      if (!input || input.encoded_request) continue;
      const method = input.method ?? 'GET';
      const uri = input.uri ?? '/';
      const version = input.version ?? 'HTTP/1.1';
      // Only well-formed request lines: the point is "other attacks pass the ProxyLogon patch", not nginx's parser.
      if (!/^[A-Z]+$/.test(method) || !/^[\x21-\x7e]+$/.test(uri) || !/^HTTP\/1\.[01]$/.test(version))
        continue;
      const headers: [string, string][] = [];
      let ok = true;
      for (const [k, v] of Object.entries(input.headers ?? {})) {
        const value = String(v);
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k) || !PRINTABLE.test(value)) ok = false;
        if (/^(content-length|transfer-encoding|connection)$/i.test(k)) continue;
        headers.push([k, value]);
      }
      if (!ok) continue;
      const data = typeof input.data === 'string' ? input.data : '';
      if (data && !isTextBody(data)) continue;
      if (version === 'HTTP/1.1' && !headers.some(([k]) => k.toLowerCase() === 'host'))
        headers.push(['Host', 'localhost']);
      const raw = rawRequest(method, uri, headers, data, version, {});
      out.push({
        name: `crs:${rel}#${t.test_id ?? taken}`,
        raw,
        expect: 'allow',
        source: `crs-regression ${rel}`,
      });
      taken++;
    }
  }
  return out;
}
