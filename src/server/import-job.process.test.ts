/**
 * `kill -9` of the `bulwark serve` process running an advisory import's recompute job, mid-way (some batches
 * written, not all), with real processes over real HTTP:
 * - PostgreSQL, two replicas: the survivor claims the job once the dead one's lease ran out (not before) and
 *   finishes it, as attempt 2;
 * - SQLite, one server: started again on the same data directory, it resumes the job at once.
 * Either way the job succeeds once, the exposure counts equal the core engine's recount of the same facts, and no
 * finding changed twice: each finding was written once (no verdict change in its history), and the findings.changed
 * events add up to the stored findings (none repeated for assets the killed attempt had already judged).
 *
 * The fleet (BULWARK_TEST_KILL_ASSETS Exchange servers, default 20,000) is pushed through the API; it must be big
 * enough for the job to take a few hundred milliseconds at least, so the kill lands between two progress reports.
 * The servers run with the shortest lease the configuration allows (jobs_lease_seconds 5), so on PostgreSQL the
 * survivor's wait for the lease stays short.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAdvisory } from '../advisories/index.js';
import type { DialectName } from './db/connect.js';
import { openTestDb, TEST_DIALECTS, type TestDb } from './db/db.testkit.js';
import { currentSchema } from './jobs/jobs.testkit.js';
import {
  exchangeFleet,
  expectStatus,
  pgUrlFor,
  pushFleet,
  recount,
  type ServerProcess,
  type ServeTree,
  servedByTenant,
  serveTree,
  setupAdmin,
  startServe,
  waitFor,
  waitForJobDone,
} from './process.testkit.js';

const PACK_FILE = fileURLToPath(new URL('../advisories/packs/proxylogon-2021-03.yaml', import.meta.url));
const PACK = readFileSync(PACK_FILE, 'utf8');
const ADVISORY = parseAdvisory(PACK, PACK_FILE);
const ID = ADVISORY.id;
const ASSETS = Number(process.env.BULWARK_TEST_KILL_ASSETS ?? 20_000);
const TENANTS = 10;
/** The shortest lease the configuration allows: the survivor waits this long at most after the kill. */
const LEASE_SECONDS = 5;

interface JobRowView {
  state: string;
  lease_owner: string | null;
  lease_until: string | null;
  progress_done: number;
  progress_total: number | null;
  attempts: number;
}

async function jobRow(db: TestDb, id: string): Promise<JobRowView | undefined> {
  return db.kysely
    .selectFrom('jobs')
    .select(['state', 'lease_owner', 'lease_until', 'progress_done', 'progress_total', 'attempts'])
    .where('id', '=', id)
    .executeTakeFirst();
}

let tree: ServeTree | undefined;
beforeAll(() => {
  tree = serveTree();
}, 60_000);
afterAll(() => tree?.dispose());

