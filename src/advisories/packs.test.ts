/** Which pack files feed which capability, with the built-in ProxyLogon pack. */
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from './knowledge.js';
import { huntAdvisories, huntRuleFiles, PackError, packIocs, virtualPatchFiles } from './packs.js';

const kb = loadKnowledgeBase();
const ID = 'proxylogon-2021-03';

describe('advisory packs', () => {
  it('virtual patches: the strict patch only when asked for', () => {
    const normal = virtualPatchFiles(kb, ID, false).map((f) => basename(f));
    const strict = virtualPatchFiles(kb, ID, true).map((f) => basename(f));
    expect(normal).not.toContain('strict.conf');
    expect(strict).toContain('strict.conf');
    expect(strict.length).toBe(normal.length + 1);
  });

  it('hunt: every advisory with hunt rules or IOCs, or the one named; an unknown id is a PackError', () => {
    const all = huntAdvisories(kb);
    expect(all.map((p) => p.advisory.id)).toContain(ID);
    const [pack] = huntAdvisories(kb, ID);
    const files = huntRuleFiles(pack!);
    expect(files.length).toBeGreaterThan(0);
    expect(files.every((f) => f.label.startsWith(`advisory ${ID} `) && /\.ya?ml$/.test(f.path))).toBe(true);
    expect(packIocs(pack!.advisory).sha256.length).toBeGreaterThanOrEqual(0);
    expect(() => huntAdvisories(kb, 'no-such-advisory')).toThrow(PackError);
    expect(() => virtualPatchFiles(kb, 'no-such-advisory', false)).toThrow(/no advisory "no-such-advisory"/);
  });
});
