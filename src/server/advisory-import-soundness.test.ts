/**
 * Issue 11 item 1 on the server: an imported CVE record must not call an Exchange build of a release it does not
 * list safe (2013 CU22 read `not_affected`, 2016 CU18 read `fixed`), and an NVD API 2.0 file is detected and
 * imported (it gave a schema error).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { corpusPath, itCorpus } from '../../test/support/corpus.js';
import { importAdvisories } from './advisories/import.testkit.js';
import { openTestServer, type TestServer } from './app.testkit.js';
import { TEST_DIALECTS } from './db/db.testkit.js';

const exchange = (id: string, version: string) => ({
  id,
  products: [{ product: 'microsoft:exchange_server', version }],
});

describe.each(TEST_DIALECTS)('advisory import soundness on %s', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect);
  });
  afterAll(async () => {
    await s?.dispose();
  });

  itCorpus(
    'ProxyShell (CVE JSON 5 and NVD API 2.0): unlisted releases are unknown, listed ones judged',
    async (ctx) => {
      if (!s) ctx.skip();
      const t = s!;
      expect(
        (
          await t.call(t.admin, {
            method: 'POST',
            url: '/api/v1/tenants',
            payload: { id: 'msp', name: 'MSP' },
          })
        ).statusCode,
      ).toBe(201);
      const push = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/tenants/msp/assets?source=scan',
        payload: {
          assets: [
            exchange('ex2013-cu22', '15.0.1473.3'),
            exchange('ex2016-cu18', '15.1.2106.2'),
            exchange('ex2019-cu7', '15.2.721.2'),
            exchange('ex2016-cu17', '15.1.2044.4'),
            exchange('ex2016-cu19', '15.1.2176.2'),
            exchange('ex2016-cu19-apr', '15.1.2176.12'),
          ],
        },
      });
      expect(push.statusCode).toBe(200);
      const verdicts = async () => {
        const out: Record<string, string> = {};
        for (const id of [
          'ex2013-cu22',
          'ex2016-cu18',
          'ex2019-cu7',
          'ex2016-cu17',
          'ex2016-cu19',
          'ex2016-cu19-apr',
        ]) {
          const res = await t.call(t.admin, {
            method: 'GET',
            url: `/api/v1/tenants/msp/assets/${id}/exposure`,
          });
          const f = res.json().findings.find((x: { cve: string }) => x.cve === 'CVE-2021-34473');
          out[id] = f?.verdict ?? 'absent';
        }
        return out;
      };
      const expected = {
        'ex2013-cu22': 'unknown',
        'ex2016-cu18': 'unknown',
        'ex2019-cu7': 'unknown',
        'ex2016-cu17': 'unknown',
        'ex2016-cu19': 'affected',
        'ex2016-cu19-apr': 'fixed',
      };

      const cve5 = await importAdvisories(
        t,
        readFileSync(
          corpusPath('advisory-formats', 'cve-json5', 'cves', '2021', '34xxx', 'CVE-2021-34473.json'),
          'utf8',
        ),
      );
      expect(cve5.response.statusCode, cve5.response.body).toBe(202);
      expect(cve5.job?.state, cve5.job?.error ?? '').toBe('succeeded');
      expect(cve5.result?.format).toBe('cve5');
      expect(await verdicts()).toEqual(expected);

      // The NVD file of the same CVE replaces the advisory (same id); NVD gives no fixed build, so the listed
      // release is affected throughout.
      const nvd = await importAdvisories(
        t,
        readFileSync(
          corpusPath('advisory-formats', 'nvd-api2', 'CVE-2021', 'CVE-2021-344xx', 'CVE-2021-34473.json'),
          'utf8',
        ),
      );
      expect(nvd.response.statusCode, nvd.response.body).toBe(202);
      expect(nvd.result).toMatchObject({ format: 'nvd', imported: ['cve-2021-34473'], warnings: [] });
      expect(await verdicts()).toEqual({ ...expected, 'ex2016-cu19-apr': 'affected' });
    },
  );
});
