/**
 * Differential test against the real rpm: `rpm.vercmp` in rpm's embedded Lua (rpm 4.18 parses both sides as
 * [epoch:]version[-release] and compares them with rpmverCmp) must give our answer for every pair. All pairs
 * go through one rpm process: the Lua reads them from a file and writes one answer per line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareRpmVersions, parseRpmVersion, type RpmVersion, rpmvercmp } from './rpm.js';
import {
  FC_SEED,
  RPM_VECTORS,
  rpmDifferentialPair,
  rpmSegmentPair,
  seedNote,
  toolGate,
} from './versions.testkit.js';

const GENERATED_PAIRS = 10_000;
const SEGMENT_PAIRS = 5_000;

const gate = toolGate('rpm', 'install the rpm package (apt-get install rpm)');

/** pcall keeps one rejected version from ending the run; it is reported as "error" on its line. */
const COMPARE_ALL_LUA = `
local answers = {}
for line in io.lines(os.getenv('BULWARK_RPM_PAIRS')) do
  local a, b = line:match('^([^\\t]*)\\t(.*)$')
  local ok, order = pcall(rpm.vercmp, a, b)
  answers[#answers + 1] = ok and tostring(order) or 'error'
end
local out = assert(io.open(os.getenv('BULWARK_RPM_ANSWERS'), 'w'))
out:write(table.concat(answers, '\\n'), '\\n')
out:close()
`;

function rpmVercmpAll(rpm: string, pairs: ReadonlyArray<readonly [string, string]>): string[] {
  for (const [a, b] of pairs) {
    if (/[\t\n\r]/.test(a + b))
      throw new Error(`pair cannot be written one per line: ${JSON.stringify([a, b])}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-rpm-'));
  try {
    const files = {
      lua: join(dir, 'compare.lua'),
      pairs: join(dir, 'pairs.tsv'),
      answers: join(dir, 'answers'),
    };
    writeFileSync(files.lua, COMPARE_ALL_LUA);
    writeFileSync(files.pairs, pairs.map(([a, b]) => `${a}\t${b}\n`).join(''));
    const run = spawnSync(rpm, ['--eval', '%{lua: dofile(os.getenv("BULWARK_RPM_LUA"))}'], {
      env: {
        ...process.env,
        BULWARK_RPM_LUA: files.lua,
        BULWARK_RPM_PAIRS: files.pairs,
        BULWARK_RPM_ANSWERS: files.answers,
      },
      encoding: 'utf8',
      timeout: 50_000,
    });
    if (run.status !== 0) throw new Error(`rpm --eval failed (${run.status}): ${run.stderr}`);
    const answers = readFileSync(files.answers, 'utf8').split('\n').slice(0, -1);
    if (answers.length !== pairs.length)
      throw new Error(`rpm answered ${answers.length}/${pairs.length} pairs`);
    return answers;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parsed(text: string): RpmVersion {
  const result = parseRpmVersion(text);
  if (!result.ok) throw new Error(`test input does not parse: ${result.error}`);
  return result.value;
}

function expectRpmAgrees(
  rpm: string,
  pairs: ReadonlyArray<readonly [string, string]>,
  ours: (a: string, b: string) => number,
): void {
  const answers = rpmVercmpAll(rpm, pairs);
  const disagreements = pairs
    .map(([a, b], k) => ({ a, b, ours: Math.sign(ours(a, b)), rpm: answers[k] }))
    .filter((row) => String(row.ours) !== row.rpm);
  const shown = disagreements
    .slice(0, 15)
    .map((row) => `  ${JSON.stringify(row.a)} vs ${JSON.stringify(row.b)}: ours ${row.ours}, rpm ${row.rpm}`);
  const version = spawnSync(rpm, ['--version'], { encoding: 'utf8' }).stdout.trim();
  expect(
    disagreements.length,
    `${disagreements.length} of ${pairs.length} pairs disagree with ${version} (${seedNote()}):\n${shown.join('\n')}`,
  ).toBe(0);
}

const compareEvr = (a: string, b: string) => compareRpmVersions(parsed(a), parsed(b));

describe.skipIf(gate.skip)('rpm differential (real rpm)', () => {
  const rpm = gate.path ?? 'rpm';

  it('agrees on the known-answer vectors', () => {
    expectRpmAgrees(
      rpm,
      RPM_VECTORS.map(([a, b]) => [a, b] as const),
      compareEvr,
    );
  });

  it(`agrees on ${GENERATED_PAIRS} generated [epoch:]version[-release] pairs`, () => {
    const pairs = fc.sample(rpmDifferentialPair, { seed: FC_SEED, numRuns: GENERATED_PAIRS });
    expectRpmAgrees(rpm, pairs, compareEvr);
  }, 60_000);

  // Without "-" or a digits-then-":" prefix, rpm.vercmp reduces to rpmvercmp on the whole text, so this
  // exercises the segment comparison on raw text, including characters our parser would refuse.
  it(`rpmvercmp agrees on ${SEGMENT_PAIRS} raw text pairs`, () => {
    const pairs = fc.sample(rpmSegmentPair, { seed: FC_SEED, numRuns: SEGMENT_PAIRS });
    expectRpmAgrees(rpm, pairs, rpmvercmp);
  }, 60_000);
});
