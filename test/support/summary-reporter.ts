/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, that any CI can read regardless of
 * which runner produced it (vitest's own summary is formatted for people). The counts are vitest's own test
 * counts; a test file that fails before any test runs (an import or collection error) is named on a line of its
 * own instead of being counted as a test, so this line and vitest's "Tests" line always agree.
 */
import type { Reporter, TestModule } from 'vitest/node';
import { CORPUS_DIR, hasCorpus } from './corpus-dir.js';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const brokenFiles: string[] = [];
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && !mod.children.size) brokenFiles.push(mod.relativeModuleId);
    }
    const lines: string[] = [''];
    if (!hasCorpus) {
      lines.push(
        `skipped: the tests that read the third-party corpus (../shared/corpus, not part of this repository) — not found at ${CORPUS_DIR}`,
      );
    }
    if (brokenFiles.length) {
      lines.push(`test files that failed before running any test: ${brokenFiles.join(', ')}`);
    }
    lines.push(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
