// Shield throughput, all in one run with wrk (Debian), small GETs and 64 KB POST bodies, one worker process each:
// the backend alone; nginx as a plain proxy; nginx + ModSecurity with the ProxyLogon virtual patch; nginx +
// ModSecurity + CRS 3.3.x (paranoia 1) as a typical WAF; the Bulwark gateway passing through; the Bulwark
// gateway with the ProxyLogon patch. The backend is nginx answering 200 itself, so it is never the bottleneck.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findModsecNginx } from '../../dist/shield/modsec/index.js';

const SECONDS = Number(process.env.BULWARK_BENCH_SHIELD_SECONDS ?? 8);
const CONNECTIONS = 50;
const BIN = new URL('../../bin/bulwark.js', import.meta.url).pathname;
const PACK = new URL('../../dist/advisories/packs/proxylogon-2021-03/shield/', import.meta.url).pathname;
const CRS_RULES = '/usr/share/modsecurity-crs/rules';
// Debian keeps the editable setup under /etc.
const CRS_SETUP = ['/etc/modsecurity/crs/crs-setup.conf', '/usr/share/modsecurity-crs/crs-setup.conf'].find(
  (p) => existsSync(p),
);

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = connect(port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve();
      });
      c.on('error', () =>
        Date.now() > until ? reject(new Error(`port ${port} never opened`)) : setTimeout(attempt, 50),
      );
    };
    attempt();
  });
}

function exec(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (status) => resolve({ status, out }));
  });
}

/** Starts nginx with one `http {}` body; returns a stop function. */
async function nginx(dir, name, httpBody, port, modsec) {
  const prefix = join(dir, name);
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `${modsec ? `load_module ${modsec};\n` : ''}user root;\nworker_processes 1;\ndaemon off;\nerror_log ${prefix}/logs/error.log warn;\npid ${prefix}/nginx.pid;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  client_body_temp_path ${prefix}/body;\n  proxy_temp_path ${prefix}/proxy;\n  client_max_body_size 1m;\n${httpBody}\n}\n`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', prefix], { stdio: 'ignore' });
  await waitForPort(port);
  return () =>
    new Promise((resolve) => {
      child.on('close', resolve);
      child.kill('SIGQUIT');
    });
}

async function gateway(port, upstream, advisory) {
  const args = [BIN, 'gateway', '--listen', `127.0.0.1:${port}`, '--upstream', upstream];
  if (advisory) args.push('--advisory', advisory);
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  await waitForPort(port);
  return () =>
    new Promise((resolve) => {
      child.on('close', resolve);
      child.kill('SIGTERM');
    });
}

/** wrk once; returns requests/s and p50/p99 latency in ms. */
async function wrk(url, script) {
  const args = [
    '-t1',
    `-c${CONNECTIONS}`,
    `-d${SECONDS}s`,
    '--latency',
    ...(script ? ['-s', script] : []),
    url,
  ];
  const { out } = await exec('wrk', args);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50: pct(50), p99: pct(99), non2xx };
}