describe.each(TEST_DIALECTS)('kill -9 during an advisory import job on %s', (dialect: DialectName) => {
  let db: TestDb | undefined;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    db = await openTestDb(dialect);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await db?.dispose();
  });

  it(`the job is taken over (${dialect === 'postgres' ? 'by the other replica after the lease' : 'by the restarted server'}) and finished once; counts equal a recount; no finding changes twice`, async (ctx) => {
    if (!db || !tree) return ctx.skip();
    const t = db;
    const started = performance.now();
    const databaseUrl = dialect === 'postgres' ? pgUrlFor(await currentSchema(t)) : undefined;
    const serve = async (name: string) => {
      const s = await startServe(tree!, {
        dataDir: dialect === 'postgres' ? `${t.dataDir}/${name}` : t.dataDir,
        databaseUrl,
        env: { BULWARK_JOBS_LEASE_SECONDS: String(LEASE_SECONDS) },
      });
      servers.push(s);
      return s;
    };
    const a = await serve('a');
    const { admin } = await setupAdmin(a);
    const b = dialect === 'postgres' ? await serve('b') : undefined;
    const startedMs = performance.now() - started;

    const fleet = exchangeFleet(ASSETS, TENANTS);
    const t0 = performance.now();
    await pushFleet(admin, fleet, { clients: 3 });
    const pushedMs = performance.now() - t0;
    const expected = recount(ADVISORY, fleet);
    const judged = Object.values(expected.totals).reduce((x, y) => x + y, 0);
    expect(expected.totals.affected).toBeGreaterThan(0);
    expect(expected.totals.fixed).toBeGreaterThan(0);
    expect(expected.totals.unknown).toBeGreaterThan(0);

    const imported = expectStatus(
      await admin.call('POST', '/api/v1/advisories/import', PACK, { contentType: 'application/yaml' }),
      202,
      'import',
    );
    const jobId: string = imported.json.id;
    // Mid-way: progress reported, not complete.
    const mid = await waitFor(
      'the job to report progress short of its total',
      async () => {
        const row = await jobRow(t, jobId);
        if (row?.state === 'succeeded')
          throw new Error(
            `the job finished before it could be killed mid-way; raise BULWARK_TEST_KILL_ASSETS (now ${ASSETS})`,
          );
        return (
          row?.state === 'running' &&
          row.progress_done > 0 &&
          row.progress_total !== null &&
          row.progress_done < row.progress_total &&
          row
        );
      },
      60_000,
      5,
    );
    const runner = [a, b].find((s) => s && mid.lease_owner?.includes(`:${s.pid}:`));
    if (!runner)
      throw new Error(`the job's owner ${mid.lease_owner} is neither server (${a.pid}, ${b?.pid})`);
    await runner.kill9();
    const killedAtIso = new Date().toISOString();
    const orphan = (await jobRow(t, jobId))!;
    expect(orphan).toMatchObject({ state: 'running', lease_owner: mid.lease_owner, attempts: 1 });
    expect(orphan.progress_done).toBeLessThan(orphan.progress_total!);
    const killedAt = performance.now();
    const leaseLeftMs = orphan.lease_until ? Date.parse(orphan.lease_until) - Date.now() : Number.NaN;
    // The servers took jobs_lease_seconds from the environment: the orphan's lease is that short.
    expect(leaseLeftMs).toBeLessThanOrEqual(LEASE_SECONDS * 1000);

    // The survivor (PostgreSQL) or the server started again on the same data directory (SQLite).
    const survivor = b ? (runner === a ? b : a) : await serve('a');
    const api = admin.at(survivor.url);
    const done = await waitForJobDone(api, jobId, 120_000);
    const takeoverMs = performance.now() - killedAt;
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(done.attempts).toBe(2);
    expect(done.progress.done).toBe(done.progress.total);
    // The take-over is the first job.updated written after the kill (the claim publishes it): on PostgreSQL not
    // before the dead replica's lease ran out, since for all the survivor knew that replica might have been alive.
    const claim = await t.kysely
      .selectFrom('events')
      .select(['at', 'data'])
      .where('type', '=', 'job.updated')
      .where('subject', '=', `job:${jobId}`)
      .where('at', '>', killedAtIso)
      .orderBy('at')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(claim.data)).toMatchObject({ state: 'running' });
    if (dialect === 'postgres')
      expect(Date.parse(claim.at)).toBeGreaterThanOrEqual(Date.parse(orphan.lease_until!));
    const final = (await jobRow(t, jobId))!;
    expect(final.lease_owner ?? '').not.toContain(`:${runner.pid}:`);

    // Exposure counts equal the core engine's recount of the same facts.
    const counts = expectStatus(await api.call('GET', `/api/v1/advisories/${ID}/exposure`), 200, 'exposure');
    expect(counts.json.totals).toEqual(expected.totals);
    expect(servedByTenant(counts.json)).toEqual(expected.byTenant);

    // No finding changed twice: each was written once with its first verdict (a new finding is its own first
    // history entry, so none has a verdict change recorded), and the findings.changed events add up to the stored
    // findings — an asset the killed attempt had judged is not announced again.
    const findings = await t.kysely
      .selectFrom('findings')
      .select((eb) => [
        eb.fn.countAll<number>().as('rows'),
        eb.fn.count<number>('asset_id').distinct().as('assets'),
        eb.fn.max('events').as('maxEvents'),
      ])
      .where('advisory_id', '=', ID)
      .executeTakeFirstOrThrow();
    expect(Number(findings.assets)).toBe(judged);
    expect(Number(findings.maxEvents)).toBe(0);
    // The advisory is the only one loaded (built-in packs are off): every finding is its.
    const history = await sql<{ n: number }>`select count(*) as n from finding_events`.execute(t.kysely);
    expect(Number(history.rows[0]!.n)).toBe(0);
    const events = await t.kysely
      .selectFrom('events')
      .select(['tenant_id', 'data'])
      .where('type', '=', 'findings.changed')
      .execute();
    let eventAssets = 0;
    let eventFindings = 0;
    const listed = new Map<string, number>();
    for (const e of events) {
      const data = JSON.parse(e.data) as {
        advisory_ids: string[];
        asset_ids?: string[];
        assets: number;
        findings: number;
      };
      if (!data.advisory_ids.includes(ID)) continue;
      eventAssets += data.assets;
      eventFindings += data.findings;
      for (const asset of data.asset_ids ?? []) {
        const k = `${e.tenant_id}/${asset}`;
        listed.set(k, (listed.get(k) ?? 0) + 1);
      }
    }
    expect(eventAssets).toBe(judged);
    expect(eventFindings).toBe(Number(findings.rows));
    expect([...listed].filter(([, n]) => n > 1)).toEqual([]);

    console.log(
      `[import-job ${dialect}] servers up in ${Math.round(startedMs)} ms; ${ASSETS} assets pushed in ${Math.round(pushedMs)} ms; killed ${runner === a ? 'A' : 'B'} at ` +
        `${mid.progress_done}/${mid.progress_total} (${orphan.progress_done} written before the kill); taken over and ` +
        `finished ${Math.round(takeoverMs)} ms after the kill (its lease had ${Math.round(leaseLeftMs)} ms left); ${judged} assets judged, ${findings.rows} findings, ${eventAssets} assets in findings.changed events; ` +
        `test ${Math.round(performance.now() - started)} ms`,
    );
  }, 240_000);
});
