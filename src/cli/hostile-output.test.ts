/**
 * Hostile text through the CLI: what a scanned server answers (headers, redirect locations, certificate names),
 * what a targets file says, and what an imported advisory feed says is written by someone else. None of it may
 * reach the terminal as a control character: stdout and stderr carry no C0 byte but LF (CSV: CRLF row ends), no
 * DEL, C1, line separator or bidi override — with colour on, only the SGR codes the tool adds itself. CSV cells
 * are quoted and neutralised; JSON keeps the exact values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { FORBIDDEN, parseCsvStrict, SGR } from '../../test/support/hostile-text.js';
import { neutraliseCell } from '../core/index.js';
import type { HostResult } from '../scan/index.js';
import { closeAfterAll, fakeExchange, makeCert, startHttp, startHttps } from '../scan/scan.testkit.js';
import { runCli } from './run.testkit.js';

const OSC_TITLE = '\x1b]0;pwned\x07';
const CSI_HIDE = '\x1b[8m';
/** U+009B is a one-character CSI on some terminals; U+202E reverses what follows ("Trojan Source"). */
const C1_CSI = '\u009b2J';
const BIDI = '\u202e';

const cli = (argv: string[], color = false) => runCli(argv, {}, process.cwd(), color);

/** Nothing forbidden once the tool's own colour codes are taken out (and, for CSV, the CRLF row ends). */
function expectClean(text: string): void {
  expect(text.replaceAll('\r\n', '\n').replace(SGR, '')).not.toMatch(FORBIDDEN);
}

const keep = closeAfterAll();
let dir: string;
let httpUrl: string;
let httpsUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bulwark-hostile-cli-'));
  const exchange = fakeExchange({ build: '15.1.2176.2', vulnerable: true });
  // An Exchange look-alike whose every free-text header carries C1 controls (Node sends header text as latin1,
  // so U+0080-U+009F go out as raw bytes: a real server can send them and the HTTP parser accepts them).
  const hostile = (req: Parameters<typeof exchange>[0], rsp: Parameters<typeof exchange>[1]) => {
    rsp.setHeader('X-FEServer', `EXCH\u009b2J\u0085`);
    rsp.setHeader('Server', `IIS\u009d0;pwned\u009c`);
    const end = rsp.end.bind(rsp);
    rsp.end = ((...args: Parameters<typeof rsp.end>) => {
      if (rsp.getHeader('Location')) rsp.setHeader('Location', `/owa/auth/logon.aspx?\u009b8m`);
      if (rsp.getHeader('X-CalculatedBETarget')) rsp.setHeader('X-CalculatedBETarget', `localhost\u009b2J`);
      if (rsp.getHeader('X-OWA-Version') && (req.url ?? '').startsWith('/owa/auth/logon'))
        rsp.setHeader('X-OWA-Version', `15.1.2176.2\u0090`);
      return end(...args);
    }) as typeof rsp.end;
    exchange(req, rsp);
  };
  const plain = keep(await startHttp(hostile));
  const cert = await makeCert({ cn: `exch${OSC_TITLE}${C1_CSI}${BIDI}.test` });
  const tls = keep(await startHttps(cert, hostile));
  // The query is kept in the target as given (what the results call the target); the scan uses scheme and port.
  httpUrl = `http://127.0.0.1:${plain.port}/?${OSC_TITLE}${CSI_HIDE}${C1_CSI}${BIDI}`;
  httpsUrl = `https://127.0.0.1:${tls.port}/?=HYPERLINK("http://x")${BIDI}`;
  writeFileSync(join(dir, 'targets.txt'), `${httpUrl}\n${httpsUrl}\n`);
}, 30_000);

const scan = (...extra: string[]) =>
  cli(['scan', '--targets', join(dir, 'targets.txt'), '--timeout', '5000', '--retries', '0', ...extra]);

describe('bulwark scan with a hostile server and a hostile targets file', () => {
  it('--json keeps the exact values, escaped (C1 and bidi as \\u) so no raw control reaches the terminal', async () => {
    const r = await scan('--json');
    expect(r.code, r.stderr).toBe(1);
    expectClean(r.stdout);
    expectClean(r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as HostResult);
    const hosts = lines.slice(0, -1);
    expect(hosts.map((h) => h.target).sort()).toEqual([httpUrl, httpsUrl].sort());
    // The hostile bytes did reach the scanner (the test is about their display).
    const all = JSON.stringify(hosts);
    expect(all).toContain('\u009b2J');
    expect(hosts.some((h) => h.tls?.subject.CN?.includes(OSC_TITLE))).toBe(true);
    expect(r.stdout).toContain('\\u009b');
  });

  it('text output shows every hostile string visibly, with and without colour', async () => {
    for (const color of [false, true]) {
      const r = await cli(
        ['scan', '--targets', join(dir, 'targets.txt'), '--timeout', '5000', '--retries', '0'],
        color,
      );
      expect(r.code, r.stderr).toBe(1);
      expectClean(r.stdout);
      expectClean(r.stderr);
      expect(r.stdout).toContain('\\x1b]0;pwned\\x07\\x1b[8m\\x9b2J\\u202e');
    }
  });

  it('--csv quotes every cell and neutralises formulas; a strict reader gets the neutralised values', async () => {
    const r = await scan('--csv');
    expect(r.code, r.stderr).toBe(1);
    expectClean(r.stdout);
    const rows = parseCsvStrict(r.stdout);
    const header = rows[0]!;
    const targets = rows.slice(1).map((row) => row[header.indexOf('target')]);
    expect(targets.sort()).toEqual([neutraliseCell(httpUrl), neutraliseCell(httpsUrl)].sort());
    // Every cell quoted, the header's too.
    for (const line of r.stdout.split('\r\n').filter(Boolean))
      expect(line).toMatch(/^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$/);
  });

  it('a hostile line of the targets file is named in the error without its control characters', async () => {
    const file = join(dir, 'bad-targets.txt');
    writeFileSync(file, `exch${OSC_TITLE}${BIDI}.test\n127.0.0.1:80${C1_CSI}\n`);
    const r = await cli(['scan', '--targets', file]);
    expect(r.code).toBe(2);
    expectClean(r.stderr);
    // Both mistakes, one per line: the message keeps its line breaks.
    expect(r.stderr.trim().split('\n').length).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toContain('\\u202e.test: not a valid host name');
    expect(r.stderr).toContain('port "80\\x9b2J" is not a number');
  });
});

