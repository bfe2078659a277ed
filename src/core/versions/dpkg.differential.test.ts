/**
 * Differential test against the real dpkg: every generated pair must get the same answer from
 * `dpkg --compare-versions` as from our order, and our parser must accept exactly what dpkg accepts.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareDpkgVersions, type DpkgVersion, parseDpkgVersion } from './dpkg.js';
import { DPKG_VECTORS, dpkgDifferentialPair, FC_SEED, seedNote, toolGate } from './versions.testkit.js';

type Relation = 'lt' | 'eq' | 'gt';

interface Check {
  readonly a: string;
  readonly relation: Relation;
  readonly b: string;
}

const GENERATED_PAIRS = 10_000;
const ACCEPTANCE_SAMPLES = 3_000;
/** dpkg compares one pair per process; a few processes in parallel use the cores without thrashing. */
const WORKERS = Math.max(1, Math.min(4, availableParallelism()));

const gate = toolGate('dpkg', 'install the dpkg package (apt-get install dpkg)');

/**
 * Runs `dpkg --compare-versions a relation b` for each check inside one shell per worker (spawning dpkg
 * from a shell loop costs about a millisecond; from Node it costs several) and returns the exit codes:
 * 0 = relation holds, 1 = it does not, 2 = dpkg rejected a version.
 */
async function dpkgExitCodes(dpkg: string, checks: readonly Check[]): Promise<number[]> {
  const size = Math.ceil(checks.length / WORKERS);
  const chunks = Array.from({ length: WORKERS }, (_, k) => checks.slice(k * size, (k + 1) * size));
  const results = await Promise.all(chunks.map((chunk) => runShellLoop(dpkg, chunk)));
  return results.flat();
}

function runShellLoop(dpkg: string, checks: readonly Check[]): Promise<number[]> {
  if (checks.length === 0) return Promise.resolve([]);
  const loop = 'while read -r a op b; do "$0" --compare-versions "$a" "$op" "$b" 2>/dev/null; echo $?; done';
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', loop, dpkg], { stdio: ['pipe', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      output += text;
    });
    child.on('error', reject);
    child.on('close', () => {
      const codes = output.split('\n').filter(Boolean).map(Number);
      if (codes.length !== checks.length)
        reject(new Error(`dpkg loop answered ${codes.length}/${checks.length}`));
      else resolve(codes);
    });
    child.stdin.end(checks.map(({ a, relation, b }) => `${a} ${relation} ${b}\n`).join(''));
  });
}

function parsed(text: string): DpkgVersion {
  const result = parseDpkgVersion(text);
  if (!result.ok) throw new Error(`test input does not parse: ${result.error}`);
  return result.value;
}

function ourRelation(a: string, b: string): Relation {
  const order = compareDpkgVersions(parsed(a), parsed(b));
  return order < 0 ? 'lt' : order > 0 ? 'gt' : 'eq';
}

/** What dpkg itself says, for failure messages only. */
async function dpkgRelation(dpkg: string, a: string, b: string): Promise<string> {
  const relations: Relation[] = ['lt', 'eq', 'gt'];
  const codes = await dpkgExitCodes(
    dpkg,
    relations.map((relation) => ({ a, relation, b })),
  );
  if (codes.includes(2)) return 'an error';
  return relations[codes.indexOf(0)] ?? 'nothing consistent';
}

/** Checks that dpkg agrees with our relation for every pair; one dpkg call per pair suffices to confirm. */
async function expectDpkgAgrees(
  dpkg: string,
  pairs: ReadonlyArray<readonly [string, string]>,
): Promise<void> {
  const checks = pairs.map(([a, b]) => ({ a, relation: ourRelation(a, b), b }));
  const codes = await dpkgExitCodes(dpkg, checks);
  const disagreements = checks.filter((_, k) => codes[k] !== 0);
  const shown = await Promise.all(
    disagreements
      .slice(0, 15)
      .map(
        async ({ a, relation, b }) =>
          `  ${a}  ${b}: ours ${relation}, dpkg ${await dpkgRelation(dpkg, a, b)}`,
      ),
  );
  expect(
    disagreements.length,
    `${disagreements.length} of ${checks.length} pairs disagree with dpkg (${seedNote()}):\n${shown.join('\n')}`,
  ).toBe(0);
}

describe.skipIf(gate.skip)('dpkg differential (real dpkg)', () => {
  const dpkg = gate.path ?? 'dpkg';

  it('agrees on the known-answer vectors', async () => {
    await expectDpkgAgrees(
      dpkg,
      DPKG_VECTORS.map(([a, b]) => [a, b] as const),
    );
  });

  it(`agrees on ${GENERATED_PAIRS} generated pairs`, async () => {
    const pairs = fc.sample(dpkgDifferentialPair, { seed: FC_SEED, numRuns: GENERATED_PAIRS });
    await expectDpkgAgrees(dpkg, pairs);
  }, 60_000);

  it(`accepts exactly what dpkg accepts (${ACCEPTANCE_SAMPLES} samples)`, async () => {
    // Leading + or - excluded: dpkg would read them as options, or strtol would take them as a sign.
    const candidate = fc
      .string({ unit: fc.constantFrom(...'0123456789:-.~+aZ_'), minLength: 1, maxLength: 10 })
      .filter((text) => !/^[-+]/.test(text));
    const texts = fc.sample(candidate, { seed: FC_SEED, numRuns: ACCEPTANCE_SAMPLES });
    const codes = await dpkgExitCodes(
      dpkg,
      texts.map((text) => ({ a: text, relation: 'eq', b: text })),
    );
    const differing = texts.filter((text, k) => parseDpkgVersion(text).ok !== (codes[k] !== 2));
    const shown = differing
      .slice(0, 15)
      .map(
        (text) => `  ${text}: ours ${parseDpkgVersion(text).ok ? 'accepts' : 'rejects'}, dpkg the opposite`,
      );
    expect(
      differing.length,
      `${differing.length} acceptance differences (${seedNote()}):\n${shown.join('\n')}`,
    ).toBe(0);
  }, 60_000);
});
