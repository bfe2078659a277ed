/**
 * Test-only helpers shared by the version tests: the order laws, generators of tricky versions, and the
 * gate for differential tests that need dpkg or rpm. Nothing outside *.test.ts imports this file.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { VersionScheme } from './scheme.js';

/** Fixed so failures reproduce; override with BULWARK_FC_SEED to explore. */
export const FC_SEED = readSeed(process.env.BULWARK_FC_SEED);

function readSeed(text: string | undefined): number {
  if (text === undefined || text === '') return 20210302;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`BULWARK_FC_SEED must be a whole number, not ${text}`);
  return seed;
}

export function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: FC_SEED, numRuns };
}

export function seedNote(): string {
  return `fast-check seed ${FC_SEED} (rerun with BULWARK_FC_SEED=${FC_SEED})`;
}

// ---------------------------------------------------------------------------------------------------------
// Order laws

export interface OrderLawGenerators {
  /** Versions that share prefixes often, so comparisons go deep and ties happen. */
  readonly related: fc.Arbitrary<readonly [string, string, string]>;
  /** Pairs written differently that the scheme must treat as equal. */
  readonly equalPairs: fc.Arbitrary<readonly [string, string]>;
}

function mustParse<P>(scheme: VersionScheme<P>, text: string): P {
  const parsed = scheme.parse(text);
  if (!parsed.ok) throw new Error(`generator produced an unparseable ${scheme.id} version: ${parsed.error}`);
  return parsed.value;
}

function signOf(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/** Registers the laws of a total preorder (reflexive, antisymmetric, transitive) and substitutability. */
export function itObeysOrderLaws<P>(
  scheme: VersionScheme<P>,
  gens: OrderLawGenerators,
  numRuns = 3000,
): void {
  const cmp = (a: string, b: string) =>
    signOf(scheme.compareParsed(mustParse(scheme, a), mustParse(scheme, b)));

  it('is reflexive: every version equals itself', () => {
    fc.assert(
      fc.property(gens.related, ([a]) => cmp(a, a) === 0),
      runs(numRuns),
    );
  });

  it('is antisymmetric: swapping the sides flips the sign', () => {
    fc.assert(
      fc.property(gens.related, ([a, b]) => cmp(a, b) === -cmp(b, a)),
      runs(numRuns),
    );
  });

  it('is transitive over triples', () => {
    fc.assert(
      fc.property(gens.related, ([a, b, c]) => {
        const ab = cmp(a, b);
        const bc = cmp(b, c);
        if (ab <= 0 && bc <= 0) expect(cmp(a, c)).toBeLessThanOrEqual(0);
        if (ab >= 0 && bc >= 0) expect(cmp(a, c)).toBeGreaterThanOrEqual(0);
        if (ab === 0 && bc === 0) expect(cmp(a, c)).toBe(0);
      }),
      runs(numRuns),
    );
  });

  it('treats equal versions as interchangeable', () => {
    fc.assert(
      fc.property(gens.equalPairs, gens.related, ([a, b], [c, d]) => {
        expect(cmp(a, b)).toBe(0);
        expect(cmp(a, c)).toBe(cmp(b, c));
        expect(cmp(d, a)).toBe(cmp(d, b));
      }),
      runs(numRuns),
    );
  });

  it('keeps equal-comparing generated versions interchangeable', () => {
    fc.assert(
      fc.property(gens.related, ([a, b, c]) => {
        if (cmp(a, b) === 0) expect(cmp(a, c)).toBe(cmp(b, c));
      }),
      runs(numRuns),
    );
  });
}

// ---------------------------------------------------------------------------------------------------------
// Building blocks

/**
 * n values where slots often repeat one another (a picks which of n candidates each slot takes), so related
 * versions share epochs, prefixes or revisions far more often than independent draws would.
 */
export function relatedValues<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T[]> {
  const pick = fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat(n - 1) });
  return fc
    .tuple(fc.array(arb, { minLength: n, maxLength: n }), fc.array(pick, { minLength: n, maxLength: n }))
    .map(([values, picks]) => picks.map((p) => values[p] as T));
}

