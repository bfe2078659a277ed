/** Where the third-party test corpus is, and whether it is there (no vitest import: the reporter reads it too). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of `../shared/corpus` beside the clone (override with BULWARK_CORPUS_DIR). */
export const CORPUS_DIR: string =
  process.env.BULWARK_CORPUS_DIR ?? fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));

/** True when the corpus is present. */
export const hasCorpus: boolean = existsSync(CORPUS_DIR);
