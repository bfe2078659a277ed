import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSigmaDirectory, MAX_RULE_BYTES } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-sigma-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rule = (id: string, title: string) =>
  `title: ${title}\nid: ${id}\nlogsource: {category: webserver}\ndetection:\n  s: ['x${id}']\n  condition: s\n`;

describe('loadSigmaDirectory', () => {
  it('walks folders in name order, reads .yml/.yaml only, reports big files, duplicate ids and broken links', () => {
    mkdirSync(join(dir, 'b', 'deeper'), { recursive: true });
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'z.yml'), rule('id-z', 'Z'));
    writeFileSync(join(dir, 'a', 'one.yaml'), rule('id-1', 'One'));
    writeFileSync(join(dir, 'b', 'deeper', 'two.YML'), rule('id-2', 'Two'));
    writeFileSync(join(dir, 'b', 'again.yml'), rule('id-1', 'One again'));
    writeFileSync(join(dir, 'b', 'notes.txt'), 'not a rule');
    writeFileSync(join(dir, 'b', 'huge.yml'), `# ${'x'.repeat(MAX_RULE_BYTES)}\n`);
    symlinkSync(join(dir, 'missing.yml'), join(dir, 'b', 'link.yml'));
    const { rules, unsupported } = loadSigmaDirectory(dir);
    expect(rules.map((r) => r.title)).toEqual(['One', 'Two', 'Z']);
    expect(unsupported.map((u) => [u.file.slice(dir.length + 1), u.reason.replace(/:.*/, '')])).toEqual([
      ['b/again.yml', `rule id id-1 is already used by ${join(dir, 'a', 'one.yaml').replace(/:.*/, '')}`],
      ['b/huge.yml', `the file is larger than ${MAX_RULE_BYTES} bytes`],
      ['b/link.yml', 'the file could not be read'],
    ]);
    expect(loadSigmaDirectory(join(dir, 'z.yml')).rules).toHaveLength(1);
    expect(() => loadSigmaDirectory(join(dir, 'nowhere'))).toThrow();
  });
});
