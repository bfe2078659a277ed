/**
 * End to end on loopback: a farm of emulated Exchange servers covering every 2013/2016/2019 CU of the catalog in
 * every state it can be in, scanned by the built `bulwark scan`, whose requests the emulators log; those logs must
 * then read as probed — never as compromise — to `bulwark hunt`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from '../advisories/index.js';
import { type Farm, startFarm } from '../lab/index.js';
import { CHECK_CVE, type HostResult } from './index.js';
import { scanKnowledge } from './knowledge.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/bulwark.js');
const kb = loadKnowledgeBase();

/** Runs the built CLI asynchronously (the farm answers from this process, so a blocking spawn would deadlock). */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('scan a farm of emulators, then hunt their logs', () => {
  let farm: Farm;
  let logDir: string;
  let results: HostResult[];
  let summary: { hosts: number; states: Record<string, number> };

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'bulwark-farm-'));
    const { judge } = scanKnowledge(kb);
    const catalogBuilds = kb.catalogs.flatMap((c) =>
      c.trains.flatMap((t) => [
        { build: t.build, name: `${t.product_name} ${t.name}` },
        ...t.updates.map((u) => ({ build: u.build, name: `${t.product_name} ${t.name} ${u.name}` })),
      ]),
    );
    farm = await startFarm({
      logDir,
      catalogBuilds,
      isVulnerable: (b) => judge(b).vulnerable.includes(CHECK_CVE),
    });
    const targets = join(logDir, 'targets.txt');
    writeFileSync(targets, `# the farm\n${farm.servers.map((s) => s.url).join('\n')}\n`);
    const run = await cli(['scan', '--targets', targets, '--json']);
    expect(run.status, run.stderr).toBe(1);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    summary = lines.pop().summary;
    results = lines;
  }, 120_000);

  afterAll(async () => {
    await farm?.close();
  });

  it('covers every 2013/2016/2019 CU of the catalog in vulnerable, patched and shielded states', () => {
    const cus = new Set(
      kb.catalogs.flatMap((c) =>
        c.trains
          .filter((t) => /Exchange Server 201[369]$/.test(t.product_name))
          .map((t) => t.build.split('.').slice(0, 3).join('.')),
      ),
    );
    const seen = new Set(farm.servers.map((s) => s.cu));
    expect([...cus].filter((cu) => !seen.has(cu))).toEqual([]);
    for (const state of ['vulnerable', 'patched', 'shielded'])
      expect(farm.servers.some((s) => s.state === state)).toBe(true);
    expect(farm.servers.some((s) => s.hideVersionHeader && s.hideManifest)).toBe(true);
  });

  it('classifies every server as the ground truth says, with the exact build and how it was found', () => {
    const byUrl = new Map(results.map((r) => [r.target, r]));
    const wrong = farm.servers
      .map((s) => ({ s, r: byUrl.get(s.url)! }))
      .filter(({ s, r }) => !r || r.state !== s.state || r.build !== s.build || !r.exact);
    expect(
      wrong.map(({ s, r }) => `${s.url} ${s.build} ${s.state} -> ${r?.state} ${r?.build} ${r?.method}`),
    ).toEqual([]);
    // Servers hiding both the header and the manifest were resolved by probing the ECP build paths.
    const hidden = farm.servers
      .filter((s) => s.hideVersionHeader && s.hideManifest)
      .map((s) => byUrl.get(s.url)!);
    expect(new Set(hidden.map((r) => r.method))).toEqual(new Set(['ecp-build-probe']));
    for (const r of results.filter((x) => x.state === 'vulnerable'))
      expect(r.vulnerable).toContain('CVE-2021-26855');
    for (const r of results.filter((x) => x.state === 'shielded'))
      expect(r.findings).toContain('shielded (request aborted)');
    expect(summary.hosts).toBe(farm.servers.length);
  });

  it('records the self-signed certificate of every emulator', () => {
    expect(results.every((r) => r.tls?.selfSigned && r.findings.includes('certificate is self-signed'))).toBe(
      true,
    );
  });

  it('leaves logs that read as probed, never as compromise', async () => {
    await new Promise((r) => setTimeout(r, 1500)); // the emulators flush their logs every second
    const run = await cli(['hunt', logDir, '--json']);
    const hunt = JSON.parse(run.stdout) as { hosts: { host: string; verdict: string }[] };
    const verdicts = new Map(hunt.hosts.map((h) => [h.host, h.verdict]));
    for (const s of farm.servers) {
      // A shielded server aborts the probe before anything is logged, so its logs hold no evidence at all.
      expect(verdicts.get(s.name), s.name).toBe(s.state === 'shielded' ? 'insufficient_logs' : 'probed');
    }
  });
});

describe('scan input errors', () => {
  it('refuses a range larger than /20 without --force, naming it', () => {
    const r = spawnSync(process.execPath, [BIN, 'scan', '10.0.0.0/16'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bulwark: 10\.0\.0\.0\/16: .*--force/);
  });

  it('names the file and line of a bad target file entry', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bulwark-targets-')), 't.txt');
    writeFileSync(file, '127.0.0.1\nhttps://[::1\n');
    const r = spawnSync(process.execPath, [BIN, 'scan', '--targets', file], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^bulwark: ${file}:2: `));
  });

  it('reports unreachable targets as error states and exits 2 when nothing answered', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'scan', 'exchange.invalid', '127.0.0.1:9', '--json', '--timeout', '1000'],
      { encoding: 'utf8' },
    );
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.slice(0, -1).map((h) => h.state)).toEqual(['error', 'error']);
    expect(r.status).toBe(2);
  });
});
