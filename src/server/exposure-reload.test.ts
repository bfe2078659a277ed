/**
 * Every replica reloads its exposure engine on advisory.changed, on SQLite and PostgreSQL: a second app on the same
 * database (as a second replica sees it, through its own event bus) judges with an advisory imported through the
 * first within 2 s, with no restart. Reloading again changes nothing (idempotent).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAdvisories } from './advisories/import.testkit.js';
import { buildApp } from './app.js';
import { openTestServer, type TestServer } from './app.testkit.js';
import { loadServerConfig } from './config.js';
import type { AppContext } from './context.js';
import { TEST_DIALECTS } from './db/db.testkit.js';

const ADVISORY = 'ghsa-reload-test';
const CVE = 'CVE-2099-0777';

const osv = {
  schema_version: '1.3.1',
  id: 'GHSA-reload-test',
  modified: '2024-05-20T16:03:47Z',
  published: '2021-04-14T20:04:52Z',
  aliases: [CVE],
  summary: 'Reload test advisory for gin',
  affected: [
    {
      package: { name: 'github.com/gin-gonic/gin', ecosystem: 'Go' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.6.0' }] }],
    },
  ],
};

async function until(what: string, check: () => boolean, ms: number): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe.each(TEST_DIALECTS)('exposure engine reload on advisory.changed (%s)', (dialect) => {
  let t: TestServer | undefined;
  let other: { close(): Promise<void>; ctx: AppContext } | undefined;
  beforeAll(async () => {
    t = await openTestServer(dialect);
    if (!t) return;
    const config = loadServerConfig({ overrides: { data_dir: t.db.dataDir, log_level: 'silent' } });
    const built = await buildApp({ db: t.db, config, logger: false });
    await built.ctx.exposure.load();
    await built.app.ready();
    other = { close: () => built.app.close(), ctx: built.ctx };
  }, 60_000);
  afterAll(async () => {
    await other?.close();
    await t?.dispose();
  });

  it('a second app judges with an advisory imported through the first within 2 s', async (ctx) => {
    if (!t || !other) return ctx.skip();
    const second = other.ctx;
    // Advisory ids are stored in lower case.
    expect(second.exposure.advisory(ADVISORY)).toBeUndefined();
    const { response, job } = await importAdvisories(t, osv, { format: 'osv' });
    expect(response.statusCode, response.body).toBe(202);
    expect(job?.state).toBe('succeeded');
    await until('the second app reloaded', () => second.exposure.advisory(ADVISORY) !== undefined, 2_000);
    const verdicts = second.exposure.engine.evaluate({
      id: 'probe',
      products: [{ product: 'pkg:golang/github.com/gin-gonic/gin', version: '1.5.0' }],
      installed_kbs: [],
      endpoints: [],
      tags: [],
    }).verdicts;
    expect(verdicts.map((v) => [v.cve, v.verdict])).toContainEqual([CVE, 'affected']);
    // A repeated delivery changes nothing.
    await second.exposure.load();
    expect(second.exposure.advisory(ADVISORY)).toEqual(t.ctx.exposure.advisory(ADVISORY));
  }, 60_000);
});
