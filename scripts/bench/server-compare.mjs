// Two runs of the server benchmark side by side: `node scripts/bench/server-compare.mjs before.json after.json`
// prints a markdown table per database from the JSON files that `BULWARK_BENCH_JSON=<file> npm run bench -- server`
// writes, with the ratio after/before and the targets: time to know no worse (within run-to-run noise, 5%) and
// < 10 s, PostgreSQL single-asset fact updates at least twice as fast, event delivery between replicas p99 < 100 ms.
// With --write the table also goes into docs/benchmarks.md between its bench:server-compare markers.
import { readFileSync, writeFileSync } from 'node:fs';

const TTK_TARGET_S = 10;
const TTK_NOISE = 1.05;
const PUT_SPEEDUP_TARGET = 2;
const EVENT_P99_TARGET_MS = 100;

const ms = (x) => (x === undefined || Number.isNaN(x) ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const s2 = (x) => (x === undefined ? '—' : `${(x / 1000).toFixed(2)} s`);
const dur = (x) => (x === undefined ? '—' : x >= 1000 ? s2(x) : `${ms(x)} ms`);
const fmt = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const ratio = (a, b) => (a && b ? `×${(b / a).toFixed(2)}` : '—');
const met = (ok) => (ok ? 'met' : '**NOT met**');

function load(file) {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  if (!doc.results) throw new Error(`${file}: not a server benchmark result (no "results")`);
  return doc;
}

const how = (main) =>
  main.importMode === 'job' ? 'import request → job seen done' : 'import request → answer (synchronous)';

function events(main) {
  const e = main.events;
  if (!e) return { text: '—' };
  if (e.na) return { text: `n/a (${e.na})` };
  const lost = e.missing ? `, ${fmt(e.missing)} of ${fmt(e.writes)} lost` : '';
  return {
    text: `${ms(e.p50)} / ${ms(e.p95)} / ${ms(e.p99)} / ${ms(e.max)} ms${lost}`,
    ok: e.missing === 0 && e.p99 < EVENT_P99_TARGET_MS,
  };
}

function section(dialect, a, b) {
  const A = a.results[dialect];
  const B = b.results[dialect];
  const am = A.main;
  const bm = B.main;
  const rows = [];
  const row = (what, x, y, note = '') => rows.push(`| ${what} | ${x} | ${y} | ${note} |`);

  row(
    `**time to know**, ${fmt(bm.run.assets_evaluated)} Exchange assets (before: ${how(am)}; after: ${how(bm)})`,
    `**${s2(am.ttkMs)}**`,
    `**${s2(bm.ttkMs)}**`,
    `${ratio(am.ttkMs, bm.ttkMs)}; no worse (≤ ×${TTK_NOISE}) and < ${TTK_TARGET_S} s: ${met(bm.ttkMs <= am.ttkMs * TTK_NOISE && bm.ttkMs < TTK_TARGET_S * 1000)}`,
  );
  row(
    "… the run's own `run.duration_ms`",
    s2(am.run.duration_ms),
    s2(bm.run.duration_ms),
    ratio(am.run.duration_ms, bm.run.duration_ms),
  );
  row('… the import request answered', dur(am.importAnswerMs), dur(bm.importAnswerMs));
  row(`… server CPU${dialect === 'postgres' ? ' / PostgreSQL CPU' : ''} during the import`, cpu(am), cpu(bm));
  if (A.mixed && B.mixed)
    row(
      'time to know, mixed fleet (20% Exchange)',
      s2(A.mixed.ttkMs),
      s2(B.mixed.ttkMs),
      `${ratio(A.mixed.ttkMs, B.mixed.ttkMs)}; < ${TTK_TARGET_S} s: ${met(B.mixed.ttkMs < TTK_TARGET_S * 1000)}`,
    );
  for (const [k, name] of Object.entries({
    advisory: 'advisory exposure (1,000 tenants)',
    tenant: 'tenant exposure',
    assets: 'asset list by verdict',
  })) {
    const x = am.queries?.[k]?.seq;
    const y = bm.queries?.[k]?.seq;
    row(
      `${name}: p50 / p99, 1 client`,
      `${ms(x?.p50)} / ${ms(x?.p99)} ms`,
      `${ms(y?.p50)} / ${ms(y?.p99)} ms`,
    );
  }
  const putOk = dialect !== 'postgres' || bm.put.rps >= PUT_SPEEDUP_TARGET * am.put.rps;
  row(
    `**fact update** \`PUT …/assets/:id\`, ${b.constants?.PUT_CLIENTS ?? 8} clients: req/s (p50 / p99)`,
    `**${fmt(am.put.rps)}/s** (${ms(am.put.p50)} / ${ms(am.put.p99)} ms)`,
    `**${fmt(bm.put.rps)}/s** (${ms(bm.put.p50)} / ${ms(bm.put.p99)} ms)`,
    `${ratio(am.put.rps, bm.put.rps)}${dialect === 'postgres' ? `; ≥ ×${PUT_SPEEDUP_TARGET}: ${met(putOk)}` : ''}`,
  );
  const cpuA = am.put.cpuPerRequestMs;
  const cpuB = bm.put.cpuPerRequestMs;
  if (cpuA && cpuB) {
    const each = (c) =>
      `${ms(c.server)}${c.postgres != null ? ` / ${ms(c.postgres)}` : ''} / ${ms(c.client)} ms`;
    row(
      `… CPU per fact update: server${dialect === 'postgres' ? ' / PostgreSQL' : ''} / benchmark client`,
      each(cpuA),
      each(cpuB),
    );
  }
  row(
    'registration / batch update (assets/s)',
    `${fmt(am.register.rate)} / ${fmt(am.batch.rate)}`,
    `${fmt(bm.register.rate)} / ${fmt(bm.batch.rate)}`,
  );
  if (dialect === 'postgres') {
    const ea = events(am);
    const eb = events(bm);
    row(
      'event delivery, write on replica A → SSE client on replica B: p50 / p95 / p99 / max',
      ea.text,
      eb.text,
      eb.ok === undefined ? '' : `p99 < ${EVENT_P99_TARGET_MS} ms: ${met(eb.ok)}`,
    );
  }
  const problems = (x) => [...x.main.problems, ...(x.mixed?.problems ?? [])];
  row(
    'correctness (server verdicts = construction = core engine, every tenant)',
    problems(A).length ? `**FAIL**: ${problems(A).slice(0, 3).join('; ')}` : 'PASS',
    problems(B).length ? `**FAIL**: ${problems(B).slice(0, 3).join('; ')}` : 'PASS',
  );
  const title = dialect === 'sqlite' ? 'SQLite (embedded, WAL)' : 'PostgreSQL 15 (local, pool of 10)';
  return `### ${title}\n\n| measurement | ${a.label} | ${b.label} | after / before |\n|---|---|---|---|\n${rows.join('\n')}`;
}

function cpu(main) {
  return `${main.serverCpu.toFixed(2)} s${main.pgCpu != null ? ` / ${main.pgCpu.toFixed(2)} s` : ''}`;
}

const args = process.argv.slice(2);
const write = args.includes('--write');
// --section NAME: the markers (bench:NAME:start/end) the table goes between; --title TEXT: a heading suffix.
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const sectionName = option('--section') ?? 'server-compare';
const titleSuffix = option('--title');
const files = args.filter((x, i) => !x.startsWith('--') && !['--section', '--title'].includes(args[i - 1]));
if (files.length !== 2 || !/^[a-z0-9-]+$/.test(sectionName)) {
  console.error(
    'usage: node scripts/bench/server-compare.mjs [--write] [--section NAME] [--title TEXT] <before.json> <after.json>',
  );
  process.exit(2);
}
const [a, b] = files.map(load);
if (a.assets !== b.assets)
  console.error(`warning: the runs have different fleets (${a.assets} vs ${b.assets} assets)`);
const dialects = Object.keys(b.results).filter((d) => a.results[d]);
const markdown = `## Control-plane server: ${a.label} beside ${b.label}${titleSuffix ? ` — ${titleSuffix}` : ''}

${fmt(b.assets)} assets over ${fmt(b.tenants)} tenants, the same fleet and workload for both (the server section above
describes it), run one after the other on the same machine: before ${a.at}, after ${b.at}.

${dialects.map((d) => section(d, a, b)).join('\n\n')}`;
console.log(markdown);
if (write) {
  const docPath = new URL('../../docs/benchmarks.md', import.meta.url);
  const start = `<!-- bench:${sectionName}:start -->`;
  const end = `<!-- bench:${sectionName}:end -->`;
  const block = `${start}\n${markdown}\n${end}`;
  let doc = readFileSync(docPath, 'utf8');
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  doc =
    from >= 0 && to > from
      ? doc.slice(0, from) + block + doc.slice(to + end.length)
      : doc.replace('<!-- bench:server:end -->', (m) => `${m}\n\n${block}`);
  writeFileSync(docPath, doc);
  console.error('(written to docs/benchmarks.md)');
}