export function triple<T>(values: T[]): readonly [T, T, T] {
  return [values[0] as T, values[1] as T, values[2] as T];
}

const chars = (alphabet: string) => fc.constantFrom(...alphabet);

const digitRun: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('0', '1', '2', '3', '9', '10', '00', '01', '007', '20210302') },
  { weight: 3, arbitrary: fc.nat(99_999).map(String) },
  // Beyond 2^53: digit runs must compare exactly, not as doubles.
  { weight: 1, arbitrary: fc.string({ unit: chars('0123456789'), minLength: 16, maxLength: 24 }) },
);

const letterRun: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'a',
      'b',
      'z',
      'A',
      'Z',
      'rc',
      'beta',
      'dfsg',
      'ubuntu',
      'deb',
      'el',
      'git',
      'p',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: chars('abyzABYZ'), minLength: 1, maxLength: 3 }) },
);

function joined(parts: fc.Arbitrary<string>, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.array(parts, { minLength, maxLength }).map((list) => list.join(''));
}

/**
 * Versions as they read in the wild: runs of digits or letters, usually with a separator before each, and
 * now and then a bare separator (`1.0~`, `1.0.`).
 */
function segmentTail(separators: fc.Arbitrary<string>, maxSegments = 3): fc.Arbitrary<string> {
  const run = fc.oneof({ weight: 3, arbitrary: digitRun }, { weight: 2, arbitrary: letterRun });
  const separator = fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 4, arbitrary: separators });
  const separatedRun = fc.tuple(separator, run).map(([before, body]) => `${before}${body}`);
  return joined(
    fc.oneof({ weight: 6, arbitrary: separatedRun }, { weight: 1, arbitrary: separators }),
    0,
    maxSegments,
  );
}

/** Related middles then related ends, so versions agree for a while and differ late (deep comparisons). */
function deepTails(tail: fc.Arbitrary<string>, n: number): fc.Arbitrary<string[]> {
  return fc
    .tuple(relatedValues(tail, n), relatedValues(tail, n))
    .map(([middles, ends]) => middles.map((middle, k) => `${middle}${ends[k]}`));
}

/** Puts a zero in front of some digit runs: an equal version in every scheme that reads runs as numbers. */
export function padDigitRuns(text: string, mask: number): string {
  let run = 0;
  return text.replace(/[0-9]+/g, (digits) => ((mask >> (run++ % 30)) & 1 ? `0${digits}` : digits));
}

// ---------------------------------------------------------------------------------------------------------
// dpkg

const dpkgSeparator = fc.constantFrom('.', '.', '+', '~', '~', '~~', '.~', '+~', '~.');
/** Characters dpkg warns about but still compares. */
const dpkgOddity = fc.constantFrom(
  '_',
  '%',
  '!',
  '#',
  '@',
  '=',
  '/',
  '(',
  '[',
  '^',
  '*',
  ',',
  '\\',
  '"',
  "'",
  '<',
);

const dpkgEpoch: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom('0', '1', '2', '00', '01', '10') },
  { weight: 1, arbitrary: fc.nat(2_147_483_647).map(String) },
);

const realisticStart = fc.constantFrom(
  '1.0',
  '2.30',
  '7.68.0',
  '1.18.0',
  '5.10.0',
  '2.4.37',
  '3.0.2',
  '1.1.1k',
  '9.16',
);

const dpkgUpstreamStart: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: digitRun },
  { weight: 1, arbitrary: letterRun },
  { weight: 6, arbitrary: realisticStart },
);

const dpkgUpstreamTail = segmentTail(
  fc.oneof(
    { weight: 6, arbitrary: dpkgSeparator },
    { weight: 1, arbitrary: fc.constantFrom('-', ':') },
    { weight: 1, arbitrary: dpkgOddity },
  ),
);

