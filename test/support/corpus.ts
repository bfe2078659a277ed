/**
 * The third-party test corpus (`../shared/corpus` beside the clone). It is never copied into the repository, so a
 * user who clones Bulwark alone does not have it: tests that read it use these helpers, which skip them (the
 * summary reporter prints one line saying so) — except under `CI=true`, where a missing corpus is an error, so
 * nothing silently stops being tested.
 */
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { CORPUS_DIR, hasCorpus } from './corpus-dir.js';

export { CORPUS_DIR, hasCorpus };

if (!hasCorpus && process.env.CI === 'true') {
  throw new Error(
    `the third-party test corpus is missing at ${CORPUS_DIR}: CI must run with ../shared beside the clone (or BULWARK_CORPUS_DIR set)`,
  );
}

/** A path inside the corpus, e.g. `corpusPath('advisory-formats', 'osv')`. */
export function corpusPath(...parts: string[]): string {
  return join(CORPUS_DIR, ...parts);
}

/**
 * `describe` for a suite that reads the corpus. Without the corpus its body is not even run (a body that reads a
 * corpus file while collecting would fail), and one skipped test stands for it in the count and the reporter's line.
 */
export function describeCorpus(name: string, body: () => void): void {
  if (hasCorpus) describe(name, body);
  else describe.skip(name, () => it(`needs ${CORPUS_DIR}`, () => {}));
}

/** `it` that skips (with the reporter's one line) when the corpus is absent. */
export const itCorpus = it.skipIf(!hasCorpus);