/** An OSV record of a Go module (a product with no catalog), its text fields hostile. */
function hostileOsv(title: string): string {
  return JSON.stringify({
    schema_version: '1.6.0',
    id: 'GO-2099-0001',
    modified: '2099-01-02T03:04:05Z',
    published: '2099-01-01T00:00:00Z',
    aliases: ['CVE-2099-0001'],
    summary: title,
    details: `Details ${CSI_HIDE}${C1_CSI}`,
    affected: [
      {
        package: { ecosystem: 'Go', name: `example.com/evil${BIDI}` },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.2.0' }] }],
      },
    ],
    references: [{ type: 'WEB', url: `https://example.com/${BIDI}` }],
  });
}

describe('bulwark advisories and check with an imported feed whose text is hostile', () => {
  const title = `Evil${OSC_TITLE} title${CSI_HIDE}${C1_CSI}${BIDI}\u2028end`;
  let dataDir: string;
  let facts: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bulwark-hostile-data-'));
    const feed = join(dataDir, `feed.json`);
    writeFileSync(feed, hostileOsv(title));
    const r = await cli(['--data-dir', dataDir, 'advisories', 'import', feed]);
    expect(r.code, r.stderr).toBe(0);
    expectClean(r.stdout);
    expectClean(r.stderr);
    facts = join(dataDir, 'facts.json');
    writeFileSync(
      facts,
      JSON.stringify([
        {
          id: `srv${OSC_TITLE}`,
          products: [{ product: `pkg:golang/example.com/evil${BIDI}`, version: '1.1.0' }],
        },
      ]),
    );
  });

  it('list, show and check print the title visibly, never its control characters', async () => {
    for (const color of [false, true]) {
      const list = await cli(['--data-dir', dataDir, 'advisories', 'list'], color);
      expect(list.code).toBe(0);
      expectClean(list.stdout);
      expect(list.stdout).toContain('Evil\\x1b]0;pwned\\x07 title');
      const id = /^\S*go-2099-0001\S*/m.exec(list.stdout.replace(SGR, ''))![0];
      const show = await cli(['--data-dir', dataDir, 'advisories', 'show', id], color);
      expect(show.code, show.stderr).toBe(0);
      expectClean(show.stdout);
      // The importer makes the summary one line (U+2028 becomes a space); the rest is shown as written.
      expect(show.stdout).toContain('title\\x1b[8m\\x9b2J\\u202e end');
      const check = await cli(['--data-dir', dataDir, 'check', '--facts', facts], color);
      expect(check.code, check.stderr).toBe(1);
      expectClean(check.stdout);
      expect(check.stdout).toContain('srv\\x1b]0;pwned\\x07');
    }
  });

  it('--json keeps the exact title, with C1, separators and bidi \\u-escaped', async () => {
    const list = await cli(['--data-dir', dataDir, 'advisories', 'list', '--json']);
    expectClean(list.stdout);
    const rows = (JSON.parse(list.stdout) as { advisories: { id: string; title: string }[] }).advisories;
    expect(rows.find((a) => a.id.includes('go-2099-0001'))?.title).toBe(title.replace('\u2028', ' '));
  });

  // BULWARK_PROPERTY_RUNS=N: N cases without the time limit (long local runs); otherwise bounded for CI.
  const long = process.env.BULWARK_PROPERTY_RUNS;
  it(
    'advisories show, for any title (property)',
    async () => {
      const bounds = long ? { numRuns: Number(long) } : { numRuns: 25, interruptAfterTimeLimit: 20_000 };
      const text = fc.string({
        unit: fc.oneof(
          fc.constantFrom('\x1b', '\x07', '\x9b', '\x00', '\r', '\t', '\x7f', '\u202e', '\u2028', '\u2066'),
          fc.constantFrom('a', ' ', '[', ']', ';', '=', '"'),
          fc.string({ unit: 'binary', maxLength: 1 }),
        ),
        minLength: 1,
        maxLength: 24,
      });
      await fc.assert(
        fc.asyncProperty(text, async (t) => {
          const d = mkdtempSync(join(tmpdir(), 'bulwark-hostile-prop-'));
          const feed = join(d, 'feed.json');
          writeFileSync(feed, hostileOsv(`x${t}`));
          const imported = await cli(['--data-dir', d, 'advisories', 'import', feed]);
          if (imported.code !== 0) return; // a title the importer refuses prints nothing of it to judge
          expectClean(imported.stdout);
          expectClean(imported.stderr);
          const list = await cli(['--data-dir', d, 'advisories', 'list'], true);
          expectClean(list.stdout);
          const id = /^\S*go-2099-0001\S*/m.exec(list.stdout.replace(SGR, ''))![0];
          const show = await cli(['--data-dir', d, 'advisories', 'show', id], true);
          rmSync(d, { recursive: true, force: true });
          expectClean(show.stdout);
        }),
        bounds,
      );
    },
    (long ? Number(long) : 25) * 2_000 + 30_000,
  );
});
