import { describe, expect, it } from 'vitest';
import { SCHEME_IDS } from './scheme.js';

describe('scheme ids', () => {
  it('are unique', () => {
    expect(new Set(SCHEME_IDS).size).toBe(SCHEME_IDS.length);
  });
});
