// Scan throughput: `bulwark scan` over 2,000 emulated Exchange front ends on loopback (127.0.x.y:8443, a spread of
// builds in vulnerable / patched / shielded states, some hiding the version header and manifest), against nmap
// fetching the OWA pages of the same hosts with `--script http-headers,http-title`, in this one run.
// Correctness is bulwark's classification against the farm's ground truth (state, exact build).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKnowledgeBase } from '../../dist/advisories/index.js';
import { startFarm } from '../../dist/lab/index.js';
import { CHECK_CVE } from '../../dist/scan/index.js';
import { scanKnowledge } from '../../dist/scan/knowledge.js';

const COUNT = Number(process.env.BULWARK_BENCH_SCAN_COUNT ?? 2000);
const TARGET_RATE = 300;
const BIN = new URL('../../bin/bulwark.js', import.meta.url).pathname;
const NMAP = '/usr/bin/nmap';

function exec(cmd, args) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (status) =>
      resolve({
        status,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: err,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      }),
    );
  });
}

export async function run() {
  const kb = loadKnowledgeBase();
  const { judge } = scanKnowledge(kb);
  const catalogBuilds = kb.catalogs.flatMap((c) =>
    c.trains.flatMap((t) => [
      { build: t.build, name: `${t.product_name} ${t.name}` },
      ...t.updates.map((u) => ({ build: u.build, name: `${t.product_name} ${t.name} ${u.name}` })),
    ]),
  );
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-scan-'));
  // The farm runs in this process; the scanners run as their own processes on the same two cores.
  const farm = await startFarm({
    count: COUNT,
    catalogBuilds,
    isVulnerable: (b) => judge(b).vulnerable.includes(CHECK_CVE),
  });
  try {
    const targets = join(dir, 'targets.txt');
    writeFileSync(targets, `${farm.servers.map((s) => s.url).join('\n')}\n`);
    const ips = join(dir, 'ips.txt');
    writeFileSync(ips, `${farm.servers.map((s) => s.host).join('\n')}\n`);
    const port = farm.servers[0].port;
    // nmap takes one port list for all hosts: the farm must have bound every server to the same port.
    if (farm.servers.some((s) => s.port !== port))
      throw new Error(`port ${port} was taken on some farm addresses; stop other farms first`);

    const bulwark = await exec(process.execPath, [
      BIN,
      'scan',
      '--targets',
      targets,
      '--json',
      '--concurrency',
      process.env.BULWARK_BENCH_SCAN_CONCURRENCY ?? '64',
    ]);
    const lines = bulwark.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    lines.pop();
    const byUrl = new Map(lines.map((r) => [r.target, r]));
    let correct = 0;
    for (const s of farm.servers) {
      const r = byUrl.get(s.url);
      if (r && r.state === s.state && r.build === s.build && r.exact) correct++;
    }

    let nmapRow = '| nmap | — | — | — | not installed (apt-get install nmap) |';
    if (existsSync(NMAP)) {
      const nmap = await exec(NMAP, [
        '-p',
        String(port),
        '-sT',
        '-Pn',
        '-n',
        '-T4',
        '--min-parallelism',
        '64',
        '--max-retries',
        '1',
        '--script',
        'http-headers,http-title',
        '--script-args',
        'http-headers.path=/owa/auth/logon.aspx,http-title.url=/owa/auth/logon.aspx',
        '-iL',
        ips,
      ]);
      const versions = (nmap.stdout.match(/X-OWA-Version:/g) ?? []).length;
      const titles = (nmap.stdout.match(/http-title: Outlook/g) ?? []).length;
      const rate = COUNT / nmap.seconds;
      nmapRow = `| nmap ${(/Nmap version ([\d.]+)/.exec((await exec(NMAP, ['--version'])).stdout) ?? [])[1] ?? ''} \`-sT -T4 --min-parallelism 64 --script http-headers,http-title\` (logon page) | ${nmap.seconds.toFixed(2)} | ${rate.toFixed(0)} | ${(COUNT / bulwark.seconds / rate).toFixed(2)}x | pages fetched only: ${titles} OWA titles, ${versions} X-OWA-Version headers seen; no build resolution, no check, no verdict |`;
    }
    const rate = COUNT / bulwark.seconds;
    const states = {};
    for (const s of farm.servers) states[s.state] = (states[s.state] ?? 0) + 1;
    return `## Scan

${COUNT.toLocaleString('en-US')} emulated Exchange front ends (\`bulwark lab farm\`: one loopback address each, HTTPS on port ${port},
${Object.entries(states)
  .map(([k, v]) => `${v} ${k}`)
  .join(', ')}; a quarter each show the build in the header, in the
manifest, in both, or in neither — those need the ECP build probes). The farm and the scanners share the machine's cores.
Each tool ran once, wall clock. Target: 300 hosts/s with 100% correct classification.

| tool | seconds | hosts/s | bulwark ÷ tool | result |
|---|---|---|---|---|
| \`bulwark scan --targets <file> --json\` (fingerprint, build probes, active check, TLS, verdicts) | ${bulwark.seconds.toFixed(2)} | ${rate.toFixed(0)} | 1.00x | ${correct}/${COUNT} classified correctly (state and exact build) |
${nmapRow}

Targets: ${rate.toFixed(0)} hosts/s (${rate >= TARGET_RATE ? 'met' : 'NOT met'}); correctness ${((correct / COUNT) * 100).toFixed(1)}% (${correct === COUNT ? 'met' : 'NOT met'}).`;
  } finally {
    await farm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
