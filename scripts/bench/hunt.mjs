// Hunt throughput: `bulwark hunt` over ~2 GB of generated Exchange logs (HttpProxy, ECP, OAB generator, IIS) with
// planted ProxyLogon sequences, against the tools a user would otherwise reach for, all measured in this one run:
//   - ripgrep (`rg`, Debian package `ripgrep`) searching the same literal/regex set as bulwark's native rules
//     (RG_PATTERNS below), case-insensitive, counting matching lines;
//   - a parse-every-row baseline: every HttpProxy row parsed into an object keyed by the `#Fields:` columns (RFC 4180
//     quoting), then filtered like Test-ProxyLogon's `Import-Csv | Where-Object AnchorMailbox -like 'ServerInfo~*/*'`.
// It also checks bulwark's findings against the generator's ground truth: every planted sequence must have at least
// one finding on its lines, and no finding may fall outside planted lines.
//
// Environment: BULWARK_BENCH_HUNT_BYTES (default 2GB; e.g. 200MB for a quick run), BULWARK_BENCH_HUNT_SERVERS
// (default 4), BULWARK_BENCH_HUNT_KEEP=1 keeps the generated tree (its path is printed).
import { spawn } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import {
  ATTACKER_IPS,
  generateLogs,
  PLANTED_KINDS,
  scoreFindings,
} from '../../.bench/fixtures/lab/loggen/index.js';

const RG = '/usr/bin/rg';
const SEED = 20210302;

/**
 * What a grep-based hunt has to search for to cover the evidence bulwark's native ProxyLogon rules look at
 * (Test-ProxyLogon.ps1, Microsoft's HAFNIUM and Volexity's write-ups). ripgrep cannot look at one column, exclude autodiscover/localhost anchors,
 * or apply an allow-list, so it sees more lines; the comparison is about speed, the ground-truth check is bulwark's.
 */
export const RG_PATTERNS = [
  'ServerInfo~', // CVE-2021-26855: HttpProxy AnchorMailbox (Test-ProxyLogon's pre-filter literal)
  'X-BEResource', // CVE-2021-26855: HttpProxy RoutingHint X-BEResource-Cookie
  'Reset.*VirtualDirectory', // CVE-2021-27065: SetObject schema=Reset*VirtualDirectory (HttpProxy Ecp, IIS back end)
  'Set-.+VirtualDirectory', // CVE-2021-27065: ECP Server log (HAFNIUM blog / Test-ProxyLogon)
  'Download failed and temporary file', // CVE-2021-26858: OAB generator log
  '/owa/auth/Current/themes/resources/', // Volexity SSRF decoy paths (IIS, HttpProxy Owa)
  '/ecp/[0-9a-z]{1,4}\\.js', // SSRF decoy /ecp/<1-4 chars>.js (signature-base, Sentinel)
  '/owa/auth/x\\.js', // scanner probe (Microsoft NSE, Metasploit, nuclei)
  '/ecp/default\\.flt', // Volexity path / probe back-end target
  '/ecp/main\\.css', // Volexity path
  '/aspnet_client/[^ /?]+\\.aspx', // web shells under aspnet_client
  '/owa/auth/[^ /?,]+\\.aspx', // .aspx directly under /owa/auth (bulwark then applies the standard-file allow-list)
  'antSword', // web-shell client user agent (Volexity)
  'python-requests/', // exploit user agents (Volexity)
  'ExchangeServicesClient/0\\.0\\.0\\.0',
  ...ATTACKER_IPS.map((ip) => ip.replaceAll('.', '\\.')), // advisory IOC addresses
];

function parseBytes(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m|g|t)?(i)?b?\s*$/i.exec(text);
  if (!m) throw new Error(`BULWARK_BENCH_HUNT_BYTES: cannot read "${text}" (e.g. 2GB, 200MB, 5e8)`);
  const unit = { k: 1, m: 2, g: 3, t: 4 }[(m[2] ?? '').toLowerCase()] ?? 0;
  return Math.round(Number(m[1]) * (m[3] ? 1024 : 1000) ** unit);
}

function walk(root) {
  const out = [];
  const go = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) go(p);
      else out.push(p);
    }
  };
  go(root);
  return out.sort();
}

function seconds(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs a command, collecting stdout; resolves with { code, stdout, stderr, seconds }. */
function exec(cmd, args, opts = {}) {
  return new Promise((resolvePromise) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', (e) =>
      resolvePromise({ code: -1, stdout: '', stderr: String(e), seconds: seconds(t0) }),
    );
    child.on('close', (code) =>
      resolvePromise({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        seconds: seconds(t0),
      }),
    );
  });
}

