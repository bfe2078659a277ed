// `npm run bench -- <name...>`: runs benchmarks against the built code and records each result table in
// docs/benchmarks.md between markers, together with the machine it ran on. No name runs them all.
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const BENCHES = {
  console: () => import('./bench/console.mjs'),
  exposure: () => import('./bench/exposure.mjs'),
  fleet: () => import('./bench/fleet.mjs'),
  hunt: () => import('./bench/hunt.mjs'),
  scan: () => import('./bench/scan.mjs'),
  server: () => import('./bench/server.mjs'),
  shield: () => import('./bench/shield.mjs'),
};

// Names, then options for the benchmarks as `--key value` or `--key=value` (e.g. `fleet --agents 10000 --db sqlite`).
const args = process.argv.slice(2);
const names = args.filter(
  (a, i) => !a.startsWith('-') && !(args[i - 1]?.startsWith('--') && !args[i - 1].includes('=')),
);
const selected = names.length ? names : Object.keys(BENCHES);
for (const name of selected) {
  if (!BENCHES[name]) {
    console.error(`bench: unknown benchmark "${name}"; available: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}

// Benchmarks measure the built code: build it first, so a run never measures a stale dist/. The lab fixtures
// the benchmarks drive (log generator, ModSecurity harness) are not shipped: they compile to .bench/fixtures.
if (!process.env.BULWARK_BENCH_NO_BUILD) {
  execSync('npm run build', { stdio: 'inherit' });
  execSync('npx tsc -p tsconfig.fixtures.json', { stdio: 'inherit' });
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const docPath = new URL('../docs/benchmarks.md', import.meta.url);

for (const name of selected) {
  const { run } = await BENCHES[name]();
  const markdown = await run();
  const stamp = `_Measured ${new Date().toISOString().slice(0, 10)} on ${machine} with \`npm run bench -- ${name}\`._`;
  const section = `<!-- bench:${name}:start -->\n${markdown.trim()}\n\n${stamp}\n<!-- bench:${name}:end -->`;
  // BULWARK_BENCH_NO_DOC=1: print only (exploratory runs at other sizes must not replace the published figures).
  if (process.env.BULWARK_BENCH_NO_DOC) {
    console.log(`\n${markdown.trim()}`);
    continue;
  }
  let doc = readFileSync(docPath, 'utf8');
  const re = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*?<!-- bench:${name}:end -->`);
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(docPath, doc);
  console.log(`\n${markdown.trim()}\n\n(written to docs/benchmarks.md)`);
}
