/**
 * Real agent processes for tests: the `bulwark` command line transpiled from the sources (cli-child.testkit.ts)
 * and started as `bulwark agent enroll|run` child processes with temporary state directories; their JSON log
 * lines read as they come. Also a test channel: a WebSocket server on 127.0.0.1 speaking the agent protocol with
 * a key of the test's own, so a test can hand the real agent forged, replayed, expired and foreign jobs, refuse
 * its connections, fall silent or quarantine it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  AGENT_CHANNEL_PATH,
  AGENT_PROTOCOL_VERSION,
  channelAgentBytes,
  channelServerBytes,
  enrollSigningBytes,
  type JobEnvelope,
  jobSigningBytes,
  publicKeyFromRaw,
  publicKeyToRaw,
  resultSigningBytes,
  type SignedJob,
  type SignedResult,
  signBytes,
  verifyBytes,
} from '../../src/api/agent-protocol.js';
import { sleep, waitFor } from '../../src/server/process.testkit.js';

const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const CHILD = join(ROOT, 'test/agent/cli-child.testkit.ts');

export { sleep, waitFor };

/** The command line transpiled once per test file; `entry` runs `bulwark <args>`. */
export interface CliTree {
  entry: string;
  dispose(): void;
}

/**
 * `bulwark agent …` only: the command line's static imports, and of its lazily loaded commands only the agent's
 * (src/agent, commands/agent*.ts) — the same code `bulwark agent run` executes, without transpiling the server.
 */
export function agentTree(): CliTree {
  const out = mkdtempSync(join(tmpdir(), 'bulwark-agent-cli-'));
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  const seen = new Set<string>();
  const queue = [CHILD];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: false,
      },
    }).outputText;
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
    for (const m of js.matchAll(/(?:from\s*|import\s*)['"](\.{1,2}\/[^'"]+)\.js['"]/g))
      queue.push(resolve(dirname(file), `${m[1]}.ts`));
    for (const m of js.matchAll(/import\s*\(\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      const next = resolve(dirname(file), `${m[1]}.ts`);
      if (/[/\\](agent[^/\\]*\.ts|src[/\\]agent[/\\].*)$/.test(next)) queue.push(next);
    }
  }
  // The advisory packs and catalogs the hunt, mitigate and verify executors read, beside the transpiled code.
  for (const dir of ['packs', 'catalogs'])
    symlinkSync(join(ROOT, 'src/advisories', dir), join(out, 'src/advisories', dir), 'dir');
  return {
    entry: join(out, relative(ROOT, CHILD)).replace(/\.ts$/, '.js'),
    dispose: () => rmSync(out, { recursive: true, force: true }),
  };
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [field: string]: unknown;
}

export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  /** Parsed JSON log lines so far. */
  logs: LogLine[];
  /** Everything written to standard output and error. */
  output(): string;
  /** Resolves with the exit code (null after a signal). */
  exited: Promise<number | null>;
  waitLog(msg: string | RegExp, ms?: number, from?: number): Promise<LogLine>;
  /** SIGTERM, then the exit code (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | null>;
  kill9(): Promise<void>;
}

/** `bulwark <args>` as a child process (agent run: a long-lived one). */
export function startCli(tree: CliTree, args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [tree.entry, ...args], {
    env: { ...process.env, BULWARK_AGENT_LOG_LEVEL: 'debug', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let partial = '';
  const logs: LogLine[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    partial += d;
    for (let cut = partial.indexOf('\n'); cut >= 0; cut = partial.indexOf('\n')) {
      const line = partial.slice(0, cut);
      partial = partial.slice(cut + 1);
      try {
        const value = JSON.parse(line) as LogLine;
        if (value && typeof value.msg === 'string') logs.push(value);
      } catch {
        // not a log line
      }
    }
  });
  const exited = new Promise<number | null>((r) => {
    child.once('exit', (code) => {
      live.delete(child);
      r(code);
    });
  });
  const proc: AgentProcess = {
    child,
    pid: child.pid!,
    logs,
    output: () => out,
    exited,
    waitLog: (msg, ms = 20_000, from = 0) =>
      waitFor(
        `agent log "${msg}" (log so far: ${out.slice(-1500)})`,
        () => logs.slice(from).find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg))),
        ms,
      ),
    stop: async (ms = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
  return proc;
}

/** `bulwark agent run --state-dir dir` with a fast back-off. */
export function startAgent(tree: CliTree, stateDir: string, env: Record<string, string> = {}): AgentProcess {
  return startCli(tree, ['agent', 'run', '--state-dir', stateDir], {
    BULWARK_AGENT_BACKOFF_BASE_MS: '100',
    BULWARK_AGENT_BACKOFF_CAP_MS: '1000',
    ...env,
  });
}

