/**
 * Issue 11 item 1 and the NVD part of item 6 through the CLI: `advisories import` of the ProxyShell record, then
 * `exchange BUILD`, for builds of releases the record does not list; and an NVD API 2.0 file is imported, not
 * refused with "cannot tell the format".
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect } from 'vitest';
import { corpusPath, itCorpus } from '../../test/support/corpus.js';
import { runCli } from './run.testkit.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = (argv: string[]) => runCli(argv, {}, ROOT);
const PROXYSHELL = corpusPath(
  'advisory-formats',
  'cve-json5',
  'cves',
  '2021',
  '34xxx',
  'CVE-2021-34473.json',
);
const PROXYSHELL_NVD = corpusPath(
  'advisory-formats',
  'nvd-api2',
  'CVE-2021',
  'CVE-2021-344xx',
  'CVE-2021-34473.json',
);

describe('bulwark advisories import → exchange', () => {
  itCorpus(
    'builds of releases the ProxyShell record does not list are UNKNOWN, never fixed or omitted',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
      expect((await run(['--data-dir', dir, 'advisories', 'import', PROXYSHELL])).code).toBe(0);
      for (const build of ['15.1.2106.2', '15.0.1473.3', '15.2.721.2', '15.1.1979.3']) {
        const r = await run(['--data-dir', dir, 'exchange', build, '--json']);
        const j = JSON.parse(r.stdout);
        expect(j.unknown, build).toContain('CVE-2021-34473');
        expect(j.fixed, build).not.toContain('CVE-2021-34473');
        expect(j.not_affected, build).not.toContain('CVE-2021-34473');
        const v = j.verdicts.find((x: { cve: string }) => x.cve === 'CVE-2021-34473');
        expect(v.provenance.comparison).toMatch(/is in none of the source's ranges/);
        const text = await run(['--data-dir', dir, 'exchange', build]);
        expect(text.stdout).toMatch(
          /UNKNOWN {2}CVE-2021-34473 {2}\(the advisory's source does not say whether this release is affected; treat as exposed/,
        );
      }
    },
  );

  itCorpus('an NVD API 2.0 file is detected and imported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
    const r = await run(['--data-dir', dir, 'advisories', 'import', PROXYSHELL_NVD, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.files).toEqual([
      expect.objectContaining({ format: 'nvd', advisories: ['cve-2021-34473'], warnings: [] }),
    ]);
    const ex = JSON.parse((await run(['--data-dir', dir, 'exchange', '15.1.2176.2', '--json'])).stdout);
    expect(ex.vulnerable).toContain('CVE-2021-34473');
  });
});