const dpkgRevision: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  {
    weight: 5,
    arbitrary: joined(
      fc.oneof(
        { weight: 4, arbitrary: digitRun },
        { weight: 2, arbitrary: letterRun },
        { weight: 3, arbitrary: fc.constantFrom('.', '+', '~', '+deb11u', '~bpo', 'ubuntu') },
        { weight: 1, arbitrary: dpkgOddity },
      ),
      1,
      4,
    ),
  },
);

/** A colon anywhere makes dpkg read an epoch and a hyphen a revision, so the structure must allow them. */
function dpkgText(epoch: string | undefined, upstream: string, revision: string | undefined): string {
  const needsEpoch = epoch === undefined && upstream.includes(':');
  const needsRevision = revision === undefined && upstream.includes('-');
  const e = needsEpoch ? '0' : epoch;
  const r = needsRevision ? '1' : revision;
  return `${e === undefined ? '' : `${e}:`}${upstream}${r === undefined ? '' : `-${r}`}`;
}

function dpkgRelated(n: number): fc.Arbitrary<string[]> {
  return fc
    .tuple(
      relatedValues(dpkgEpoch, n),
      dpkgUpstreamStart,
      deepTails(dpkgUpstreamTail, n),
      relatedValues(dpkgRevision, n),
    )
    .map(([epochs, start, tails, revisions]) =>
      epochs.map((epoch, k) => dpkgText(epoch, `${start}${tails[k]}`, revisions[k])),
    );
}

const dpkgPair = dpkgRelated(2).map((list) => [list[0] as string, list[1] as string] as const);
export const dpkgTriple = dpkgRelated(3).map(triple);

/** Rewrites dpkg treats as equal: leading zeros, an explicit `0:` epoch, an explicit `-0` revision. */
export const dpkgEqualPair: fc.Arbitrary<readonly [string, string]> = fc
  .tuple(dpkgUpstreamStart, dpkgUpstreamTail, dpkgRevision, fc.nat(), fc.boolean(), fc.boolean())
  .map(([start, tail, revision, mask, addEpoch, addRevision]) => {
    const upstream = `${start}${tail}`;
    const plain = dpkgText(undefined, upstream, revision);
    const explicitEpoch = addEpoch && !upstream.includes(':') ? '0' : undefined;
    const rewritten = dpkgText(
      explicitEpoch ?? (upstream.includes(':') ? '00' : undefined),
      padDigitRuns(upstream, mask),
      revision === undefined && addRevision && !upstream.includes('-')
        ? '0'
        : revision && padDigitRuns(revision, mask),
    );
    return [plain, rewritten] as const;
  });

/** For differential runs: distinct texts mostly, and one in ten an equal rewrite (the subtle "eq" cases). */
export const dpkgDifferentialPair: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  { weight: 9, arbitrary: dpkgPair.filter(([a, b]) => a !== b) },
  { weight: 1, arbitrary: dpkgEqualPair },
);

/**
 * Answers given by `dpkg --compare-versions` 1.21.22 (Debian policy §5.6.12 examples, dpkg's t-version.c
 * cases, and real package versions). The differential test re-checks every one against dpkg when present.
 */
