/**
 * Hostile text in reports (issue 10, reproduction 6): control characters from file names and log fields never
 * reach a terminal, every CSV cell is quoted and neutralised, the HTML page escapes everything, and JSON keeps the
 * exact values. Reproduction 6 runs through the CLI in-process; the properties replace every string of a real
 * hunt result with arbitrary text.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { styleText } from 'node:util';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { FORBIDDEN, parseCsvStrict, SGR } from '../../../test/support/hostile-text.js';
import { loadKnowledgeBase } from '../../advisories/index.js';
import { main } from '../../cli/main.js';
import { neutraliseCell } from '../../core/index.js';
import { huntConfig } from '../config.js';
import { hunt } from '../hunt.js';
import type { HuntResult } from './model.js';
import { renderCsv, renderHtml, renderText } from './render.js';

const kb = loadKnowledgeBase();
const proxylogon = kb.advisories.find((a) => a.id === 'proxylogon-2021-03')!;

const IIS_HEADER =
  '#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n';
const OSC_TITLE = '\x1b]0;TITLE\x07';
const CSI_HIDE = '\x1b[8m';
/** Reproduction 6: the file name sets the terminal title, the client address hides what follows. */
const HOSTILE_NAME = `u_ex210303${OSC_TITLE}.log`;
const HOSTILE_IP = `1.2.3.4${CSI_HIDE}`;

function capture(color = false) {
  const io = {
    outText: '',
    errText: '',
    out(t: string) {
      io.outText += t;
    },
    err(t: string) {
      io.errText += t;
    },
    color,
    env: {} as NodeJS.ProcessEnv,
    cwd: process.cwd(),
  };
  return io;
}

let dir: string;
let result: HuntResult;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bulwark-hostile-'));
  const logs = join(dir, 'EXCH01', 'inetpub', 'logs', 'LogFiles', 'W3SVC1');
  mkdirSync(logs, { recursive: true });
  writeFileSync(
    join(logs, HOSTILE_NAME),
    `${IIS_HEADER}2021-03-03 01:02:03 10.0.0.1 GET /owa/auth/x.js - 443 - ${HOSTILE_IP} x;=HYPERLINK(1) - 404 0 0 1\n` +
      `2021-03-03 01:02:04 10.0.0.1 GET /owa/auth/evil.aspx cmd=\u202etxt.exe 443 - 203.0.113.9 @SUM(1)\u009b31m - 200 0 0 1\n`,
  );
  writeFileSync(join(dir, `notes${CSI_HIDE}.txt`), 'not a log\n');
  const config = huntConfig({
    advisories: [{ advisory: proxylogon, file: kb.fileOf.get(proxylogon.id)! }],
    sigmaPaths: [],
    iocFiles: [],
    strict: false,
  });
  result = await hunt({ paths: [dir], rules: config.rules, assess: config.assess, workers: 1 });
});

describe('reproduction 6: hostile file names and log fields', () => {
  it('the hunt finds the hostile records (the test is about their display, not their detection)', () => {
    expect(result.findings.some((f) => f.file.includes(OSC_TITLE) && f.client === HOSTILE_IP)).toBe(true);
    expect(result.skipped.some((s) => s.file.includes(CSI_HIDE))).toBe(true);
  });

  it('no raw escape sequence reaches the terminal, with and without --no-color', async () => {
    for (const args of [['--no-color'], []]) {
      const io = capture(args.length === 0);
      const code = await main(['hunt', dir, ...args], io);
      expect(code).toBe(1);
      expect(io.outText.replace(SGR, '')).not.toMatch(FORBIDDEN);
      expect(io.errText.replace(SGR, '')).not.toMatch(FORBIDDEN);
      // Shown, visibly: the reader sees what the attacker wrote.
      expect(io.outText).toContain('u_ex210303\\x1b]0;TITLE\\x07.log');
      expect(io.outText).toContain('1.2.3.4\\x1b[8m');
    }
  });

  it('--csv quotes every cell and neutralises formulas; a strict CSV reader gets the values back', async () => {
    const io = capture();
    expect(await main(['hunt', dir, '--csv'], io)).toBe(1);
    expect(io.outText.replaceAll('\r\n', '\n')).not.toMatch(FORBIDDEN);
    const rows = parseCsvStrict(io.outText);
    expect(
      io.outText
        .split('\r\n')
        .filter(Boolean)
        .every((line) => /^".*"$/.test(line)),
    ).toBe(true);
    const header = rows[0]!;
    const probe = rows.find((r) => r[header.indexOf('raw')]!.includes('x;=HYPERLINK(1)'))!;
    expect(probe).toBeDefined();
    expect(probe[header.indexOf('client')]).toBe('1.2.3.4\\x1b[8m');
    expect(probe[header.indexOf('file')]).toContain('u_ex210303\\x1b]0;TITLE\\x07.log');
  });

  it('--json keeps the exact values (escaped only as JSON escapes) and prints no raw C1 or bidi character', async () => {
    const io = capture();
    expect(await main(['hunt', dir, '--json'], io)).toBe(1);
    expect(io.outText).not.toMatch(FORBIDDEN);
    const parsed = JSON.parse(io.outText) as HuntResult;
    expect(parsed.findings.map((f) => [f.file, f.client, f.raw])).toEqual(
      result.findings.map((f) => [f.file, f.client, f.raw]),
    );
    expect(parsed.findings.some((f) => f.raw.includes('\u009b31m') && f.raw.includes('\u202e'))).toBe(true);
  });

  it('paths are shown relative to what was given', () => {
    for (const f of result.findings) expect(f.file.startsWith(`${dir.split('/').pop()}/EXCH01/`)).toBe(true);
    expect(JSON.stringify(result)).not.toContain(dir);
  });
});

