// Exposure engine throughput: verdicts for 100,000 synthetic assets against all loaded advisories, on one core.
// Also run with 1,000 extra advisories for other products, to show cost follows matches, not advisories.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKnowledgeBase } from '../../dist/advisories/index.js';
import { ExposureEngine } from '../../dist/core/index.js';
import { prng } from './prng.mjs';

const ASSETS = 100_000;
const TARGET = 200_000;

export function syntheticFleet(kb, count, seed = 42) {
  const rand = prng(seed);
  const builds = kb.catalogs.flatMap((c) =>
    c.trains.flatMap((t) => [t.build, ...t.updates.map((u) => u.build)]),
  );
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const assets = [];
  for (let i = 0; i < count; i++) {
    const products = [];
    const r = rand();
    if (r < 0.8) products.push({ product: 'microsoft:exchange_server', version: pick(builds) });
    else if (r < 0.9)
      products.push({
        product: 'microsoft:exchange_server',
        version: `15.${Math.floor(rand() * 3)}.${Math.floor(rand() * 3000)}.${Math.floor(rand() * 40)}`,
      });
    products.push({ product: 'pkg:deb/debian/openssl', version: `1.1.1n-0+deb11u${Math.floor(rand() * 6)}` });
    assets.push({
      id: `asset-${i}`,
      tenant: `tenant-${i % 1000}`,
      os: { product: 'microsoft:windows_server_2019', version: `10.0.17763.${Math.floor(rand() * 6000)}` },
      products,
      installed_kbs: rand() < 0.3 ? ['KB5000871'] : [],
      endpoints: [],
      tags: [],
    });
  }
  return assets;
}

/** 1,000 advisories for products the fleet does not run, each with 20 ranges. */
function unrelatedAdvisories(count) {
  return Array.from({ length: count }, (_, i) => ({
    schema_version: 1,
    id: `synthetic-${i}`,
    title: 'synthetic',
    summary: 'synthetic',
    published: '2024-01-01',
    cves: [{ id: `CVE-2099-${String(10000 + i)}`, cwe: [] }],
    affected: [
      {
        product: `vendor${i}:product${i}`,
        scheme: 'dotted',
        cves: [`CVE-2099-${String(10000 + i)}`],
        ranges: Array.from({ length: 20 }, (_, j) => ({ introduced: `${j}.0`, fixed: `${j}.5` })),
        versions: [],
        fixed_versions: [],
        not_affected_versions: [],
      },
    ],
    fixes: [],
    mitigations: [],
    virtual_patches: [],
    hunt_rules: [],
    references: [],
  }));
}

function measure(engine, assets) {
  for (let i = 0; i < 5000; i++) engine.evaluate(assets[i % assets.length]);
  let verdicts = 0;
  const start = process.hrtime.bigint();
  for (const a of assets) verdicts += engine.evaluate(a).verdicts.length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, rate: assets.length / seconds, verdicts };
}

export async function run() {
  const kb = loadKnowledgeBase();
  const assets = syntheticFleet(kb, ASSETS);
  const base = measure(kb.engine, assets);
  const wide = new ExposureEngine([...kb.advisories, ...unrelatedAdvisories(1000)], kb.catalogIndex);
  const widened = measure(wide, assets);
  // Worst case for the engine's per-version memo: every asset runs a build no other asset runs.
  const distinct = assets.map((a, i) => ({
    ...a,
    products: a.products.map((p) =>
      p.product === 'microsoft:exchange_server'
        ? { ...p, version: `15.${i % 3}.${(i >> 2) % 2500}.${1000 + i}` }
        : p,
    ),
  }));
  const cold = measure(new ExposureEngine(kb.advisories, kb.catalogIndex), distinct);
  const peakMb = process.resourceUsage().maxRSS / 1024;

  // End to end through the CLI: read and validate a 100,000-asset JSON facts file, judge, print JSON.
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const facts = join(dir, 'facts.json');
  writeFileSync(facts, JSON.stringify({ assets }));
  const t0 = process.hrtime.bigint();
  try {
    execFileSync(
      process.execPath,
      [new URL('../../bin/bulwark.js', import.meta.url).pathname, 'check', '--facts', facts, '--json'],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        maxBuffer: 1 << 30,
      },
    );
  } catch (err) {
    if (err.status !== 1) throw err; // 1 = exposed assets found, expected here
  }
  const cliSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(dir, { recursive: true, force: true });

  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  return `## Exposure engine

${fmt(ASSETS)} synthetic assets (80% known Exchange builds from the catalog, 10% unknown builds, every asset with a
Windows OS fact and an unrelated package, 30% with KB5000871 installed), judged on one core against every
loaded advisory. Target: ${fmt(TARGET)} assets/s.

| run | advisories | assets/s | verdicts | vs. target |
|---|---|---|---|---|
| built-in advisories | ${kb.advisories.length} | ${fmt(base.rate)} | ${fmt(base.verdicts)} | ${(base.rate / TARGET).toFixed(2)}x |
| + 1,000 advisories for other products | ${kb.advisories.length + 1000} | ${fmt(widened.rate)} | ${fmt(widened.verdicts)} | ${(widened.rate / TARGET).toFixed(2)}x |
| every asset on a build no other asset runs | ${kb.advisories.length} | ${fmt(cold.rate)} | ${fmt(cold.verdicts)} | ${(cold.rate / TARGET).toFixed(2)}x |

Ratio of the two runs: ${(widened.rate / base.rate).toFixed(2)} (1.00 = adding advisories for products the fleet
does not run costs nothing, as the product index intends). The engine remembers each rule's judgement per version
string, since a fleet runs few distinct builds; the last row defeats that memo. Peak RSS of the benchmark process: ${fmt(peakMb)} MB.

End to end, \`bulwark check --facts <100,000 assets>.json --json\` (read, validate, judge, print): ${cliSeconds.toFixed(2)} s.`;
}