/**
 * RFC 4180 split of one line, with a fast path: lines without a quote are split with String.split (the fastest a
 * JS row parser gets).
 */
function splitCsvFast(line) {
  if (line.indexOf('"') < 0) return line.split(',');
  const out = [];
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          v += line.slice(i);
          i = line.length;
          break;
        }
        v += line.slice(i, q);
        if (line.charCodeAt(q + 1) === 34) {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      if (i >= line.length) return out;
      i++; // the comma
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

/** RFC 4180 split of one line as CSV libraries do it: one pass over the characters with a quote state. */
function splitCsvScan(line) {
  const out = [];
  let field = '';
  let start = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (quoted) {
      if (c === 34) {
        field += line.slice(start, i);
        if (line.charCodeAt(i + 1) === 34) {
          field += '"';
          i++;
        } else quoted = false;
        start = i + 1;
      }
    } else if (c === 44) {
      out.push(field + line.slice(start, i));
      field = '';
      start = i + 1;
    } else if (c === 34) {
      field += line.slice(start, i);
      quoted = true;
      start = i + 1;
    }
  }
  out.push(field + line.slice(start));
  return out;
}

/** Test-ProxyLogon's current CVE-2021-26855 condition on AnchorMailbox (PowerShell -like is case-insensitive). */
function tplHit(anchor) {
  const a = anchor.toLowerCase();
  if (!a.startsWith('serverinfo~') || a.indexOf('/', 11) < 0) return false;
  return !/^serverinfo~.*\/autodiscover/.test(a) && !a.startsWith('serverinfo~localhost');
}

/** The parse-every-row baseline over every HttpProxy file: returns bytes read, rows parsed and hit keys. */
async function parseEveryRow(root, proxyFiles, splitCsv) {
  let bytes = 0;
  let rows = 0;
  const hits = [];
  for (const file of proxyFiles) {
    bytes += statSync(file).size;
    let columns;
    let lineNo = 0;
    const handle = (raw) => {
      lineNo++;
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (!line) return;
      if (line.startsWith('#')) {
        if (line.startsWith('#Fields:')) columns = line.slice(8).trim().split(',');
        return;
      }
      const values = splitCsv(line);
      if (!columns) {
        columns = values; // a bare header line, as Import-Csv expects
        return;
      }
      const row = {};
      for (let i = 0; i < columns.length; i++) row[columns[i]] = values[i] ?? '';
      rows++;
      if (tplHit(row.AnchorMailbox ?? ''))
        hits.push(`${relative(root, file).split(sep).join('/')}:${lineNo}`);
    };
    let carry = '';
    for await (const chunk of createReadStream(file, { encoding: 'latin1', highWaterMark: 1 << 20 })) {
      const text = carry + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        handle(text.slice(start, nl));
        start = nl + 1;
      }
      carry = text.slice(start);
    }
    if (carry) handle(carry);
  }
  return { bytes, rows, hits };
}

const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mb = (bytes) => bytes / 1e6;