export const DPKG_VECTORS: ReadonlyArray<readonly [string, string, -1 | 0 | 1]> = [
  ['1.0', '1.1', -1],
  ['1.0', '1.0-0', 0],
  ['1.0', '1.00', 0],
  ['1.0', '0:1.0', 0],
  ['1:0.1', '2.0', 1],
  ['1.0~rc1', '1.0', -1],
  // Policy's example order: ~~ < ~~a < ~ < (end) < a
  ['1.0~~', '1.0~~a', -1],
  ['1.0~~a', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0', '1.0a', -1],
  // Letters sort before non-letters.
  ['1.0a', '1.0+', -1],
  ['1.0a', '1.0.1', -1],
  ['1.0+dfsg', '1.0', 1],
  ['2.30-1+deb11u2', '2.30-1', 1],
  ['2.30-1+deb11u2', '2.30-1+deb11u10', -1],
  ['1.2.3-1ubuntu1', '1.2.3-1', 1],
  ['0:0-0-0', '0-0-0', 0],
  ['2:1.0', '1:9.9', 1],
  ['1.0-1', '1.0-1.1', -1],
  ['1.0-1~bpo11+1', '1.0-1', -1],
  ['1.99999999999999999999', '1.99999999999999999998', 1],
  ['1.000000000000000000001', '1.1', 0],
  ['abc', '1', 1],
  ['1.0', '1.0.', -1],
  ['1.0', '1.0~', 1],
  ['0', '0:0-0', 0],
  ['0:09azAZ.-+~:-0', '0:09azAZ.-+~:-0', 0],
  ['0:0-azAZ09.+~', '0:0-azAZ09.+~', 0],
  ['1.0-A', '1.0-a', -1],
  ['1.0-Z', '1.0-a', -1],
  ['1.0_1', '1.0.1', 1],
  ['2.7.4-0ubuntu1.6', '2.7.4-0ubuntu1.10', -1],
  ['7.68.0-1ubuntu2.7', '7.68.0-1ubuntu2.18', -1],
  ['1:2.30-1', '2.31-1', 1],
  ['1.2.3~rc1-1', '1.2.3-1', -1],
  ['1.18.0-6+deb11u3', '1.18.0-6+deb11u3', 0],
  ['9', '10', -1],
  ['a', 'b', -1],
  ['1.0-0ubuntu0.20.04.1', '1.0-0ubuntu0.20.04.1~esm1', 1],
];

// ---------------------------------------------------------------------------------------------------------
// rpm

const rpmSeparator = fc.constantFrom('.', '.', '_', '+', '%', '{', '}', '..', '._');
const rpmMarker = fc.constantFrom('~', '^', '~~', '^^', '~^', '^~', '.~', '.^');

const rpmPiece = fc.oneof(
  { weight: 4, arbitrary: digitRun },
  { weight: 3, arbitrary: letterRun },
  { weight: 3, arbitrary: rpmSeparator },
  { weight: 2, arbitrary: rpmMarker },
);

const rpmEpoch: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom('0', '1', '2', '00', '01', '10') },
  { weight: 1, arbitrary: fc.nat(4_294_967_295).map(String) },
);

const rpmVersionStart = fc.oneof(
  { weight: 8, arbitrary: digitRun },
  { weight: 1, arbitrary: letterRun },
  { weight: 1, arbitrary: rpmMarker },
  { weight: 5, arbitrary: realisticStart },
);
const rpmVersionTail = segmentTail(
  fc.oneof(
    { weight: 6, arbitrary: rpmSeparator },
    { weight: 4, arbitrary: rpmMarker },
    { weight: 1, arbitrary: fc.constantFrom('-', ':') },
  ),
);
const rpmRelease: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 3,
    arbitrary: joined(
      fc.oneof({ weight: 6, arbitrary: rpmPiece }, fc.constantFrom('.el8', '.fc39', '_1')),
      1,
      4,
    ),
  },
);

/** Mirrors rpm's parse: leading digits then `:` is an epoch, the last hyphen starts the release. */
function rpmText(epoch: string | undefined, version: string, release: string | undefined): string {
  const e = epoch === undefined && /^[0-9]*:/.test(version) ? '0' : epoch;
  const r = release === undefined && version.includes('-') ? '1' : release;
  return `${e === undefined ? '' : `${e}:`}${version}${r === undefined ? '' : `-${r}`}`;
}

function rpmRelated(n: number): fc.Arbitrary<string[]> {
  return fc
    .tuple(
      relatedValues(rpmEpoch, n),
      rpmVersionStart,
      deepTails(rpmVersionTail, n),
      relatedValues(rpmRelease, n),
    )
    .map(([epochs, start, tails, releases]) =>
      epochs.map((epoch, k) => rpmText(epoch, `${start}${tails[k]}`, releases[k])),
    );
}

const rpmPair = rpmRelated(2).map((list) => [list[0] as string, list[1] as string] as const);
export const rpmTriple = rpmRelated(3).map(triple);

/**
 * Rewrites rpm treats as equal: leading zeros, a different separator, a separator added where a digit run
 * meets a letter run, trailing separators, and an explicit `0:` epoch.
 */
