/**
 * The path and URL-decoding transformations against the real libmodsecurity (nginx + ModSecurity v3 on 127.0.0.1):
 * for fast-check inputs, ModSecurity applies the transformation to a query argument and compares it with Bulwark's
 * output, sent in another argument (`!@streq %{ARGS_GET.x}`); every byte is percent-encoded so that the arguments
 * carry exact bytes. Each transformation has its own deny status, so a difference names the transformation.
 *
 * Covered: normalizePath, normalizePathWin (the Windows path transformation SecLang has; `t:cmdLine` is for
 * command lines, not paths, and is not part of the engine), urlDecode, urlDecodeUni, lowercase, removeNulls.
 * Runs: BULWARK_ORACLE_RUNS (default 150 per property; a long local run is reported in docs/shield.md).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findModsecNginx, type ModsecNginx, startModsecNginx } from '../../lab/modsec/index.js';
import { TRANSFORMS } from './transforms.js';

const found = findModsecNginx();
const missing = 'missing' in found ? found.missing : undefined;

if (missing && process.env.CI) {
  it('the ModSecurity oracle is available in CI', () => {
    throw new Error(`CI is set but ${missing}`);
  });
}
const RUNS = Number(process.env.BULWARK_ORACLE_RUNS ?? 150);
/** Time bound per property (a long local run raises it with BULWARK_ORACLE_TIME_MS). */
const TIME_MS = Number(process.env.BULWARK_ORACLE_TIME_MS ?? 30_000);

type Name = 'normalizePath' | 'normalizePathWin' | 'urlDecode' | 'urlDecodeUni' | 'lowercase' | 'removeNulls';
/** Argument name and deny status per transformation. */
const CHECKED: Record<Name, [arg: string, status: number]> = {
  normalizePath: ['np', 451],
  normalizePathWin: ['npw', 452],
  urlDecode: ['ud', 453],
  urlDecodeUni: ['udu', 454],
  lowercase: ['lc', 455],
  removeNulls: ['rn', 456],
};

function rulesText(): string {
  return Object.entries(CHECKED)
    .map(
      ([t, [arg, status]], i) =>
        `SecRule ARGS_GET:in "!@streq %{ARGS_GET.${arg}}" "id:${9100 + i},phase:1,deny,status:${status},t:none,t:${t},log"`,
    )
    .join('\n');
}

const pct = (s: string) =>
  [...Buffer.from(s, 'latin1')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

const NAMES = Object.keys(CHECKED) as Name[];

/** The request asking ModSecurity to check every transformation on `input` (each rule needs its argument). */
function request(input: string): Buffer {
  const args = [`in=${pct(input)}`, ...NAMES.map((n) => `${CHECKED[n][0]}=${pct(TRANSFORMS[n](input))}`)];
  return Buffer.from(`GET /t?${args.join('&')} HTTP/1.1\r\nHost: oracle\r\n\r\n`, 'latin1');
}

const bytes = (parts: string[], maxLength = 16) =>
  fc.array(fc.constantFrom(...parts), { maxLength }).map((a) => a.join(''));
/** Path-like byte strings: separators, dots, letters, spaces, the odd escape and colon. */
const pathish = bytes(['/', '/', '\\', '.', '.', '..', 'a', 'b', 'C', ' ', ':', '~1', '%2e']);
/** Escape-like byte strings: `%`, `%u`, hex digits in both cases, full-width forms, `+`, junk. */
const escapish = bytes(
  [
    '%',
    '%u',
    '%U',
    '0',
    '4',
    '1',
    'f',
    'F',
    'e',
    'c',
    '5',
    '2',
    'ff',
    'FF0',
    'g',
    '+',
    'a',
    'Z',
    '\xe9',
    '\x00',
  ],
  20,
);

describe.skipIf(Boolean(missing))(
  `transformations vs libmodsecurity${missing ? ` — skipped: ${missing}` : ''}`,
  () => {
    let oracle: ModsecNginx;
    beforeAll(async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'bulwark-transforms-')), 'transforms.conf');
      writeFileSync(file, `${rulesText()}\n`);
      oracle = await startModsecNginx({ rulesFiles: [file], timeoutMs: 3000 });
    }, 30_000);
    afterAll(async () => {
      await oracle?.close();
    });

    let cases = 0;
    afterAll(() => {
      console.log(`transformations vs libmodsecurity: ${cases} inputs compared`);
    });

    async function check(input: string): Promise<void> {
      cases++;
      const e = await oracle.exchange(request(input));
      const failed = NAMES.find((n) => e.statuses.includes(CHECKED[n][1]));
      const detail = failed
        ? `${failed}(${JSON.stringify(input)}) = ${JSON.stringify(TRANSFORMS[failed](input))}`
        : '';
      expect(e.statuses, detail || JSON.stringify(input)).toEqual([200]);
    }

    it('the harness notices a difference (a wrong expected value is denied with its status)', async () => {
      const good = request('/a/../b').toString('latin1');
      const raw = Buffer.from(good.replace(/&np=[^&]*/, `&np=${pct('/a/b')}`), 'latin1');
      expect((await oracle.exchange(raw)).statuses).toEqual([451]);
    });

    it.each([
      '/a//b/./c/../d/',
      '\\a\\..\\b',
      '/..',
      '/../a',
      '../a',
      'a/..',
      './',
      '/x/a../b',
      '/ecp/DDI/DDIService.svc../SetObject',
      '/ecp/DDI/DDIService.svc./SetObject',
      'a\\\\b\\',
      '',
    ])('every transformation of %j', async (input) => {
      await check(input);
    });

    it(
      'property: every transformation on path-like bytes',
      async () => {
        await fc.assert(
          fc.asyncProperty(pathish, (s) => check(s)),
          { numRuns: RUNS, interruptAfterTimeLimit: TIME_MS, seed: 42 },
        );
      },
      TIME_MS * 2,
    );

    it(
      'property: every transformation on escape-like bytes',
      async () => {
        await fc.assert(
          fc.asyncProperty(escapish, (s) => check(s)),
          { numRuns: RUNS, interruptAfterTimeLimit: TIME_MS, seed: 43 },
        );
      },
      TIME_MS * 2,
    );
  },
);