export async function run() {
  const requested = parseBytes(process.env.BULWARK_BENCH_HUNT_BYTES ?? '2GB');
  const servers = Number(process.env.BULWARK_BENCH_HUNT_SERVERS ?? 4);
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-hunt-'));
  const keep = process.env.BULWARK_BENCH_HUNT_KEEP === '1';
  try {
    const fs = statfsSync(dir);
    if (fs.bavail * fs.bsize < requested * 1.05) {
      throw new Error(
        `bench hunt: ${tmpdir()} has ${fmt(mb(fs.bavail * fs.bsize))} MB free, ${fmt(mb(requested))} MB needed (set BULWARK_BENCH_HUNT_BYTES or TMPDIR)`,
      );
    }

    // Generate.
    let t0 = process.hrtime.bigint();
    // Server 1 gets 8 sequences of every kind (compromised), 2 only probes and web-shell scans (probed), 3 adds the
    // autodiscover-only attempt (exploitation_attempted), 4 stays clean; further servers repeat the cycle.
    const truth = await generateLogs({
      out: dir,
      bytes: requested,
      seed: SEED,
      servers,
      perServer: [
        { attacks: 8 },
        { mix: { 'proxylogon-chain': 0, 'autodiscover-only': 0 } },
        { mix: { 'proxylogon-chain': 0 } },
        { attacks: 0 },
      ],
    });
    const genSeconds = seconds(t0);
    const files = walk(dir);
    const proxyFiles = files.filter((f) => f.includes(`${sep}HttpProxy${sep}`));
    const planted = new Map();
    for (const s of truth.sequences) for (const l of s.lines) planted.set(`${l.file}:${l.line}`, s);
    console.error(
      `bench hunt: generated ${fmt(mb(truth.bytes))} MB in ${files.length} files under ${dir} (${genSeconds.toFixed(1)} s)`,
    );

    const rows = [];

    // (i) bulwark hunt <dir> --json
    const bin = new URL('../../bin/bulwark.js', import.meta.url).pathname;
    const b = await exec(process.execPath, [bin, 'hunt', dir, '--json'], {
      cwd: new URL('../..', import.meta.url).pathname,
    });
    let report;
    let bulwarkError;
    if (b.code !== 0 && b.code !== 1)
      bulwarkError = `exit ${b.code}: ${b.stderr.trim().split('\n').slice(-3).join(' / ')}`;
    else {
      try {
        report = JSON.parse(b.stdout);
      } catch (e) {
        bulwarkError = `output is not JSON (${e.message}); stderr: ${b.stderr.trim().split('\n').slice(-2).join(' / ')}`;
      }
    }
    const bulwarkRate = bulwarkError ? undefined : mb(truth.bytes) / b.seconds;
    rows.push({
      tool: '`bulwark hunt <dir> --json` (field-aware native rules)',
      bytes: truth.bytes,
      seconds: bulwarkError ? undefined : b.seconds,
      note: bulwarkError ? `failed: ${bulwarkError}` : `${fmt(report.findings?.length ?? 0)} findings`,
    });
    console.error(`bench hunt: bulwark ${bulwarkError ?? `${b.seconds.toFixed(2)} s`}`);

    // (ii) ripgrep with the same pattern set
    if (existsSync(RG)) {
      const args = ['--no-ignore', '--hidden', '-i', '-c', ...RG_PATTERNS.flatMap((p) => ['-e', p]), dir];
      const r = await exec(RG, args);
      if (r.code === 0 || r.code === 1) {
        const count = r.stdout
          .split('\n')
          .filter(Boolean)
          .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(':') + 1)), 0);
        rows.push({
          tool: `ripgrep ${(await exec(RG, ['--version'])).stdout.split('\n')[0].replace(/^ripgrep /, '')} (\`rg -i -c\`, ${RG_PATTERNS.length} patterns)`,
          bytes: truth.bytes,
          seconds: r.seconds,
          note: `${fmt(count)} matching lines`,
        });
      } else {
        rows.push({
          tool: 'ripgrep',
          bytes: truth.bytes,
          note: `failed: exit ${r.code}: ${r.stderr.trim()}`,
        });
      }
      console.error(`bench hunt: rg ${r.seconds.toFixed(2)} s`);
    } else {
      console.error(
        `bench hunt: ${RG} not found — install it with \`sudo apt-get install ripgrep\`; row skipped`,
      );
      rows.push({
        tool: 'ripgrep',
        bytes: truth.bytes,
        note: 'skipped: /usr/bin/rg not installed (`apt-get install ripgrep`)',
      });
    }

    // (iii) parse every row, then filter — with a character-level RFC 4180 parser (as CSV libraries and Import-Csv
    // work) and, for reference, with a String.split fast path for quote-free lines.
    const baselines = [];
    for (const [label, split] of [
      ['character-level RFC 4180 parser', splitCsvScan],
      ['String.split fast path for quote-free rows', splitCsvFast],
    ]) {
      t0 = process.hrtime.bigint();
      const base = await parseEveryRow(dir, proxyFiles, split);
      const s = seconds(t0);
      const off = base.hits.filter((h) => !planted.has(h)).length;
      baselines.push({ label, bytes: base.bytes, seconds: s });
      rows.push({
        tool: `parse-every-row baseline: HttpProxy rows → object keyed by \`#Fields\` → AnchorMailbox filter; ${label}`,
        bytes: base.bytes,
        seconds: s,
        note: `${fmt(base.rows)} rows, ${fmt(base.hits.length)} Test-ProxyLogon 26855 hits (${off} off planted lines)`,
      });
      console.error(`bench hunt: parse-every-row (${label}) ${s.toFixed(2)} s`);
    }

    // Correctness of bulwark against the ground truth.
    let correctness;
    let verdicts = '';
    if (report) {
      const score = scoreFindings(truth, report.findings ?? [], {
        root: dir,
        cwd: new URL('../..', import.meta.url).pathname,
      });
      const sample = score.outside
        .slice(0, 3)
        .map((f) => `${relative(dir, resolve(dir, f.file))}:${f.line} ${f.rule ?? ''}`);
      correctness =
        `**Correctness: ${score.ok ? 'PASS' : 'FAIL'}** — bulwark found ${score.found.length}/${truth.sequences.length} planted sequences ` +
        `(${Object.entries(score.byKind)
          .map(([k, e]) => `${k} ${e.found}/${e.total}`)
          .join(', ')}); ${score.outside.length} findings outside planted lines` +
        (sample.length ? ` (e.g. ${sample.join('; ')})` : '') +
        (score.missed.length ? `; missed: ${score.missed.map((s) => s.id).join(', ')}` : '') +
        '.';
      const expected = new Map(truth.servers.map((s) => [s.name, s.verdict]));
      verdicts = `Host verdicts (bulwark / expected from the planted mix): ${(report.hosts ?? [])
        .map((h) => `${h.host} ${h.verdict} / ${expected.get(h.host) ?? '?'}`)
        .join(', ')}.`;
    } else {
      correctness = '**Correctness: not measured** — bulwark hunt did not produce a report.';
    }

    const bulwarkRow = rows[0];
    const table = rows
      .map((r) => {
        const rate = r.seconds ? mb(r.bytes) / r.seconds : undefined;
        const ratio = rate && bulwarkRate ? `${(bulwarkRate / rate).toFixed(2)}x` : '–';
        return `| ${r.tool} | ${fmt(mb(r.bytes))} | ${r.seconds ? r.seconds.toFixed(2) : '–'} | ${rate ? fmt(rate, 1) : '–'} | ${r === bulwarkRow ? (bulwarkRate ? '1.00x' : '–') : ratio} | ${r.note} |`;
      })
      .join('\n');
    const rgRow = rows.find((r) => r.tool.startsWith('ripgrep') && r.seconds);
    const rgRate = rgRow ? mb(rgRow.bytes) / rgRow.seconds : undefined;
    const targets = [
      rgRate && bulwarkRate
        ? `bulwark at ${((bulwarkRate / rgRate) * 100).toFixed(0)}% of ripgrep's throughput (target ≥ 50%: ${bulwarkRate / rgRate >= 0.5 ? 'met' : 'NOT met'})`
        : 'bulwark vs ripgrep: not measured',
      ...baselines.map((x) => {
        const ratio = bulwarkRate ? bulwarkRate / (mb(x.bytes) / x.seconds) : undefined;
        return ratio
          ? `${ratio.toFixed(1)}x the parse-every-row baseline with the ${x.label} (target ≥ 20x: ${ratio >= 20 ? 'met' : 'NOT met'})`
          : `bulwark vs parse-every-row (${x.label}): not measured`;
      }),
    ];
    // The 20x target against a parse-every-row baseline written in JavaScript is above what ripgrep itself reaches
    // here: say so with the measured figures rather than weaken or slow the baseline.
    const fastest = baselines.reduce((a, x) => (mb(x.bytes) / x.seconds > mb(a.bytes) / a.seconds ? x : a));
    const needed = 20 * (mb(fastest.bytes) / fastest.seconds);
    const feasibility = rgRate
      ? `20x the faster baseline would be ${fmt(needed)} MB/s, ${(needed / rgRate).toFixed(1)}x ripgrep's own throughput on this machine: the baselines are V8 code (a tight line loop, String.split or a character loop, one object per row) at ${fmt(mb(fastest.bytes) / fastest.seconds)} MB/s on one core, so meeting ≥ 20x would take a field-aware hunt well over twice as fast as ripgrep's literal search.`
      : '';
    const kinds = new Map(PLANTED_KINDS.map((k) => [k, 0]));
    for (const s of truth.sequences) kinds.set(s.kind, kinds.get(s.kind) + 1);

    return `## Hunt

${fmt(mb(truth.bytes))} MB of generated Exchange logs (${fmt(files.length)} files, ${truth.servers.length} servers, ${truth.start.slice(0, 10)} to ${truth.end.slice(0, 10)}:
HttpProxy in 10 protocol folders, ECP Server/Activity, OAB generator, IIS front and back end) with ${truth.sequences.length}
planted sequences (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}), generated with seed ${SEED} in
${genSeconds.toFixed(1)} s (${fmt(mb(truth.bytes) / genSeconds, 0)} MB/s). Each tool ran once, wall clock, files in the page
cache; MB = 10^6 bytes. Ratio = bulwark's MB/s ÷ the tool's MB/s. The baselines read only the HttpProxy files
(${fmt(mb(baselines[0].bytes))} MB), so their MB/s is over those.

| tool | MB read | seconds | MB/s | bulwark ÷ tool | result |
|---|---|---|---|---|---|
${table}

Targets: ${targets.join('; ')}.
${feasibility ? `\n${feasibility}\n` : ''}
${correctness}
${verdicts ? `\n${verdicts}\n` : ''}
ripgrep patterns (\`-i\`, one \`-e\` each): ${RG_PATTERNS.map((p) => `\`${p}\``).join(' ')}`;
  } finally {
    if (keep) console.error(`bench hunt: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