export const rpmEqualPair: fc.Arbitrary<readonly [string, string]> = fc
  .tuple(
    rpmVersionStart,
    rpmVersionTail,
    rpmRelease,
    fc.nat(),
    fc.constantFrom('.', '_', '+', '%'),
    fc.boolean(),
  )
  .map(([start, tail, release, mask, separator, addEpoch]) => {
    const version = `${start}${tail}`;
    const plain = rpmText(undefined, version, release);
    const rewrite = (part: string) =>
      padDigitRuns(part, mask)
        .replace(/[._+%{}]/g, separator)
        .replace(/([0-9])(?=[A-Za-z])/g, `$1${separator}`)
        .concat(mask & 1 ? separator : '');
    const epoch = addEpoch || /^[0-9]*:/.test(version) ? '0' : undefined;
    return [plain, rpmText(epoch, rewrite(version), release && rewrite(release))] as const;
  });

export const rpmDifferentialPair: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  { weight: 9, arbitrary: rpmPair.filter(([a, b]) => a !== b) },
  { weight: 1, arbitrary: rpmEqualPair },
);

/** Raw strings for rpmvercmp alone: no `-` or `:` (rpm.vercmp would split them), any other characters. */
const rpmSegmentText: fc.Arbitrary<string> = joined(
  fc.oneof(
    { weight: 10, arbitrary: rpmPiece },
    {
      weight: 1,
      arbitrary: fc.constantFrom('é', '☃', '😀', '!', '"', '#', '$', '&', "'", '(', ')', '*', '\\'),
    },
  ),
  1,
  7,
);

export const rpmSegmentPair = fc
  .tuple(rpmSegmentText, relatedValues(joined(rpmPiece, 0, 4), 2))
  .map(([start, [x, y]]) => [`${start}${x}`, `${start}${y}`] as const);

/**
 * Answers given by rpm 4.18's `rpm.vercmp` (cases from rpm's own tests/rpmvercmp.at, including the caret
 * cases and the documented oddities, plus EVR cases). The differential test re-checks each against rpm.
 */
export const RPM_VECTORS: ReadonlyArray<readonly [string, string, -1 | 0 | 1]> = [
  ['1.0', '1.0', 0],
  ['1.0', '2.0', -1],
  ['2.0.1', '2.0', 1],
  ['2.0.1a', '2.0.1', 1],
  ['5.5p1', '5.5p10', -1],
  ['10xyz', '10.1xyz', -1],
  ['xyz10', 'xyz10.1', -1],
  ['xyz.4', '8', -1],
  ['xyz.4', '2', -1],
  ['5.5p2', '5.6p1', -1],
  ['6.0.rc1', '6.0', 1],
  ['10b2', '10a1', 1],
  ['1.0a', '1.0aa', -1],
  ['10.0001', '10.1', 0],
  ['10.0001', '10.0039', -1],
  ['4.999.9', '5.0', -1],
  ['20101121', '20101122', -1],
  ['2.0', '2_0', 0],
  ['a+', 'a_', 0],
  ['+a', '_a', 0],
  ['_+', '+_', 0],
  ['1.0~rc1', '1.0', -1],
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~rc1~git123', '1.0~rc1', -1],
  ['1.0^', '1.0', 1],
  ['1.0^', '1.0^', 0],
  ['1.0', '1.0^git1', -1],
  ['1.0^git1', '1.0^git2', -1],
  ['1.0^git1', '1.01', -1],
  ['1.0^20160101', '1.0.1', -1],
  ['1.0^20160101^git1', '1.0^20160101^git1', 0],
  ['1.0^20160102', '1.0^20160101^git1', 1],
  ['1.0~rc1^git1', '1.0~rc1', 1],
  ['1.0^git1~pre', '1.0^git1', -1],
  ['1.0^', '1.0~', 1],
  // rpm's documented oddity: a letter run against a separator compares by the next runs.
  ['1b.fc17', '1.fc17', -1],
  ['1g.fc17', '1.fc17', 1],
  ['1.0', '1.0.', 0],
  ['1a', '1.a', 0],
  ['99999999999999999999', '99999999999999999998', 1],
  ['B', 'a', -1],
  ['1:1.0', '2.0', 1],
  ['0:1.0', '1.0', 0],
  ['1.0', '1.0-1', -1],
  ['1.0-1', '1.0-2', -1],
  ['1.0-1', '1.0-1.el8', -1],
  ['2.4.37-43.module+el8.9.0+1234+abcd', '2.4.37-43.module+el8.10.0+1234+abcd', -1],
  ['1:2.4.37-43.el8', '2.4.38-1.el8', 1],
  ['1.0-1', '1.0-1^', -1],
  ['1.0-1~', '1.0-1', -1],
  ['0001:1.0', '1:1.0', 0],
  ['a:1.0', '1.0', -1],
];