/** Fields whose values are enumerations the renderers look up (not free text). */
const ENUM_KEYS = new Set(['verdict', 'stage', 'worst', 'severity', 'type', 'mode']);

/** Every free-text string of `value`, replaced in order by `next()`. */
function mapStrings(value: unknown, next: (s: string) => string, key = ''): unknown {
  if (typeof value === 'string') return ENUM_KEYS.has(key) ? value : next(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, next, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, next, k)]));
  }
  return value;
}

function countStrings(value: unknown): number {
  let n = 0;
  mapStrings(value, (s) => {
    n++;
    return s;
  });
  return n;
}

const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\x1b', '\x07', '\x9b', '\x00', '\r', '\n', '\t', '\x7f', '\u202e', '\u2028', '\u2066'),
    fc.constantFrom('=', '+', '-', '@', '"', ',', "'", '<', '>', '&', ';', ' ', '[', ']', 'a', '1'),
    fc.constantFrom('<script>', '</td>', '"><img src=x>', '&amp;', '\x1b]8;;http://x\x07', '\x1b[2J'),
    fc.string({ unit: 'binary', maxLength: 1 }),
  ),
  maxLength: 24,
});

/** The tag sequence of a page: hostile text must not add, remove or change a tag. */
function tags(html: string): string[] {
  return [...html.matchAll(/<\/?[a-zA-Z][^>]*>/g)].map((m) => m[0].replace(/"[^"]*"/g, '""'));
}

describe('any string in any field (property)', () => {
  // BULWARK_PROPERTY_RUNS=N: N cases without the time limit (long local runs); otherwise bounded for CI.
  const long = process.env.BULWARK_PROPERTY_RUNS;
  const bounds = long ? { numRuns: Number(long) } : { numRuns: 150, interruptAfterTimeLimit: 20_000 };
  const texts = () =>
    fc.array(hostileText, { minLength: countStrings(result), maxLength: countStrings(result) });
  const substitute = (values: string[]) => {
    let i = 0;
    return mapStrings(result, () => values[i++]!) as HuntResult;
  };

  it('terminal output has no control character but LF (and, with colour, only the colour codes)', () => {
    fc.assert(
      fc.property(texts(), (values) => {
        const r = substitute(values);
        expect(renderText(r, (_s, t) => t)).not.toMatch(FORBIDDEN);
        expect(renderText(r, (s, t) => styleText(s, t)).replace(SGR, '')).not.toMatch(FORBIDDEN);
      }),
      bounds,
    );
  });

  it('every CSV cell round-trips through a strict reader to the neutralised value', () => {
    fc.assert(
      fc.property(texts(), (values) => {
        const r = substitute(values);
        const csv = renderCsv(r);
        expect(csv.replaceAll('\r\n', '\n')).not.toMatch(FORBIDDEN);
        const rows = parseCsvStrict(csv);
        expect(rows.length).toBe(r.findings.length + 1);
        const verdictOf = new Map(r.hosts.map((h) => [h.host, h.verdict]));
        r.findings.forEach((f, i) => {
          const row = rows[i + 1]!;
          expect(row.length).toBe(14);
          expect(row[0]).toBe(neutraliseCell(f.host));
          expect(row[1]).toBe(neutraliseCell(verdictOf.get(f.host) ?? ''));
          expect(row[7]).toBe(neutraliseCell(f.title));
          expect(row[9]).toBe(neutraliseCell(f.file));
          expect(row[11]).toBe(neutraliseCell(f.client ?? ''));
          expect(row[13]).toBe(neutraliseCell(f.raw));
          for (const cell of row) {
            expect(cell).not.toMatch(/^[=+\-@\t\r]|^ +[=+\-@]/);
          }
        });
      }),
      bounds,
    );
  });

  it('the HTML page keeps its tags whatever the text, and shows no control character', () => {
    const skeleton = (r: HuntResult) =>
      tags(renderHtml(mapStrings(r, (s) => (s ? 'x' : '')) as HuntResult, { title: 't', generated: 'g' }));
    fc.assert(
      fc.property(texts(), (values) => {
        const r = substitute(values);
        const html = renderHtml(r, { title: values[0] ?? '', generated: values[1] ?? '' });
        expect(html).not.toMatch(FORBIDDEN);
        expect(tags(html)).toEqual(skeleton(r));
      }),
      bounds,
    );
  });
});
