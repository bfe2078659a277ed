/**
 * Real agents against a real server: `bulwark serve` and `bulwark agent enroll|run` child processes on 127.0.0.1
 * (the command line transpiled from the sources once for both), temporary state directories, heartbeat_s 1. One
 * server per database for the whole file: enrolment and inventory equal to dpkg-query -W (and rpm -qa where rpm
 * has a database), jobs end to end, two clones of one VM before and after enrolment, an agent offline while its
 * job waits, a server restart mid-job, a half-open agent (SIGSTOP) marked offline within two heartbeat intervals.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLogs } from '../../src/lab/loggen/index.js';
import { openTestDb, TEST_DIALECTS } from '../../src/server/db/db.testkit.js';
import { currentSchema } from '../../src/server/jobs/jobs.testkit.js';
import {
  type Api,
  expectStatus,
  pgUrlFor,
  type ServerProcess,
  type ServeTree,
  serveTree,
  setupAdmin,
  startServe,
} from '../../src/server/process.testkit.js';
import { type AgentProcess, agentTree, type CliTree, runCli, startAgent, waitFor } from './agent.testkit.js';

const TENANT = 'acme';
const HEARTBEAT_S = 1;

/** `dpkg-query -W`'s own format (`${binary:Package}\t${Version}`) plus the status, to keep installed packages. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
const DPKG_DEFAULT_WITH_STATUS = '${binary:Package}\t${Version}\t${db:Status-Abbrev}\n';

let tree: CliTree;
let serverTree: ServeTree;
beforeAll(() => {
  serverTree = serveTree();
  tree = agentTree();
}, 180_000);
afterAll(() => {
  serverTree?.dispose();
  tree?.dispose();
});

/** The packages dpkg-query -W prints: name (as printed) → version. */
function dpkgPackages(): Map<string, string> | undefined {
  if (!existsSync('/usr/bin/dpkg-query')) return undefined;
  return new Map(
    execFileSync('dpkg-query', ['-W', '-f', DPKG_DEFAULT_WITH_STATUS], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
      .filter((f) => f[2]?.[1] === 'i')
      .map((f) => [f[0]!, f[1]!] as [string, string]),
  );
}

/** rpm -qa where rpm has a database (name → version-release, epoch if any). */
function rpmPackages(): Map<string, string> | undefined {
  if (!existsSync('/usr/bin/rpm')) return undefined;
  if (
    !['/var/lib/rpm/rpmdb.sqlite', '/var/lib/rpm/Packages', '/usr/lib/sysimage/rpm/rpmdb.sqlite'].some(
      existsSync,
    )
  )
    return undefined;
  const out = execFileSync(
    'rpm',
    ['-qa', '--qf', '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n'],
    {
      encoding: 'utf8',
    },
  );
  return new Map(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t') as [string, string]),
  );
}

describe.each(TEST_DIALECTS)('agents against a real server on %s', (dialect) => {
  let server: ServerProcess;
  let admin: Api;
  let root: string;
  let dataDir: string;
  let databaseUrl: string | undefined;
  let tokenFile: string;
  const running: AgentProcess[] = [];
  let pg: { dispose(): Promise<void> } | undefined;

  let port = 0;
  const serve = () =>
    startServe(serverTree, {
      dataDir,
      port,
      databaseUrl,
      env: {
        BULWARK_AGENT_HEARTBEAT_S: String(HEARTBEAT_S),
        BULWARK_LOG_LEVEL: 'warn',
        // The jobs name a built-in advisory (ProxyLogon), on the server as on the agent.
        BULWARK_BUILTIN_ADVISORIES: 'true',
      },
      startMs: 60_000,
    });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bulwark-agent-server-'));
    dataDir = join(root, 'data');
    // A fixed port, so the restarted server is where the agents' state says it is.
    port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    if (dialect === 'postgres') {
      const db = await openTestDb('postgres');
      if (!db) return;
      databaseUrl = pgUrlFor(await currentSchema(db));
      pg = db;
    }
    server = await serve();
    ({ admin } = await setupAdmin(server));
    expectStatus(await admin.call('POST', '/api/v1/tenants', { id: TENANT, name: 'Acme' }), 201, 'tenant');
    const token = expectStatus(
      await admin.call('POST', `/api/v1/tenants/${TENANT}/agent-tokens`, { uses: 20, ttl_s: 3600 }),
      201,
      'enrolment token',
    );
    tokenFile = join(root, 'token');
    writeFileSync(tokenFile, token.json.token, { mode: 0o600 });
  }, 240_000);

  afterAll(async () => {
    await Promise.all(running.map((a) => a.stop(3000)));
    await server?.stop();
    await pg?.dispose();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function enrol(name: string): Promise<string> {
    const res = await runCli(
      tree,
      [
        'agent',
        'enroll',
        '--server',
        server.url,
        '--token-file',
        tokenFile,
        '--state-dir',
        join(root, name),
        '--json',
      ],
      { ms: 60_000 },
    );
    expect(res.code, res.output).toBe(0);
    return JSON.parse(res.output.slice(res.output.indexOf('{'))).agent_id as string;
  }
  function run(name: string): AgentProcess {
    const proc = startAgent(tree, join(root, name));
    running.push(proc);
    return proc;
  }
  const agentInfo = async (id: string) =>
    expectStatus(await admin.call('GET', `/api/v1/tenants/${TENANT}/agents/${id}`), 200, `agent ${id}`).json;
  async function jobDone(id: string, ms = 30_000) {
    return waitFor(
      `agent job ${id} to end`,
      async () => {
        const job = (await admin.call('GET', `/api/v1/tenants/${TENANT}/agent-jobs/${id}`)).json;
        return ['succeeded', 'failed', 'refused', 'expired', 'cancelled'].includes(job?.state) && job;
      },
      ms,
      100,
    );
  }
  async function queueJob(
    agentId: string,
    kind: string,
    params: Record<string, unknown> = {},
  ): Promise<string> {
    const res = expectStatus(
      await admin.call('POST', `/api/v1/tenants/${TENANT}/agent-jobs`, { kind, params, agents: [agentId] }),
      202,
      `queue ${kind}`,
    );
    return res.json.jobs[0].id as string;
  }

  let main: { id: string; proc: AgentProcess };

  it('enrols, and within 30 s the machine is an asset (source agent) with every dpkg package at its exact version', async () => {
    const id = await enrol('main');
    const started = Date.now();
    const proc = run('main');
    main = { id, proc };
    const asset = await waitFor(
      'the agent asset with its inventory',
      async () => {
        const res = await admin.call('GET', `/api/v1/tenants/${TENANT}/assets/${id}`);
        return res.status === 200 && (res.json.facts?.products?.length ?? 0) > 0 && res.json;
      },
      30_000,
      200,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(asset.source).toBe('agent');
    const products = asset.facts.products as { product: string; version: string; name?: string }[];
    const served = new Map(products.map((p) => [p.product, p.version]));
    const dpkg = dpkgPackages();
    if (dpkg) {
      for (const [name, version] of dpkg) expect(served.get(`pkg:deb/debian/${name}`), name).toBe(version);
    } else console.log('skipped: dpkg-query is not installed; no Debian package comparison');
    const rpm = rpmPackages();
    if (rpm)
      for (const [name, version] of rpm)
        expect(
          products.find((p) => p.product.startsWith('pkg:rpm/') && p.product.endsWith(`/${name}`))?.version,
          name,
        ).toBe(version);
    else console.log('skipped: rpm has no database on this machine; no rpm comparison');
    await waitFor('online', async () => (await agentInfo(id)).online, 5000, 100);
  });

  it('runs an inventory job end to end (signed envelope, signed result)', async () => {
    const jobId = await queueJob(main.id, 'inventory');
    const job = await jobDone(jobId);
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
  });

  it('runs hunt (on generated logs via params.paths), mitigate, rollback and verify end to end', async () => {
    const logs = join(root, 'logs');
    await generateLogs({ out: logs, bytes: 300_000, seed: 7, attacks: 3 });
    const advisory_id = 'proxylogon-2021-03';
    const hunt = await jobDone(
      await queueJob(main.id, 'hunt', { advisory_id, paths: [join(logs, 'EXCH01')] }),
      60_000,
    );
    expect(hunt.state, JSON.stringify(hunt).slice(0, 500)).toBe('succeeded');
    expect(hunt.result?.output?.report ?? hunt.result?.report).toBeTruthy();
    // Mitigations are Windows/IIS steps: on this Linux host each ends with an outcome, never silently.
    for (const kind of ['mitigate', 'rollback']) {
      const job = await jobDone(await queueJob(main.id, kind, { advisory_id }));
      expect(['succeeded', 'failed'], `${kind}: ${JSON.stringify(job).slice(0, 500)}`).toContain(job.state);
      if (job.state === 'failed') expect(job.reason, kind).toBeTruthy();
    }
    const verify = await jobDone(await queueJob(main.id, 'verify', { advisory_id }));
    expect(verify.state, JSON.stringify(verify).slice(0, 500)).toBe('succeeded');
    expect(main.proc.logs.filter((l) => l.msg === 'job refused')).toEqual([]);
  });

  it('two clones copied before enrolment enrol as two agents', async () => {
    // The image is copied while it holds no identity (an empty state directory): each copy makes its own key.
    mkdirSync(join(root, 'image'));
    cpSync(join(root, 'image'), join(root, 'clone-a'), { recursive: true });
    cpSync(join(root, 'image'), join(root, 'clone-b'), { recursive: true });
    const a = await enrol('clone-a');
    const b = await enrol('clone-b');
    expect(a).not.toBe(b);
  });

  it('a copy of an enrolled agent is quarantined; neither copy loops', async () => {
    const id = await enrol('vm');
    const first = run('vm');
    await waitFor('vm online', async () => (await agentInfo(id)).online, 20_000, 200);
    await first.stop();
    cpSync(join(root, 'vm'), join(root, 'vm-copy'), { recursive: true });
    const original = run('vm');
    await waitFor('vm online again', async () => (await agentInfo(id)).online, 20_000, 200);
    const copy = run('vm-copy');
    expect(
      await Promise.race([copy.exited, new Promise((r) => setTimeout(() => r('running'), 20_000))]),
    ).toBe(3);
    await waitFor('quarantined', async () => (await agentInfo(id)).state === 'quarantined', 10_000, 200);
    // The original is told too, on its connection or at its next message; it stops for good as well.
    expect(
      await Promise.race([original.exited, new Promise((r) => setTimeout(() => r('running'), 20_000))]),
    ).toBe(3);
    for (const proc of [copy, original])
      expect(proc.logs.filter((l) => l.msg === 'connected').length).toBeLessThanOrEqual(1);
  });

  it('a job for an offline agent waits and runs when the agent comes back', async () => {
    expect(await main.proc.stop()).toBe(0);
    await waitFor('offline', async () => !(await agentInfo(main.id)).online, 10_000, 200);
    const jobId = await queueJob(main.id, 'inventory');
    const waiting = (await admin.call('GET', `/api/v1/tenants/${TENANT}/agent-jobs/${jobId}`)).json;
    expect(waiting.state).toBe('queued');
    main.proc = run('main');
    expect((await jobDone(jobId)).state).toBe('succeeded');
  });

  it('a server restart mid-job loses nothing and runs nothing twice', async () => {
    const jobId = await queueJob(main.id, 'inventory');
    await waitFor(
      'job received',
      () => main.proc.logs.find((l) => l.msg === 'job received' && l.job_id === jobId),
      20_000,
    );
    await server.kill9();
    server = await serve();
    admin = admin.at(server.url);
    const job = await jobDone(jobId, 60_000);
    expect(main.proc.logs.filter((l) => l.msg === 'job started' && l.job_id === jobId)).toHaveLength(1);
    expect(job.state).toBe('succeeded');
  });

  it('a half-open agent (SIGSTOP) reads offline within two heartbeat intervals and online after SIGCONT', async () => {
    await waitFor('online', async () => (await agentInfo(main.id)).online, 20_000, 200);
    main.proc.child.kill('SIGSTOP');
    const stopped = Date.now();
    try {
      await waitFor('offline', async () => !(await agentInfo(main.id)).online, 10_000, 100);
      // Two intervals, plus the presence batch (≤ 1 s) and the poll.
      expect(Date.now() - stopped).toBeLessThan(2 * HEARTBEAT_S * 1000 + 1500);
    } finally {
      main.proc.child.kill('SIGCONT');
    }
    await waitFor('online again', async () => (await agentInfo(main.id)).online, 15_000, 100);
  });
});
