/**
 * The ModSecurity oracle: a real nginx + libmodsecurity3 (Debian's libnginx-mod-http-modsecurity) in front of a
 * tiny Node backend, all on 127.0.0.1. Tests send exact request bytes and read back what ModSecurity did, so that
 * Bulwark's own engine and gateway can be compared against the reference implementation of SecLang.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { countRequests, parseResponses as parseResponsesLocal } from './http1.js';

export { countRequests, parseResponses } from './http1.js';

export type OracleDecision = 'allow' | 'block' | 'drop';

export interface ModsecNginxOptions {
  /** SecLang files loaded after the main configuration, in order. */
  rulesFiles: string[];
  /** Also load Debian's OWASP CRS 3.3.x (paranoia level 1, anomaly scoring, blocking). */
  crs?: boolean;
  /** nginx worker processes (default 1). */
  workers?: number;
  /** Per-request timeout in ms for `decide` (default 5000). */
  timeoutMs?: number;
}

export interface ModsecNginx {
  url: string;
  port: number;
  /** nginx's temporary prefix directory (config, error log). */
  dir: string;
  close(): Promise<void>;
  /** Send `raw` on a fresh connection; classify the outcome. */
  decide(raw: Buffer): Promise<OracleDecision>;
  /** Like `decide`, with the statuses seen and the raw response bytes. */
  exchange(raw: Buffer): Promise<Exchange>;
  /** The nginx error log so far (ModSecurity writes its matches there). */
  errorLog(): Promise<string>;
}

export interface Exchange {
  decision: OracleDecision;
  /** Status codes of the complete responses received, in order. */
  statuses: number[];
  /** Requests found in the raw bytes. */
  requests: number;
  response: Buffer;
}

const MODULE_CANDIDATES = [
  '/usr/lib/nginx/modules/ngx_http_modsecurity_module.so',
  '/usr/share/nginx/modules/ngx_http_modsecurity_module.so',
  '/usr/lib64/nginx/modules/ngx_http_modsecurity_module.so',
];
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx'];
const CRS_SETUP_CANDIDATES = [
  '/etc/modsecurity/crs/crs-setup.conf',
  '/usr/share/modsecurity-crs/crs-setup.conf',
];
const CRS_RULES_DIR = '/usr/share/modsecurity-crs/rules';

/** Where the nginx binary and the ModSecurity module are, or why the oracle cannot run here. */
export function findModsecNginx(): { nginx: string; module: string } | { missing: string } {
  const nginx = NGINX_CANDIDATES.find((p) => existsSync(p));
  if (!nginx) return { missing: 'nginx binary not found (apt-get install nginx)' };
  let module = MODULE_CANDIDATES.find((p) => existsSync(p));
  if (!module) {
    // Debian's modules-available/mod-http-modsecurity.conf names the module relative to the nginx prefix.
    const avail = '/usr/share/nginx/modules-available/mod-http-modsecurity.conf';
    if (existsSync(avail)) {
      module = MODULE_CANDIDATES[0];
    }
  }
  if (!module || !existsSync(module)) {
    return {
      missing: 'ngx_http_modsecurity_module.so not found (apt-get install libnginx-mod-http-modsecurity)',
    };
  }
  return { nginx, module };
}

/** CRS 3.3.x files in load order, or undefined when Debian's modsecurity-crs is not installed. */
function crsIncludes(): string[] | undefined {
  const setup = CRS_SETUP_CANDIDATES.find((p) => existsSync(p));
  if (!setup || !existsSync(CRS_RULES_DIR)) return undefined;
  return [setup, `${CRS_RULES_DIR}/*.conf`];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function startBackend(): Promise<{ server: http.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '7', 'x-backend': '1' });
        res.end('backend');
      });
    });
    server.keepAliveTimeout = 1000;
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

async function waitForPort(
  port: number,
  child: ChildProcess,
  deadlineMs: number,
  log: () => Promise<string>,
) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) {
      throw new Error(`nginx exited with code ${child.exitCode}: ${(await log()).slice(-2000)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not accept connections on 127.0.0.1:${port} within ${deadlineMs} ms`);
}