// ---------------------------------------------------------------------------------------------------------
// semver

const semverNumber = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 10) },
  { weight: 3, arbitrary: fc.nat(100_000) },
  { weight: 1, arbitrary: fc.constant(Number.MAX_SAFE_INTEGER) },
);

const prereleaseId = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom('alpha', 'beta', 'rc', 'a', 'A', 'Z', '-', '--', 'x-1', '0a', 'a0', '1-'),
  },
  { weight: 3, arbitrary: fc.constantFrom('0', '1', '2', '10', '11') },
  { weight: 1, arbitrary: fc.nat(Number.MAX_SAFE_INTEGER - 1).map(String) },
);

const buildId = fc.constantFrom('001', 'sha', 'exp', '20130313144700', 'x-y', '0');

const semverParts = fc.record({
  main: relatedValues(fc.tuple(semverNumber, semverNumber, semverNumber), 3),
  pre: relatedValues(
    fc.option(fc.array(prereleaseId, { minLength: 1, maxLength: 4 }), { nil: undefined }),
    3,
  ),
  build: fc.array(fc.option(fc.array(buildId, { minLength: 1, maxLength: 2 }), { nil: undefined }), {
    minLength: 3,
    maxLength: 3,
  }),
  v: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
});

function semverText(
  [major, minor, patch]: readonly [number, number, number],
  pre: readonly string[] | undefined,
  build: readonly string[] | undefined,
  v: boolean,
): string {
  const prerelease = pre ? `-${pre.join('.')}` : '';
  const metadata = build ? `+${build.join('.')}` : '';
  return `${v ? 'v' : ''}${major}.${minor}.${patch}${prerelease}${metadata}`;
}

export const semverTriple = semverParts.map(({ main, pre, build, v }) =>
  triple(main.map((m, k) => semverText(m, pre[k], build[k], v[k] === true))),
);

/** Rewrites SemVer treats as equal: different build metadata, a leading `v`. */
export const semverEqualPair = semverParts.map(
  ({ main, pre, build, v }) =>
    [
      semverText(main[0]!, pre[0], build[0], false),
      semverText(main[0]!, pre[0], build[1], v[0] === true),
    ] as const,
);

// ---------------------------------------------------------------------------------------------------------
// External tools

/** Absolute path of a command on PATH, or undefined. */
function findTool(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.status === 0 ? found.stdout.trim() : '';
  return path.startsWith('/') ? path : undefined;
}

function runningInCi(): boolean {
  const flag = process.env.CI ?? '';
  return flag !== '' && !/^(0|false)$/i.test(flag);
}

/**
 * Differential tests need the real tool. Locally a missing tool skips them with a reason on the console;
 * in CI (env CI set) a missing tool is a failure: CI installs both, and a silent skip would hide regressions.
 */
export function toolGate(name: string, install: string): { path: string | undefined; skip: boolean } {
  const path = findTool(name);
  if (path) return { path, skip: false };
  const reason = `${name} is not installed: ${install}`;
  if (runningInCi()) {
    it(`needs ${name} in CI`, () => {
      throw new Error(`${reason} (CI must install it; differential tests cannot run without it)`);
    });
  } else {
    console.warn(`skipping ${name} differential tests: ${reason}`);
  }
  return { path: undefined, skip: true };
}