/** Runs a short command (`agent enroll`) to its end; the exit code and output. */
export async function runCli(
  tree: CliTree,
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; ms?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const proc = startCli(tree, args, options.env);
  proc.child.stdin!.end(options.stdin ?? '');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), options.ms ?? 30_000);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, output: proc.output() };
}

// ------------------------------------------------------------------------------------------------------------
// The test channel.

export interface TestAgent {
  agentId: string;
  tenantId: string;
  publicKey: KeyObject;
  generation: number;
  pending: number | null;
  /** Every message the agent sent, in order. */
  received: ({ t: string } & Record<string, unknown>)[];
  socket?: WebSocket;
  connections: number;
  helloAt: number[];
}

export interface TestChannelOptions {
  heartbeat_s?: number;
  /** Answer the next N upgrade requests with 503 and this Retry-After (seconds). */
  refuse?: { count: number; retryAfterS: number };
  /** Acknowledge results (default true). */
  ackResults?: boolean;
  /** The hash welcome reports as the server's inventory. */
  inventoryHash?: string | null;
}

/** A WebSocket server on 127.0.0.1 speaking the agent protocol with its own signing key. */
export class TestChannel {
  readonly key = generateKeyPairSync('ed25519');
  readonly keyId = 'testkey0000000001';
  readonly agents = new Map<string, TestAgent>();
  readonly upgrades: { at: number; status: number }[] = [];
  private server!: Server;
  private wss!: WebSocketServer;
  url = '';
  /** Stop answering heartbeats (a server gone half-open). */
  silent = false;

  constructor(readonly options: TestChannelOptions = {}) {}

  get publicKeyRaw(): string {
    return publicKeyToRaw(this.key.publicKey);
  }

