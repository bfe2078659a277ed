/**
 * `bulwark jobs list|show|cancel` and `bulwark advisories import --server --wait` against the real server listening
 * on 127.0.0.1, on SQLite and PostgreSQL: the job an import starts is followed to its end; a tenant's token sees
 * and cancels only its tenant's jobs; exit codes follow the job's outcome; server-provided strings are escaped;
 * Ctrl-C stops the wait and not the job.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestServer, type TestServer } from '../server/app.testkit.js';
import { TEST_DIALECTS } from '../server/db/db.testkit.js';
import { runImportRemote } from './commands/advisories.js';
import type { Io } from './io.js';
import { runCli } from './run.testkit.js';

const OSV_GIN = JSON.stringify({
  schema_version: '1.3.1',
  id: 'GO-2020-0001',
  modified: '2024-05-20T16:03:47Z',
  published: '2021-04-14T20:04:52Z',
  aliases: ['CVE-2020-36567'],
  summary: 'Log line injection in github.com/gin-gonic/gin',
  affected: [
    {
      package: { name: 'github.com/gin-gonic/gin', ecosystem: 'Go' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.6.0' }] }],
    },
  ],
});

describe.each(TEST_DIALECTS)('bulwark jobs on %s', (dialect) => {
  let s: TestServer | undefined;
  let url = '';
  let dir = '';
  let operator = '';
  let acme = '';
  /** Lets the test.blocked job finish. */
  let release: () => void = () => {};

  const bearer = async (input: { role: string; tenant_id?: string | null }) =>
    (await s!.token(input)).headers.authorization!.replace(/^Bearer /, '');
  const run = (argv: string[], token = operator) => runCli(argv, { BULWARK_TOKEN: token }, dir);
  const enqueue = (input: { kind: string; tenantId: string | null; createdBy?: string; runAfter?: Date }) =>
    s!.ctx.jobs.queue.enqueue(s!.db.kysely, { createdBy: 'test', ...input });

  beforeAll(async () => {
    s = await openTestServer(dialect);
    if (!s) return;
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'bulwark-jobs-cli-'));
    for (const id of ['acme', 'globex'])
      await s.call(s.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name: id } });
    operator = await bearer({ role: 'technician', tenant_id: null });
    acme = await bearer({ role: 'technician', tenant_id: 'acme' });
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((r) => {
      unblock = r;
    });
    release = unblock;
    s.ctx.jobs.worker.register('test.blocked', async (_job, ctx) => {
      ctx.progress(1, 4);
      await Promise.race([blocked, new Promise((r) => ctx.signal.addEventListener('abort', r))]);
      return { ok: true };
    });
  }, 60_000);

  afterAll(async () => {
    release();
    await s?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('advisories import --server --wait follows the job to success; without --wait prints the job id', async (ctx) => {
    if (!s) return ctx.skip();
    const file = join(dir, 'gin.json');
    writeFileSync(file, OSV_GIN);
    const waited = await run(['advisories', 'import', file, '--server', url, '--wait', '--json']);
    expect(waited.stderr).toBe('');
    expect(waited.code).toBe(0);
    const job = JSON.parse(waited.stdout);
    expect(job).toMatchObject({ kind: 'advisories.recompute', state: 'succeeded' });
    expect(job.result).toMatchObject({ format: 'osv', imported: ['go-2020-0001'] });

    const text = await run(['advisories', 'import', file, '--server', url, '--wait']);
    expect(text.code).toBe(0);
    expect(text.stderr).toMatch(/import job job_\S+ \(Ctrl-C stops waiting, not the job\)/);
    expect(text.stdout).toMatch(/advisories\.recompute {2}succeeded/);

    const started = await run(['advisories', 'import', file, '--server', url, '--idempotency-key', 'gin-1']);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^job_/);
    const again = await run(['advisories', 'import', file, '--server', url, '--idempotency-key', 'gin-1']);
    expect(again.stdout.trim()).toBe(id);
    const shown = await run(['jobs', 'show', id, '--server', url, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, idempotency_key: 'gin-1' });
  });

  it('refuses what it cannot do with one line and exit 2', async (ctx) => {
    if (!s) return ctx.skip();
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"not":"an advisory"}');
    const bad = await run(['advisories', 'import', file, '--server', url, '--wait']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^bulwark: POST \/api\/v1\/advisories\/import: 400 /);
    const noToken = await runCli(['jobs', 'list', '--server', url], {}, dir);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(
      /--server needs an API token: set BULWARK_TOKEN or give --token-file FILE/,
    );
    const refused = await run(['jobs', 'list', '--server', url], 'bwk_not_a_token');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/401/);
    expect((await run(['advisories', 'import', file, '--wait'])).stderr).toMatch(/--wait needs --server URL/);
    const two = await run(['advisories', 'import', file, file, '--server', url]);
    expect(two.stderr).toMatch(/--server imports one file per job/);
  });

  it("a tenant's token sees and cancels only its tenant's jobs; show exits 1 for a cancelled job", async (ctx) => {
    if (!s) return ctx.skip();
    const later = new Date(Date.now() + 3600_000);
    const own = await enqueue({ kind: 'test.later', tenantId: 'acme', runAfter: later });
    const other = await enqueue({ kind: 'test.later', tenantId: 'globex', runAfter: later });
    const install = await enqueue({ kind: 'test.later', tenantId: null, runAfter: later });

    const listed = await run(['jobs', 'list', '--server', url, '--json', '--kind', 'test.later'], acme);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).items.map((j: { id: string }) => j.id)).toEqual([own.id]);
    const all = await run(['jobs', 'list', '--server', url, '--kind', 'test.later']);
    for (const j of [own, other, install]) expect(all.stdout).toContain(j.id);
    expect(all.stdout).toContain('(installation)');

    for (const hidden of [other.id, install.id]) {
      const shown = await run(['jobs', 'show', hidden, '--server', url], acme);
      expect(shown.code).toBe(2);
      expect(shown.stderr).toMatch(/no job .* or not one this token may see/);
      expect((await run(['jobs', 'cancel', hidden, '--server', url], acme)).code).toBe(2);
    }
    const queued = await run(['jobs', 'show', own.id, '--server', url], acme);
    expect(queued.code).toBe(0);
    expect(queued.stdout).toMatch(/test\.later {2}queued/);

    const cancelled = await run(['jobs', 'cancel', own.id, '--server', url], acme);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toBe(`${own.id} cancelled\n`);
    const after = await run(['jobs', 'show', own.id, '--server', url, '--json'], acme);
    expect(after.code).toBe(1);
    expect(JSON.parse(after.stdout).state).toBe('cancelled');
    // Cancelling a cancelled job again answers the same.
    const twice = await run(['jobs', 'cancel', own.id, '--server', url], acme);
    expect(twice.code).toBe(0);
    const paged = await run(['jobs', 'list', '--server', url, '--kind', 'test.later', '--limit', '1']);
    expect(paged.stdout).toMatch(/1 of 3; next page: --after \S+/);
  });

  it('escapes what the server sends: a creator with terminal controls is shown, not obeyed', async (ctx) => {
    if (!s) return ctx.skip();
    const job = await enqueue({
      kind: 'test.later',
      tenantId: 'acme',
      createdBy: 'token:\u001b]0;owned\u0007\u202eevil',
      runAfter: new Date(Date.now() + 3600_000),
    });
    const shown = await run(['jobs', 'show', job.id, '--server', url]);
    expect(shown.code).toBe(0);
    for (const c of ['\u001b', '\u0007', '\u202e']) expect(shown.stdout).not.toContain(c);
    expect(shown.stdout).toContain('by token:');
    const json = await run(['jobs', 'show', job.id, '--server', url, '--json']);
    for (const c of ['\u001b', '\u0007', '\u202e']) expect(json.stdout).not.toContain(c);
  });

  it('--wait: progress arrives over the event stream; Ctrl-C stops waiting and leaves the job running', async (ctx) => {
    if (!s) return ctx.skip();
    const job = await enqueue({ kind: 'test.blocked', tenantId: 'acme' });
    // The wait as `advisories import --wait` runs it, on a job that is running: interrupted once progress shows.
    const interrupt = new AbortController();
    let err = '';
    const drawn: string[] = [];
    const io: Io = {
      out: () => {},
      err: (t) => {
        err += t;
      },
      color: false,
      env: { BULWARK_TOKEN: operator },
      cwd: dir,
    };
    const { waitForJob } = await import('../api/index.js');
    const progress = waitForJob({ baseUrl: url, token: operator }, job.id, {
      timeoutMs: 20_000,
      onUpdate: (j) => {
        drawn.push(`${j.state} ${j.progress.done}/${j.progress.total}`);
        if (j.state === 'running' && j.progress.done === 1) interrupt.abort();
      },
      signal: interrupt.signal,
    });
    await expect(progress).rejects.toBeDefined();
    expect(drawn).toContain('running 1/4');

    // runImportRemote's own handling of Ctrl-C, through a document upload that answers with a job.
    const file = join(dir, 'gin2.json');
    writeFileSync(file, OSV_GIN);
    const stop = new AbortController();
    stop.abort();
    const code = await runImportRemote(io, file, { server: url, wait: true, interrupt: stop.signal });
    expect(code).toBe(130);
    expect(err).toMatch(/stopped waiting; job job_\S+ goes on .*bulwark jobs cancel job_/);
    const importId = /job (job_\S+) goes on/.exec(err)![1]!;
    const left = await run(['jobs', 'show', importId, '--server', url, '--json']);
    expect(JSON.parse(left.stdout).state).not.toBe('cancelled');
    const still = await run(['jobs', 'show', job.id, '--server', url, '--json']);
    expect(JSON.parse(still.stdout).state).toBe('running');
    release();

    // On a terminal the wait draws a progress bar of assets judged, cleared when the job ends.
    let screen = '';
    const tty = {
      isTTY: true,
      write: (t: string) => {
        screen += t;
        return true;
      },
    };
    expect(await runImportRemote(io, file, { server: url, wait: true, progressStream: tty })).toBe(0);
    expect(screen).toMatch(/^\rrecomputing \[[#.]{30}\] \d+\/\d+ assets/);
    expect(screen.endsWith('\r\x1b[2K')).toBe(true);
  });
});