function mainConfig(rulesFiles: string[], crs: string[] | undefined): string {
  const lines = [
    "# Written by Bulwark's ModSecurity oracle (src/shield/modsec).",
    'SecRuleEngine On',
    'SecRequestBodyAccess On',
    'SecRequestBodyLimit 13107200',
    'SecRequestBodyNoFilesLimit 1048576',
    'SecRequestBodyLimitAction Reject',
    'SecResponseBodyAccess Off',
    'SecAuditEngine Off',
    'SecArgumentsLimit 1000',
    'SecPcreMatchLimit 100000',
    'SecPcreMatchLimitRecursion 100000',
    'SecDebugLogLevel 0',
  ];
  if (crs) {
    lines.push(`Include ${crs[0]}`);
    // Paranoia level 1 is crs-setup's default; set it explicitly so the oracle does not depend on local edits.
    lines.push(
      'SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=1"',
      `Include ${crs[1]}`,
    );
  }
  for (const f of rulesFiles) lines.push(`Include ${path.resolve(f)}`);
  return `${lines.join('\n')}\n`;
}

function nginxConfig(o: {
  dir: string;
  module: string;
  workers: number;
  port: number;
  backendPort: number;
  mainConf: string;
}): string {
  const d = o.dir;
  // As root, nginx's workers would switch to "nobody" and could not write the 0700 temp dir: stay root.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `# Written by Bulwark's ModSecurity oracle.
${user}daemon off;
master_process on;
worker_processes ${o.workers};
pid ${d}/nginx.pid;
error_log ${d}/error.log info;
load_module ${o.module};
events { worker_connections 1024; }
http {
  access_log ${d}/access.log;
  client_body_temp_path ${d}/tmp/body;
  proxy_temp_path ${d}/tmp/proxy;
  fastcgi_temp_path ${d}/tmp/fastcgi;
  uwsgi_temp_path ${d}/tmp/uwsgi;
  scgi_temp_path ${d}/tmp/scgi;
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  keepalive_requests 1000;
  modsecurity on;
  modsecurity_rules_file ${o.mainConf};
  server {
    listen 127.0.0.1:${o.port};
    server_name _;
    location / {
      proxy_pass http://127.0.0.1:${o.backendPort};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export async function startModsecNginx(opts: ModsecNginxOptions): Promise<ModsecNginx> {
  const found = findModsecNginx();
  if ('missing' in found) throw new Error(found.missing);
  const crs = opts.crs ? crsIncludes() : undefined;
  if (opts.crs && !crs) throw new Error('OWASP CRS not found (apt-get install modsecurity-crs)');
  const timeoutMs = opts.timeoutMs ?? 5000;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bulwark-modsec-'));
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  const backend = await startBackend();
  let child: ChildProcess | undefined;
  const errorLog = () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child?.once('exit', () => r()));
      child.kill('SIGTERM'); // nginx: fast shutdown
      const t = setTimeout(() => child?.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    await new Promise<void>((r) => {
      backend.server.closeAllConnections();
      backend.server.close(() => r());
    });
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const port = await freePort();
    const mainConf = path.join(dir, 'modsecurity.conf');
    await writeFile(mainConf, mainConfig(opts.rulesFiles, crs));
    const conf = path.join(dir, 'nginx.conf');
    await writeFile(
      conf,
      nginxConfig({
        dir,
        module: found.module,
        workers: opts.workers ?? 1,
        port,
        backendPort: backend.port,
        mainConf,
      }),
    );
    child = spawn(found.nginx, ['-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    await waitForPort(port, child, 15_000, async () => `${stderr}\n${await errorLog()}`);

    const exchange = (raw: Buffer) => sendRaw(port, raw, timeoutMs);
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      dir,
      close: cleanup,
      exchange,
      decide: async (raw) => (await exchange(raw)).decision,
      errorLog,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * One fresh connection: write all bytes, read until every request has a complete response, the peer closes,
 * or the timeout. allow = every request got a 2xx from the backend; block = some response is a 4xx/5xx
 * (ModSecurity's deny status, nginx's 400 for a malformed request counts too); drop = the connection closed
 * (or stayed silent) before a response to every request arrived, without any error status.
 */
export function sendRaw(port: number, raw: Buffer, timeoutMs = 5000): Promise<Exchange> {
  const requests = Math.max(1, countRequests(raw));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const response = Buffer.concat(chunks);
      const { statuses } = parseResponsesLocal(response);
      let decision: OracleDecision;
      if (statuses.some((s) => s >= 400)) decision = 'block';
      else if (statuses.length < requests) decision = 'drop';
      else decision = 'allow';
      resolve({ decision, statuses, requests, response });
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('connect', () => sock.write(raw));
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      if (parseResponsesLocal(Buffer.concat(chunks)).complete >= requests) finish();
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
  });
}