  async start(): Promise<void> {
    this.wss = new WebSocketServer({ noServer: true });
    this.server = createServer((req, res) => this.http(req, res));
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== AGENT_CHANNEL_PATH) return socket.destroy();
      const refuse = this.options.refuse;
      if (refuse && refuse.count > 0) {
        refuse.count--;
        this.upgrades.push({ at: Date.now(), status: 503 });
        socket.end(
          `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${refuse.retryAfterS}\r\nContent-Length: 0\r\n\r\n`,
        );
        return;
      }
      this.upgrades.push({ at: Date.now(), status: 101 });
      this.wss.handleUpgrade(req, socket, head, (ws) =>
        this.session(ws, url.searchParams.get('agent') ?? '', url.searchParams.get('cn') ?? ''),
      );
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Registers an agent and writes its state directory as an enrolment would. */
  enrolState(stateDir: string, agentId: string, tenantId = 'tenant-a'): TestAgent {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    mkdirSync(join(stateDir, 'queue'), { recursive: true });
    mkdirSync(join(stateDir, 'results'), { recursive: true });
    writeFileSync(join(stateDir, 'agent-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    writeFileSync(
      join(stateDir, 'agent.json'),
      JSON.stringify({
        server: this.url,
        agent_id: agentId,
        tenant_id: tenantId,
        site_id: null,
        asset_id: agentId,
        generation: 0,
        server_keys: [{ key_id: this.keyId, public_key: this.publicKeyRaw }],
        heartbeat_s: this.options.heartbeat_s ?? 1,
        enrolled_at: new Date().toISOString(),
      }),
    );
    return this.register(agentId, tenantId, publicKey);
  }

  register(agentId: string, tenantId: string, publicKey: KeyObject): TestAgent {
    const agent: TestAgent = {
      agentId,
      tenantId,
      publicKey,
      generation: 0,
      pending: null,
      received: [],
      connections: 0,
      helloAt: [],
    };
    this.agents.set(agentId, agent);
    return agent;
  }

  /** POST /api/v1/agents/enroll for `bwe_` tokens this channel made (tenant-a). */
  private http(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    if (req.method !== 'POST' || req.url !== '/api/v1/agents/enroll') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const request = JSON.parse(body) as {
        token: string;
        public_key: string;
        proof: string;
        hostname: string;
      };
      const id = /^bwe_([A-Za-z0-9]{12})_/.exec(request.token)?.[1];
      const key = publicKeyFromRaw(request.public_key);
      if (!id || !verifyBytes(key, enrollSigningBytes(id, request.public_key), request.proof)) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"message":"invalid or expired token"}');
        return;
      }
      const agentId = `ag-${randomBytes(8).toString('hex')}`;
      this.register(agentId, 'tenant-a', key);
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          agent_id: agentId,
          tenant_id: 'tenant-a',
          site_id: null,
          asset_id: agentId,
          certificate_pem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
          ca_certificate_pem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
          server_keys: [{ key_id: this.keyId, public_key: this.publicKeyRaw }],
          heartbeat_s: this.options.heartbeat_s ?? 1,
          generation: 0,
        }),
      );
    });
  }

  private session(ws: WebSocket, agentId: string, clientNonce: string): void {
    const nonce = randomBytes(16).toString('base64url');
    const agent = this.agents.get(agentId);
    ws.send(
      JSON.stringify({
        t: 'challenge',
        nonce,
        server_time: new Date().toISOString(),
        key_id: this.keyId,
        server_signature: signBytes(this.key.privateKey, channelServerBytes(clientNonce, nonce)),
      }),
    );
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { t: string } & Record<string, unknown>;
      if (!agent) return ws.close(4401, 'unknown agent');
      agent.received.push(message);
      switch (message.t) {
        case 'hello': {
          const generation = message.generation as number;
          if (
            !verifyBytes(
              agent.publicKey,
              channelAgentBytes(nonce, agentId, generation),
              String(message.signature),
            )
          )
            return ws.close(4401, 'bad signature');
          agent.helloAt.push(Date.now());
          if (generation < agent.generation) {
            ws.send(
              JSON.stringify({ t: 'quarantined', reason: 'cloned: generation older than the stored one' }),
            );
            return ws.close(4403, 'quarantined');
          }
          agent.connections++;
          agent.socket = ws;
          agent.pending = agent.generation + 1;
          ws.send(
            JSON.stringify({
              t: 'welcome',
              agent_id: agentId,
              generation: agent.pending,
              heartbeat_s: this.options.heartbeat_s ?? 1,
              server_time: new Date().toISOString(),
              inventory_hash: this.options.inventoryHash ?? null,
            }),
          );
          return;
        }
        case 'generation_saved':
          if (message.generation === agent.pending) {
            agent.generation = message.generation as number;
            agent.pending = null;
          }
          return;
        case 'heartbeat':
          if (!this.silent) ws.send(JSON.stringify({ t: 'heartbeat_ack', seq: message.seq }));
          return;
        case 'job_result': {
          const result = message.result as SignedResult;
          if (this.options.ackResults !== false)
            ws.send(JSON.stringify({ t: 'result_ack', job_id: result.result.job_id }));
          return;
        }
        case 'inventory':
          ws.send(JSON.stringify({ t: 'inventory_ack', hash: message.hash, ok: true }));
          return;
      }
    });
  }

  /** A job envelope for `agent`, valid unless `overrides` say otherwise. */
  envelope(agent: TestAgent, overrides: Partial<JobEnvelope> = {}): JobEnvelope {
    const now = Date.now();
    return {
      v: AGENT_PROTOCOL_VERSION,
      job_id: `aj-${randomBytes(6).toString('hex')}`,
      agent_id: agent.agentId,
      tenant_id: agent.tenantId,
      kind: 'inventory',
      params: {},
      not_before: new Date(now - 1000).toISOString(),
      expires_at: new Date(now + 3_600_000).toISOString(),
      nonce: randomBytes(16).toString('base64url'),
      key_id: this.keyId,
      ...overrides,
    };
  }

  /** Signs with the channel's key, or with `key` (a forgery). */
  sign(envelope: JobEnvelope, key: KeyObject = this.key.privateKey): SignedJob {
    return { envelope, signature: signBytes(key, jobSigningBytes(envelope)) };
  }

  /** Sends a job (or anything claiming to be one) on the agent's open connection. */
  sendJob(agent: TestAgent, job: unknown): void {
    if (agent.socket?.readyState !== 1) throw new Error(`${agent.agentId} is not connected`);
    agent.socket.send(JSON.stringify({ t: 'job', job }));
  }

  /** The results the agent sent for `jobId`, their signatures checked with the agent's key. */
  results(agent: TestAgent, jobId: string): SignedResult[] {
    return agent.received
      .filter((m) => m.t === 'job_result' && (m.result as SignedResult).result.job_id === jobId)
      .map((m) => {
        const signed = m.result as SignedResult;
        if (!verifyBytes(agent.publicKey, resultSigningBytes(signed.result), signed.signature))
          throw new Error(`result for ${jobId} does not verify with the agent's key`);
        return signed;
      });
  }
}
