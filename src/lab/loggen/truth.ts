/**
 * Scoring hunt findings against a generated tree's ground truth: a planted sequence counts as found when at least
 * one finding points at one of its lines; a finding anywhere else is a false positive.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { PlantedKind, PlantedSequence } from './attacks.js';
import type { GroundTruth } from './index.js';

export interface FindingLocation {
  file: string;
  line: number;
  rule?: string;
}

export interface Score<F extends FindingLocation> {
  /** Sequences with at least one finding on their lines. */
  found: PlantedSequence[];
  missed: PlantedSequence[];
  /** Findings not on any planted line. */
  outside: F[];
  /** Found / total per kind. */
  byKind: Record<PlantedKind, { found: number; total: number }>;
  /** True when every sequence was found and nothing was reported outside planted lines. */
  ok: boolean;
}

/**
 * `file` may be absolute, relative to the generated root, relative to the folder above it (how hunt shows files:
 * `<root's name>/EXCH01/…`), or relative to `cwd`; a `!member` suffix (zip bundles) is ignored.
 */
export function scoreFindings<F extends FindingLocation>(
  truth: GroundTruth,
  findings: readonly F[],
  opts: { root?: string; cwd?: string } = {},
): Score<F> {
  const root = resolve(opts.root ?? truth.out);
  const cwd = opts.cwd ?? process.cwd();
  const owner = new Map<string, PlantedSequence>();
  for (const s of truth.sequences) for (const l of s.lines) owner.set(`${l.file}:${l.line}`, s);
  const hit = new Set<string>();
  const outside: F[] = [];
  for (const f of findings) {
    const file = f.file.split('!')[0]!;
    let abs: string;
    if (isAbsolute(file)) abs = file;
    else if (existsSync(resolve(root, file))) abs = resolve(root, file);
    else if (existsSync(resolve(root, '..', file))) abs = resolve(root, '..', file);
    else abs = resolve(cwd, file);
    const seq = owner.get(`${relative(root, abs).split(sep).join('/')}:${f.line}`);
    if (seq) hit.add(seq.id);
    else outside.push(f);
  }
  const byKind = {
    'proxylogon-chain': { found: 0, total: 0 },
    'ssrf-probe': { found: 0, total: 0 },
    'autodiscover-only': { found: 0, total: 0 },
    'webshell-scan': { found: 0, total: 0 },
  };
  const found: PlantedSequence[] = [];
  const missed: PlantedSequence[] = [];
  for (const s of truth.sequences) {
    byKind[s.kind].total++;
    if (hit.has(s.id)) {
      byKind[s.kind].found++;
      found.push(s);
    } else missed.push(s);
  }
  return { found, missed, outside, byKind, ok: missed.length === 0 && outside.length === 0 };
}