export async function run() {
  const found = findModsecNginx();
  if ('missing' in found) return `## Shield\n\nNot measured: ${found.missing}.`;
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-shield-'));
  const stops = [];
  try {
    const backendPort = await freePort();
    stops.push(
      await nginx(
        dir,
        'backend',
        `  server { listen 127.0.0.1:${backendPort}; location / { return 200 "ok\\n"; } }`,
        backendPort,
      ),
    );
    const backend = `http://127.0.0.1:${backendPort}`;
    const upstreamBlock = `  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; }`;
    const proxyServer = (port, extra = '') =>
      `  server { listen 127.0.0.1:${port};${extra} location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }`;
    const packRules = readdirSync(PACK)
      .filter((f) => f.endsWith('.conf') && !f.startsWith('strict'))
      .map((f) => join(PACK, f));
    const modsecMain = join(dir, 'modsec-main.conf');
    writeFileSync(
      modsecMain,
      'SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 1048576\nSecRequestBodyNoFilesLimit 1048576\nSecRequestBodyLimitAction Reject\n',
    );
    const patchConf = join(dir, 'modsec-patch.conf');
    writeFileSync(patchConf, [modsecMain, ...packRules].map((f) => `Include ${f}`).join('\n'));
    const crsConf = join(dir, 'modsec-crs.conf');
    writeFileSync(
      crsConf,
      [`Include ${modsecMain}`, `Include ${CRS_SETUP}`, `Include ${CRS_RULES}/*.conf`].join('\n'),
    );

    const ports = {
      nginx: await freePort(),
      patch: await freePort(),
      crs: await freePort(),
      pass: await freePort(),
      bw: await freePort(),
    };
    stops.push(await nginx(dir, 'proxy', `${upstreamBlock}\n${proxyServer(ports.nginx)}`, ports.nginx));
    stops.push(
      await nginx(
        dir,
        'modsec',
        `${upstreamBlock}\n${proxyServer(ports.patch, ` modsecurity on; modsecurity_rules_file ${patchConf};`)}`,
        ports.patch,
        found.module,
      ),
    );
    stops.push(
      await nginx(
        dir,
        'crs',
        `${upstreamBlock}\n${proxyServer(ports.crs, ` modsecurity on; modsecurity_rules_file ${crsConf};`)}`,
        ports.crs,
        found.module,
      ),
    );
    stops.push(await gateway(ports.pass, backend));
    stops.push(await gateway(ports.bw, backend, 'proxylogon-2021-03'));

    const post = join(dir, 'post64k.lua');
    writeFileSync(
      post,
      `wrk.method = "POST"\nwrk.body = string.rep("a", 65536)\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
    );
    const get = join(dir, 'get.lua');
    writeFileSync(
      get,
      'wrk.headers["Cookie"] = "X-OWA-CANARY=abc; ClientId=0123456789ABCDEF; X-BackEndCookie=S-1-5-21-1=u1"\nwrk.headers["User-Agent"] = "Mozilla/5.0"\n',
    );

    const setups = [
      ['backend alone (nginx answering 200)', backend],
      ['nginx proxy', `http://127.0.0.1:${ports.nginx}`],
      ['nginx + ModSecurity, ProxyLogon patch', `http://127.0.0.1:${ports.patch}`],
      ['nginx + ModSecurity + CRS 3.3 (PL1)', `http://127.0.0.1:${ports.crs}`],
      ['Bulwark gateway, pass-through', `http://127.0.0.1:${ports.pass}`],
      ['Bulwark gateway, ProxyLogon patch', `http://127.0.0.1:${ports.bw}`],
    ];
    const results = [];
    for (const [name, url] of setups) {
      const small = await wrk(`${url}/owa/`, get);
      const big = await wrk(`${url}/ews/exchange.asmx`, post);
      results.push({ name, small, big });
    }
    // The patch's cost is a difference of a few percent between two runs on a shared machine: measure the two
    // Bulwark setups three more times, alternating, and use the median of the four runs for each.
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rounds = { pass: [results[4].small], bw: [results[5].small] };
    for (let i = 0; i < 3; i++) {
      rounds.pass.push(await wrk(`${setups[4][1]}/owa/`, get));
      rounds.bw.push(await wrk(`${setups[5][1]}/owa/`, get));
    }
    for (const [key, index] of [
      ['pass', 4],
      ['bw', 5],
    ]) {
      const runs = rounds[key];
      results[index].small = {
        rps: median(runs.map((r) => r.rps)),
        p50: median(runs.map((r) => r.p50)),
        p99: median(runs.map((r) => r.p99)),
        non2xx: 0,
      };
    }
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
    const ms = (n) => (Number.isFinite(n) ? n.toFixed(2) : '—');
    const bw = byName['Bulwark gateway, ProxyLogon patch'];
    const pass = byName['Bulwark gateway, pass-through'];
    const modsec = byName['nginx + ModSecurity, ProxyLogon patch'];
    const crs = byName['nginx + ModSecurity + CRS 3.3 (PL1)'];
    const rows = results
      .map(
        (r) =>
          `| ${r.name} | ${fmt(r.small.rps)} | ${ms(r.small.p50)} / ${ms(r.small.p99)} | ${(r.small.rps / bw.small.rps).toFixed(2)} | ${fmt(r.big.rps)} | ${ms(r.big.p50)} / ${ms(r.big.p99)} | ${(r.big.rps / bw.big.rps).toFixed(2)} |${r.small.non2xx || r.big.non2xx ? ` non-2xx: ${r.small.non2xx + r.big.non2xx}` : ''}`,
      )
      .join('\n');
    const cost = 1 - bw.small.rps / pass.small.rps;
    const p99 = bw.small.p99 - pass.small.p99;
    return `## Shield

wrk 1 thread, ${CONNECTIONS} connections, ${SECONDS} s per cell; one worker process for nginx and one process for
Bulwark; the backend is a separate nginx answering 200. Small = GET with OWA-like cookies; 64 KB = POST of a
64 KB body. Ratio = setup's req/s ÷ Bulwark with the patch. The two Bulwark small-request rows are the medians of
four alternating runs (the patch's cost is a few percent, within one run's noise on a shared machine).

| setup | small req/s | small p50 / p99 ms | ratio | 64 KB req/s | 64 KB p50 / p99 ms | ratio |
|---|---|---|---|---|---|---|
${rows}

Targets: the patch costs Bulwark ${(cost * 100).toFixed(1)}% throughput (≤ 5%: ${cost <= 0.05 ? 'met' : 'NOT met'}) and ${p99.toFixed(2)} ms p99 (≤ 1 ms: ${p99 <= 1 ? 'met' : 'NOT met'}) over its pass-through; Bulwark with the patch at ${(bw.small.rps / modsec.small.rps).toFixed(2)}× nginx + ModSecurity with the same rules (≥ 1: ${bw.small.rps >= modsec.small.rps ? 'met' : 'NOT met'}) and ${(bw.small.rps / crs.small.rps).toFixed(1)}× nginx + ModSecurity + CRS (≥ 10: ${bw.small.rps >= 10 * crs.small.rps ? 'met' : 'NOT met'}).`;
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
