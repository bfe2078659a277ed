/**
 * Real `bulwark agent enroll|run` processes against a test channel (agent.testkit.ts: a WebSocket server on
 * 127.0.0.1 that speaks the agent protocol with a signing key of the test's own). The test channel is what lets a
 * test hand the agent jobs no real server would send: signed with another key (forged), sent twice (replayed),
 * past their expiry, for another agent or tenant, with a script that does not match its hash.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedResult } from '../../src/api/agent-protocol.js';
import {
  type AgentProcess,
  agentTree,
  type CliTree,
  runCli,
  startAgent,
  type TestAgent,
  TestChannel,
  waitFor,
} from './agent.testkit.js';

/** `dpkg-query -W`'s own format (`${binary:Package}\t${Version}`) plus the status, to keep installed packages. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
const DPKG_DEFAULT_WITH_STATUS = '${binary:Package}\t${Version}\t${db:Status-Abbrev}\n';

let tree: CliTree;
let channel: TestChannel;
let root: string;
const running: AgentProcess[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  tree = agentTree();
  console.log(`transpiled in ${Date.now() - t0} ms`);
  channel = new TestChannel({ heartbeat_s: 1 });
  await channel.start();
  root = mkdtempSync(join(tmpdir(), 'bulwark-agent-channel-'));
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((a) => a.stop(3000)));
  await channel?.close();
  tree?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

function agentIn(name: string, env: Record<string, string> = {}): AgentProcess {
  const proc = startAgent(tree, join(root, name), env);
  running.push(proc);
  return proc;
}

const config = (dir: string) => JSON.parse(readFileSync(join(root, dir, 'agent.json'), 'utf8'));

async function resultOf(agent: TestAgent, jobId: string, ms = 20_000): Promise<SignedResult> {
  return waitFor(`result of ${jobId}`, () => channel.results(agent, jobId)[0], ms);
}

describe('bulwark agent enroll', () => {
  it('takes the token from a file or standard input, never overwrites an identity without --force', async () => {
    const dir = join(root, 'enrolled');
    const tokenFile = join(root, 'token.txt');
    writeFileSync(tokenFile, `bwe_abcdefABCDEF_${'x'.repeat(43)}\n`);
    const first = await runCli(tree, [
      'agent',
      'enroll',
      '--server',
      channel.url,
      '--token-file',
      tokenFile,
      '--state-dir',
      dir,
      '--json',
    ]);
    expect(first.code, first.output).toBe(0);
    const printed = JSON.parse(first.output.slice(first.output.indexOf('{')));
    expect(printed.agent_id).toMatch(/^ag-/);
    expect(config('enrolled')).toMatchObject({
      agent_id: printed.agent_id,
      tenant_id: 'tenant-a',
      generation: 0,
    });
    expect(statSync(join(dir, 'agent-key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'agent.json'), 'utf8')).not.toContain('bwe_');

    const again = await runCli(tree, [
      'agent',
      'enroll',
      '--server',
      channel.url,
      '--token-file',
      tokenFile,
      '--state-dir',
      dir,
    ]);
    expect(again.code).toBe(2);
    expect(again.output).toContain(`already enrolled as ${printed.agent_id}`);
    expect(again.output).toContain('--force');

    const forced = await runCli(
      tree,
      [
        'agent',
        'enroll',
        '--server',
        channel.url,
        '--token-file',
        '-',
        '--state-dir',
        dir,
        '--force',
        '--json',
      ],
      { stdin: `bwe_abcdefABCDEF_${'y'.repeat(43)}` },
    );
    expect(forced.code, forced.output).toBe(0);
    expect(config('enrolled').agent_id).not.toBe(printed.agent_id);

    const bad = await runCli(tree, [
      'agent',
      'enroll',
      '--server',
      channel.url,
      '--token-file',
      join(root, 'missing'),
      '--state-dir',
      join(root, 'x'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('--token-file');
    const notToken = await runCli(
      tree,
      ['agent', 'enroll', '--server', channel.url, '--token-file', '-', '--state-dir', join(root, 'x')],
      {
        stdin: 'hello',
      },
    );
    expect(notToken.code).toBe(2);
    expect(notToken.output).toContain('does not hold an enrolment token');
  });
});

describe('bulwark agent run on a test channel', () => {
  let agent: TestAgent;
  let proc: AgentProcess;

  beforeAll(async () => {
    agent = channel.enrolState(join(root, 'a1'), 'ag-a1');
    proc = agentIn('a1');
    await proc.waitLog('connected');
  });

  it('stores the generation before it says generation_saved, sends heartbeats and a full inventory', async () => {
    await waitFor('generation saved', () => agent.generation >= 1);
    expect(config('a1').generation).toBe(agent.generation);
    const inventory = await waitFor('inventory', () => agent.received.find((m) => m.t === 'inventory'));
    expect(inventory.mode).toBe('full');
    const facts = inventory.facts as { products: { product: string; version: string; name?: string }[] };
    if (existsSync('/usr/bin/dpkg-query')) {
      const printed = execFileSync('dpkg-query', ['-W', '-f', DPKG_DEFAULT_WITH_STATUS], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      })
        .trim()
        .split('\n')
        .map((line) => line.split('\t'))
        .filter((f) => f[2]?.[1] === 'i')
        .map((f) => [f[0]!, f[1]!] as [string, string]);
      const byName = new Map(
        facts.products.map((p) => [p.product.replace(/^pkg:deb\/debian\//, ''), p.version]),
      );
      for (const [name, version] of printed) expect(byName.get(name), name).toBe(version);
    } else console.log('skipped: dpkg-query is not installed; the Debian package comparison did not run');
    await waitFor('inventory stored', () => existsSync(join(root, 'a1', 'inventory.json')));
    const before = agent.received.filter((m) => m.t === 'heartbeat').length;
    await waitFor(
      'two more heartbeats',
      () => agent.received.filter((m) => m.t === 'heartbeat').length >= before + 2,
      5000,
    );
  });

  it('runs a signed job: received (stored first), running, a signed result, acknowledged and removed', async () => {
    const job = channel.sign(channel.envelope(agent));
    channel.sendJob(agent, job);
    const signed = await resultOf(agent, job.envelope.job_id);
    expect(signed.result).toMatchObject({ status: 'succeeded', agent_id: agent.agentId });
    const output = signed.result.output as { facts: unknown; hash: string };
    expect(output.hash).toMatch(/^[0-9a-f]{64}$/);
    const states = agent.received
      .filter((m) => m.t === 'job_status' && m.job_id === job.envelope.job_id)
      .map((m) => m.state);
    expect(states.slice(0, 2)).toEqual(['received', 'running']);
    await waitFor(
      'result file removed after the ack',
      () => readdirSync(join(root, 'a1', 'results')).length === 0,
    );
    expect(readdirSync(join(root, 'a1', 'queue'))).toEqual([]);
  });

  it('refuses forged, unknown-key, replayed, expired, early, foreign, malformed and mismatched jobs with signed results', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const original = channel.sign(channel.envelope(agent));
    channel.sendJob(agent, original);
    await resultOf(agent, original.envelope.job_id);
    await waitFor('original acked', () => readdirSync(join(root, 'a1', 'results')).length === 0);
    const now = Date.now();
    const cases: [string, unknown][] = [
      ['bad_signature', channel.sign(channel.envelope(agent), other)],
      ['unknown_key', channel.sign(channel.envelope(agent, { key_id: 'nobody' }))],
      ['replayed', original],
      ['replayed', channel.sign(channel.envelope(agent, { nonce: original.envelope.nonce }))],
      ['expired', channel.sign(channel.envelope(agent, { expires_at: new Date(now - 1000).toISOString() }))],
      [
        'not_yet_valid',
        channel.sign(channel.envelope(agent, { not_before: new Date(now + 600_000).toISOString() })),
      ],
      ['foreign_agent', channel.sign(channel.envelope(agent, { agent_id: 'ag-someoneelse' }))],
      ['foreign_tenant', channel.sign(channel.envelope(agent, { tenant_id: 'tenant-b' }))],
      ['malformed', { envelope: { ...channel.envelope(agent), kind: 'format-disk' }, signature: 'x' }],
      [
        'script_mismatch',
        channel.sign(
          channel.envelope(agent, { params: { script: 'Remove-Item C:\\' }, script_sha256: '0'.repeat(64) }),
        ),
      ],
    ];
    const startedBefore = proc.logs.filter((l) => l.msg === 'job started').length;
    for (const [reason, job] of cases) {
      const before = agent.received.length;
      channel.sendJob(agent, job);
      const id = (job as { envelope: { job_id: string } }).envelope.job_id;
      const message = await waitFor(`refusal ${reason}`, () =>
        agent.received
          .slice(before)
          .find((m) => m.t === 'job_result' && (m.result as SignedResult).result.job_id === id),
      );
      channel.results(agent, id); // every result for the id verifies with the agent's key
      const refused = message.result as SignedResult;
      expect(refused.result.status, reason).toBe('refused');
      expect(refused.result.reason, reason).toBe(reason);
    }
    // Nothing ran.
    expect(proc.logs.filter((l) => l.msg === 'job started').length).toBe(startedBefore);
  });

  it('drops a connection that stays silent for two heartbeat intervals and reconnects', async () => {
    const connections = agent.connections;
    const from = proc.logs.length;
    channel.silent = true;
    const t0 = Date.now();
    await proc.waitLog(/no message from the server in two heartbeat intervals/, 10_000, from);
    expect(Date.now() - t0).toBeLessThan(4000);
    channel.silent = false;
    await waitFor('reconnected', () => agent.connections > connections, 10_000);
  });

  it('keeps a result until the server acknowledges it and sends it again after a reconnect', async () => {
    channel.options.ackResults = false;
    const job = channel.sign(channel.envelope(agent));
    channel.sendJob(agent, job);
    const first = await resultOf(agent, job.envelope.job_id);
    expect(readdirSync(join(root, 'a1', 'results'))).toEqual([`${job.envelope.job_id}.json`]);
    // From now on results are acknowledged: the one re-sent after the reconnect is.
    channel.options.ackResults = true;
    const connections = agent.connections;
    agent.socket!.terminate();
    await waitFor('reconnected', () => agent.connections > connections, 10_000);
    const again = await waitFor('result re-sent', () => channel.results(agent, job.envelope.job_id)[1]);
    expect(again.signature).toBe(first.signature);
    await waitFor('acked', () => readdirSync(join(root, 'a1', 'results')).length === 0);
  });

  it('survives a crash: an unacknowledged result is sent once more and the job never runs again', async () => {
    channel.options.ackResults = false;
    const job = channel.sign(channel.envelope(agent));
    channel.sendJob(agent, job);
    await resultOf(agent, job.envelope.job_id);
    await proc.kill9();
    channel.options.ackResults = true;
    proc = agentIn('a1');
    await waitFor(
      'result re-sent after restart',
      () => channel.results(agent, job.envelope.job_id).length >= 2,
    );
    expect(proc.logs.filter((l) => l.msg === 'job started' && l.job_id === job.envelope.job_id)).toEqual([]);
    // The server sends the job again (it never saw `received` stored): answered from the store, not run.
    channel.sendJob(agent, job);
    await waitFor('re-sent result', () => channel.results(agent, job.envelope.job_id).length >= 3);
    expect(proc.logs.filter((l) => l.msg === 'job started' && l.job_id === job.envelope.job_id)).toEqual([]);
  });

  it('refuses a second agent process on the same state directory', async () => {
    const second = await runCli(tree, ['agent', 'run', '--state-dir', join(root, 'a1')]);
    expect(second.code).toBe(2);
    expect(second.output).toContain(`another bulwark agent process (pid ${proc.pid}`);
  });

  it('stops cleanly on SIGTERM with exit 0', async () => {
    expect(await proc.stop()).toBe(0);
    expect(existsSync(join(root, 'a1', 'agent.lock'))).toBe(false);
  });
});

describe('back-off and removal', () => {
  it('waits at least Retry-After after a 503', async () => {
    const busy = new TestChannel({ heartbeat_s: 1, refuse: { count: 2, retryAfterS: 1 } });
    await busy.start();
    try {
      busy.enrolState(join(root, 'b1'), 'ag-b1');
      const proc = agentIn('b1');
      await proc.waitLog('connected', 15_000);
      const times = busy.upgrades.map((u) => u.at);
      expect(busy.upgrades.map((u) => u.status).slice(0, 3)).toEqual([503, 503, 101]);
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1000);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1000);
      await proc.stop();
    } finally {
      await busy.close();
    }
  });

  it('a clone of an enrolled agent is quarantined: it stops with exit 3, one line, and does not start again', async () => {
    const agent = channel.enrolState(join(root, 'c1'), 'ag-c1');
    const original = agentIn('c1');
    await original.waitLog('connected');
    await waitFor('generation 1', () => agent.generation === 1);
    await original.stop();
    // The VM is copied (its lock belongs to no running process on the copy), then the original runs on.
    cpSync(join(root, 'c1'), join(root, 'c1-clone'), { recursive: true });
    const again = agentIn('c1');
    await waitFor('generation 2', () => agent.generation === 2);
    const clone = agentIn('c1-clone');
    expect(await clone.exited).toBe(3);
    const fatal = clone.logs.filter((l) => l.level >= 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.state).toBe('quarantined');
    expect(agent.helloAt.length).toBe(3);
    const restart = await runCli(tree, ['agent', 'run', '--state-dir', join(root, 'c1-clone')]);
    expect(restart.code).toBe(2);
    expect(restart.output).toContain('was quarantined by the server');
    expect(agent.helloAt.length).toBe(3);
    await again.stop();
  });
});
