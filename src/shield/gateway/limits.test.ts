/**
 * Resource bounds (limits.*, issue 10 item 5): each attack is held from many source addresses (127.0.x.y on
 * loopback) while a victim on 127.0.0.1 is still answered within 2 s — served where capacity allows, otherwise a
 * clean 503, never silence — and no attacker keeps an upstream connection past its bound without progress.
 * Real gateway, real upstream on 127.0.0.1; bounds scaled down so each test takes a few seconds.
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayConfigError, type GatewayConfigInput, validateGatewayConfig } from './config.js';
import {
  C27065,
  fetchRaw,
  type RawBackend,
  type RawBackendHooks,
  startRawBackend,
  tmpDir,
  writeTmp,
} from './gateway.testkit.js';
import { BodyBudget, ConnectionCaps } from './limits.js';
import { type Gateway, startGateway } from './server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type LimitsInput = NonNullable<GatewayConfigInput['limits']>;

async function setup(
  limits: LimitsInput,
  hooks: RawBackendHooks = {},
  maxSockets = 4,
  rules = [C27065],
): Promise<{ g: Gateway; port: number; be: RawBackend }> {
  const be = await startRawBackend({ collect: false, ...hooks });
  cleanups.push(() => be.close());
  const g = await startGateway(
    validateGatewayConfig({
      listen: [{ host: '127.0.0.1', port: 0 }],
      routes: [
        {
          name: 'exchange',
          upstream: { url: `http://127.0.0.1:${be.port}`, max_sockets: maxSockets },
          rules,
        },
      ],
      limits: { shutdown_grace_ms: 200, ...limits },
    }),
  );
  cleanups.push(() => g.close());
  return { g, port: g.addresses[0]!.port, be };
}

/** The n-th attacker's own source address: 127.0.0.2, 127.0.0.3, … (the victim keeps 127.0.0.1). */
const attackerAddress = (n: number) => `127.0.${Math.floor(n / 200)}.${(n % 200) + 2}`;

interface Attacker {
  sock: net.Socket;
  /** Milliseconds from connect to the gateway closing the connection; undefined while open. */
  closedAfter: number | undefined;
  received(): string;
}

/** A raw connection from `localAddress` that writes `first` and reads only when `read` (default: never). */
async function attack(
  port: number,
  localAddress: string,
  first: string | Buffer = '',
  read = false,
): Promise<Attacker> {
  const sock = net.connect({ host: '127.0.0.1', port, localAddress });
  const chunks: Buffer[] = [];
  const a: Attacker = {
    sock,
    closedAfter: undefined,
    received: () => Buffer.concat(chunks).toString('latin1'),
  };
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const t0 = Date.now();
  sock.on('error', () => {});
  sock.on('close', () => {
    a.closedAfter = Date.now() - t0;
  });
  if (read) sock.on('data', (d: Buffer) => chunks.push(d));
  else sock.pause(); // never read: the kernel buffers fill, then the gateway's writes stall
  if (first.length > 0) sock.write(first);
  cleanups.push(() => void sock.destroy());
  return a;
}

/** `n` attackers from `n` addresses, connected 16 at a time (an attack arrives at once, not one by one). */
async function attackers(n: number, port: number, first: string | Buffer, read = false) {
  const out: Attacker[] = [];
  for (let i = 0; i < n; i += 16) {
    const batch = Array.from({ length: Math.min(16, n - i) }, (_, j) =>
      attack(port, attackerAddress(i + j), first, read),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** The victim's request from 127.0.0.1: its status and how long the answer took (throws on silence). */
async function victim(port: number, raw = get('/owa/'), method = 'GET') {
  const t0 = Date.now();
  const r = await fetchRaw(port, raw, method);
  return { status: r.head.status, body: r.body.toString(), ms: Date.now() - t0 };
}

const get = (target: string) => `GET ${target} HTTP/1.1\r\nHost: mail.contoso.com\r\n\r\n`;

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const metric = (g: Gateway, name: string, labels: Record<string, string> = {}) =>
  g.metrics.value(name, labels);
const activeUpstream = (g: Gateway) =>
  metric(g, 'bulwark_gateway_pool_connections', { route: 'exchange', state: 'active' });

/** Backend hook: `/hang…` is a long-poll that is never answered (it holds its upstream connection). */
const hangingBackend: RawBackendHooks = {
  onRequest: (r) => r.head.target.startsWith('/hang') || undefined,
};

describe('pool: wait timeout and queue bound', () => {
  it('answers 503 after pool_wait_timeout_ms when every upstream connection is held by long-polls', async () => {
    const { g, port } = await setup({ pool_wait_timeout_ms: 300 }, hangingBackend, 2);
    const held = await attackers(6, port, get('/hang'), true);
    expect(await waitFor(async () => (await activeUpstream(g)) === 2, 2000)).toBe(true);
    const v = await victim(port);
    expect(v.status).toBe(503);
    expect(v.body).toMatch(/upstream busy/);
    expect(v.ms).toBeLessThan(2000);
    // The four attackers that queued got the same clean answer; the two long-polls still hold their sockets.
    expect(
      await waitFor(() => held.filter((a) => a.received().startsWith('HTTP/1.1 503')).length === 4, 2000),
    ).toBe(true);
    expect(await metric(g, 'bulwark_gateway_pool_rejections_total', { reason: 'wait_timeout' })).toBe(5);
  });

  it('answers 503 at once when pool_queue_max requests already wait, and forgets waiters that leave', async () => {
    const { g, port } = await setup({ pool_wait_timeout_ms: 5000, pool_queue_max: 3 }, hangingBackend, 2);
    const held = await attackers(5, port, get('/hang'), true);
    const waiting = () => metric(g, 'bulwark_gateway_pool_waiting', { route: 'exchange' });
    expect(await waitFor(async () => (await waiting()) === 3, 2000)).toBe(true);
    const v = await victim(port);
    expect(v.status).toBe(503);
    expect(v.ms).toBeLessThan(500);
    expect(await metric(g, 'bulwark_gateway_pool_rejections_total', { reason: 'queue_full' })).toBe(1);
    // A queued client that goes away frees its place in the queue (the next connection goes to someone there).
    held[4]!.sock.destroy();
    expect(await waitFor(async () => (await waiting()) === 2, 2000)).toBe(true);
  });
});

describe('client write timeout (reproduction 5: clients that never read a large response)', () => {
  it('cuts non-reading clients of a 16 MB response and frees their upstream sockets; the victim is served', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 0x61);
    const { g, port } = await setup(
      { client_write_timeout_ms: 500, pool_wait_timeout_ms: 1500 },
      {
        onRequest: (r, s) => {
          if (r.head.target !== '/owa/big') return undefined;
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
          s.write(big);
          return true;
        },
      },
    );
    const stuck = await attackers(8, port, get('/owa/big'));
    expect(await waitFor(async () => (await activeUpstream(g)) === 4, 2000)).toBe(true);
    const v = await victim(port);
    expect(v.ms).toBeLessThan(2000);
    expect([200, 503]).toContain(v.status); // 200 once a bound freed a socket; 503 if the machine is slow
    // Every attacker is cut (the four that queued get their response, stall and are cut in turn) and nothing
    // holds an upstream socket afterwards. (A paused socket does not see its own close: the gateway's count says.)
    const open = () => metric(g, 'bulwark_gateway_open_connections');
    expect(await waitFor(async () => (await open()) === 0, 4000)).toBe(true);
    expect(await activeUpstream(g)).toBe(0);
    expect((await victim(port)).status).toBe(200);
    expect(stuck.every((a) => a.sock.bytesRead < 16 * 1024 * 1024)).toBe(true);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'client_write' })).toBe(8);
  });

  it('leaves a client that reads slowly but steadily alone', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 0x62);
    const { g, port } = await setup(
      { client_write_timeout_ms: 300 },
      {
        onRequest: (_r, s) => {
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
          s.write(body);
          return true;
        },
      },
    );
    const a = await attack(port, attackerAddress(0), get('/owa/file'));
    let got = 0;
    // Read in bursts with pauses shorter than the bound: progress every ~100 ms.
    const timer = setInterval(() => {
      a.sock.resume();
      setTimeout(() => a.sock.pause(), 20);
    }, 100);
    a.sock.on('data', (d: Buffer) => {
      got += d.length;
    });
    const done = await waitFor(() => got >= body.length, 15_000);
    clearInterval(timer);
    expect(done).toBe(true);
    expect(a.closedAfter).toBeUndefined();
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'client_write' })).toBe(0);
  });
});

describe('minimum body data rate (reproduction 5: slow POST bodies)', () => {
  const slowPost = 'POST /owa/service.svc HTTP/1.1\r\nHost: mail.contoso.com\r\nContent-Length: 100\r\n\r\nx';

  it('cuts 64 POSTs that send 1 byte of 100 with 408 within the window and frees the upstream', async () => {
    const { g, port } = await setup(
      { min_body_rate_window_ms: 500, min_body_rate_bytes: 10, pool_wait_timeout_ms: 1500 },
      {},
      16,
    );
    const slow = await attackers(64, port, slowPost, true);
    expect(await waitFor(async () => (await activeUpstream(g)) === 16, 2000)).toBe(true);
    const v = await victim(port);
    expect(v.ms).toBeLessThan(2000);
    expect([200, 503]).toContain(v.status); // 200 once a bound freed a socket; 503 if the machine is slow
    expect(await waitFor(() => slow.every((a) => a.closedAfter !== undefined), 2000)).toBe(true);
    for (const a of slow) {
      expect(a.received()).toMatch(/^HTTP\/1\.1 408 /);
      expect(a.closedAfter!).toBeLessThan(1500); // one window (500 ms) plus scheduling on a busy machine
    }
    expect(await activeUpstream(g)).toBe(0);
    expect((await victim(port)).status).toBe(200);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'body_rate' })).toBe(64);
  });

  it('bounds an RPC_IN_DATA body held for inspection like any other body (408)', async () => {
    const rule = writeTmp(
      tmpDir(),
      'rpc.conf',
      'SecRule REQUEST_METHOD "@streq RPC_IN_DATA" "id:9001,phase:2,deny,status:403,chain"\n' +
        '  SecRule REQUEST_BODY "@contains evil" "t:none"\n',
    );
    const { g, port } = await setup({ min_body_rate_window_ms: 300, min_body_rate_bytes: 10 }, {}, 4, [rule]);
    const rpc =
      'RPC_IN_DATA /rpc/rpcproxy.dll?x:6001 HTTP/1.1\r\nHost: mail.contoso.com\r\nContent-Length: 100\r\n\r\nx';
    const slow = await attackers(8, port, rpc, true);
    expect(await waitFor(() => slow.every((a) => a.received().startsWith('HTTP/1.1 408')), 2000)).toBe(true);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'body_rate' })).toBe(8);
  });

  it('lets a body that keeps the minimum rate through', async () => {
    const { g, port } = await setup({ min_body_rate_window_ms: 300, min_body_rate_bytes: 10 });
    const a = await attack(
      port,
      attackerAddress(0),
      'POST /owa/service.svc HTTP/1.1\r\nHost: mail.contoso.com\r\nContent-Length: 200\r\n\r\n',
      true,
    );
    for (let i = 0; i < 10; i++) {
      a.sock.write('x'.repeat(20)); // 20 bytes per 100 ms: 60 per window
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await waitFor(() => a.received().startsWith('HTTP/1.1 200'), 2000)).toBe(true);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'body_rate' })).toBe(0);
  });
});

describe('connection caps', () => {
  it('answers 503 to connections over max_connections_per_address; other addresses are served', async () => {
    const { g, port } = await setup({ max_connections_per_address: 4 });
    const from2: Attacker[] = [];
    for (let i = 0; i < 10; i++) from2.push(await attack(port, '127.0.0.2', '', true));
    const refused = () => from2.filter((a) => a.closedAfter !== undefined);
    expect(await waitFor(() => refused().length === 6, 2000)).toBe(true);
    for (const a of refused()) expect(a.received()).toMatch(/^HTTP\/1\.1 503 [\s\S]*from your address/);
    const v = await victim(port);
    expect(v.status).toBe(200);
    expect(await metric(g, 'bulwark_gateway_rejected_connections_total', { reason: 'per_address' })).toBe(6);
    const open = () => metric(g, 'bulwark_gateway_open_connections');
    expect(await waitFor(async () => (await open()) === 4, 1000)).toBe(true);
  });

  it('answers 503 over max_connections (never silence) and serves again once a connection closes', async () => {
    const { g, port } = await setup({ max_connections: 8 });
    const idle = await attackers(8, port, '', true);
    const v = await victim(port);
    expect(v.status).toBe(503);
    expect(v.body).toMatch(/too many connections/);
    expect(v.ms).toBeLessThan(2000);
    idle[0]!.sock.destroy();
    expect(await waitFor(async () => (await metric(g, 'bulwark_gateway_open_connections')) === 7, 2000)).toBe(
      true,
    );
    expect((await victim(port)).status).toBe(200);
    expect(await metric(g, 'bulwark_gateway_rejected_connections_total', { reason: 'max_connections' })).toBe(
      1,
    );
  });
});

describe('client idle timeouts', () => {
  it('slow request heads from 30 addresses get 408 at header_timeout_ms; the victim gets in within 2 s', async () => {
    const { g, port } = await setup({ header_timeout_ms: 400, max_connections: 20 });
    const loris = await attackers(30, port, 'GET /owa/ HTTP/1.1\r\nHost: mail.contoso.com\r\n', true);
    const drip = setInterval(() => {
      for (const a of loris) if (a.closedAfter === undefined) a.sock.write('X-a: b\r\n');
    }, 50);
    cleanups.push(() => clearInterval(drip));
    // Every attempt is answered (503 while the attackers hold all connections, then 200), within 2 s in total.
    const t0 = Date.now();
    let status = 0;
    while (Date.now() - t0 < 2000) {
      status = (await victim(port)).status;
      expect([200, 503]).toContain(status);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    const held = loris.filter((a) => !a.received().includes('too many connections'));
    expect(held.length).toBe(20);
    expect(await waitFor(() => held.every((a) => a.closedAfter !== undefined), 1000)).toBe(true);
    for (const a of held) expect(a.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'header' })).toBe(20);
  });

  it('closes keep-alive connections idle for idle_timeout_ms', async () => {
    const { g, port } = await setup({ idle_timeout_ms: 300 });
    const conns = await attackers(20, port, get('/owa/'), true);
    expect(await waitFor(() => conns.every((a) => a.received().startsWith('HTTP/1.1 200')), 2000)).toBe(true);
    expect(await waitFor(() => conns.every((a) => a.closedAfter !== undefined), 2000)).toBe(true);
    for (const a of conns) expect(a.closedAfter!).toBeLessThan(1500);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'idle' })).toBe(20);
    expect((await victim(port)).status).toBe(200);
  });
});

describe('global buffered-body budget (reproduction 5: many ~1 MiB inspected bodies)', () => {
  it('holds inspected bodies under max_buffered_body_bytes, answering 503 beyond it', async () => {
    const budget = 4 * 1024 * 1024;
    const { g, port } = await setup({ max_buffered_body_bytes: budget, max_inspect_body_bytes: 1024 * 1024 });
    const size = 1024 * 1024;
    const head =
      'POST /ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory HTTP/1.1\r\nHost: mail.contoso.com\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`;
    const almost = Buffer.concat([Buffer.from(head), Buffer.alloc(size - 1, 0x20)]); // never the last byte
    const rssBefore = process.memoryUsage().rss;
    const bodies = await attackers(200, port, almost, true);
    const answered503 = () => bodies.filter((a) => a.received().startsWith('HTTP/1.1 503')).length;
    // At most four 1 MiB bodies fit; every other attacker is refused with a clean 503.
    expect(await waitFor(() => answered503() >= 196, 10_000)).toBe(true);
    const peak = await metric(g, 'bulwark_gateway_buffered_body_bytes_peak');
    expect(peak).toBeLessThanOrEqual(budget);
    expect(await metric(g, 'bulwark_gateway_buffered_body_bytes')).toBeLessThanOrEqual(budget);
    expect(await metric(g, 'bulwark_gateway_body_budget_rejections_total')).toBe(answered503());
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    expect(rssGrowth).toBeLessThan(256 * 1024 * 1024); // coarse: 200 unbounded bodies would be 200 MiB + copies
    // The victim's ordinary request is served; an inspected body of its own gets a clean 503 while it is spent.
    expect((await victim(port)).status).toBe(200);
    const small = 'POST /ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory HTTP/1.1\r\nHost: x\r\n';
    const v = await victim(
      port,
      `${small}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      'POST',
    );
    expect([200, 503]).toContain(v.status);
    // The accounting returns to zero once the holders go away (nothing leaks).
    for (const a of bodies) a.sock.destroy();
    expect(
      await waitFor(async () => (await metric(g, 'bulwark_gateway_buffered_body_bytes')) === 0, 2000),
    ).toBe(true);
    expect(
      (await victim(port, `${small}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`, 'POST'))
        .status,
    ).toBe(200);
  });
});

describe('bytes held after an upgrade request count against the same budget', () => {
  it('answers 503 once they would overspend it, and gives them back when the connections go', async () => {
    const budget = 1024 * 1024;
    const { g, port } = await setup(
      { max_buffered_body_bytes: budget, max_inspect_body_bytes: 64 * 1024 },
      { onHead: (h) => h.upgrade || undefined }, // never answers the upgrade: the bytes after it stay held
      32,
    );
    const upgrade = Buffer.concat([
      Buffer.from(
        'GET /owa/ws HTTP/1.1\r\nHost: mail.contoso.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      ),
      Buffer.alloc(200 * 1024, 0x41),
    ]);
    const held = await attackers(20, port, upgrade, true);
    const refused = () => held.filter((a) => a.received().startsWith('HTTP/1.1 503')).length;
    expect(await waitFor(() => refused() >= 14, 3000)).toBe(true); // 20 × 200 KiB against 1 MiB
    expect(await metric(g, 'bulwark_gateway_buffered_body_bytes_peak')).toBeLessThanOrEqual(budget);
    expect((await victim(port)).status).toBe(200);
    for (const a of held) a.sock.destroy();
    const buffered = () => metric(g, 'bulwark_gateway_buffered_body_bytes');
    expect(await waitFor(async () => (await buffered()) === 0, 2000)).toBe(true);
  });
});

describe('RPC and tunnel idle bounds', () => {
  it('closes RPC_IN_DATA streams idle for stream_idle_timeout_ms and frees their upstream sockets', async () => {
    const { g, port } = await setup(
      { stream_idle_timeout_ms: 300, pool_wait_timeout_ms: 1500 },
      { onHead: (h) => h.method === 'RPC_IN_DATA' || undefined },
    );
    const rpc =
      'RPC_IN_DATA /rpc/rpcproxy.dll?mail.contoso.com:6001 HTTP/1.1\r\nHost: mail.contoso.com\r\n' +
      'Content-Length: 1073741824\r\n\r\nhello';
    const streams = await attackers(8, port, rpc, true);
    expect(await waitFor(async () => (await activeUpstream(g)) === 4, 2000)).toBe(true);
    const v = await victim(port);
    expect(v.ms).toBeLessThan(2000);
    expect([200, 503]).toContain(v.status); // 200 once a bound freed a socket; 503 if the machine is slow
    expect(await waitFor(() => streams.every((a) => a.closedAfter !== undefined), 3000)).toBe(true);
    expect(await waitFor(async () => (await activeUpstream(g)) === 0, 1000)).toBe(true);
    expect((await victim(port)).status).toBe(200);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'rpc_idle' })).toBe(8);
  });

  it('closes upgraded tunnels idle for stream_idle_timeout_ms', async () => {
    const { g, port } = await setup(
      { stream_idle_timeout_ms: 300, pool_wait_timeout_ms: 1500 },
      {
        onHead: (h, s) => {
          if (!h.upgrade) return undefined;
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
          return true;
        },
      },
    );
    const up =
      'GET /owa/ws HTTP/1.1\r\nHost: mail.contoso.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const tunnels = await attackers(8, port, up, true);
    expect(
      await waitFor(() => tunnels.filter((a) => a.received().startsWith('HTTP/1.1 101')).length >= 4, 2000),
    ).toBe(true);
    const v = await victim(port);
    expect(v.ms).toBeLessThan(2000);
    expect([200, 503]).toContain(v.status); // 200 once a bound freed a socket; 503 if the machine is slow
    expect(await waitFor(() => tunnels.every((a) => a.closedAfter !== undefined), 3000)).toBe(true);
    expect(await waitFor(async () => (await activeUpstream(g)) === 0, 1000)).toBe(true);
    expect((await victim(port)).status).toBe(200);
    expect(await metric(g, 'bulwark_gateway_timeouts_total', { kind: 'tunnel_idle' })).toBe(8);
  });
});

describe('limits configuration', () => {
  const base = { listen: [{ port: 0 }], routes: [{ name: 'r', upstream: { url: 'http://127.0.0.1:1' } }] };

  it('fills safe defaults for every bound', () => {
    const c = validateGatewayConfig(base);
    expect(c.routes[0]!.upstream.max_sockets).toBe(1024); // one per concurrent long-poll
    const l = c.limits;
    expect(l).toMatchObject({
      max_connections: 10_000,
      max_connections_per_address: 1024,
      client_write_timeout_ms: 60_000,
      min_body_rate_bytes: 4096,
      min_body_rate_window_ms: 30_000,
      max_buffered_body_bytes: 256 * 1024 * 1024,
      pool_wait_timeout_ms: 10_000,
      pool_queue_max: 1024,
      stream_idle_timeout_ms: 15 * 60_000,
    });
  });

  it('names the key of a bad bound', () => {
    const bad = (limits: LimitsInput) => () => validateGatewayConfig({ ...base, limits }, 'gw.yaml');
    expect(bad({ max_connections: 0 })).toThrow(GatewayConfigError);
    expect(bad({ max_connections: 0 })).toThrow(/^gw\.yaml: limits\.max_connections: /);
    expect(bad({ pool_wait_timeout_ms: 1.5 })).toThrow(/limits\.pool_wait_timeout_ms/);
    expect(bad({ max_buffered_body_bytes: 1000, max_inspect_body_bytes: 2000 })).toThrow(
      /limits\.max_buffered_body_bytes: .*one inspected body must fit/,
    );
  });
});

describe('reload', () => {
  it('applies new limits to new connections and requests (tightened during an attack, no restart)', async () => {
    const be = await startRawBackend({ collect: false, ...hangingBackend });
    cleanups.push(() => be.close());
    const config = (limits: LimitsInput) =>
      validateGatewayConfig({
        listen: [{ host: '127.0.0.1', port: 0 }],
        routes: [{ name: 'exchange', upstream: { url: `http://127.0.0.1:${be.port}`, max_sockets: 1 } }],
        limits: { shutdown_grace_ms: 200, ...limits },
      });
    const g = await startGateway(config({ pool_wait_timeout_ms: 60_000 }));
    cleanups.push(() => g.close());
    const port = g.addresses[0]!.port;
    await g.reload(config({ pool_wait_timeout_ms: 200, max_connections_per_address: 2 }));
    await attack(port, attackerAddress(0), get('/hang'), true);
    expect(await waitFor(async () => (await activeUpstream(g)) === 1, 2000)).toBe(true);
    const v = await victim(port);
    expect(v.status).toBe(503);
    expect(v.ms).toBeLessThan(1000);
    const more = [
      await attack(port, attackerAddress(0), '', true),
      await attack(port, attackerAddress(0), '', true),
    ];
    expect(await waitFor(() => more[1]!.received().includes('from your address'), 2000)).toBe(true);
  });
});

describe('accounting (properties)', () => {
  it('connection caps: counts follow admits and releases; no address or total ever exceeds its cap', () => {
    const limits = validateGatewayConfig({
      listen: [{ port: 0 }],
      routes: [{ name: 'r', upstream: { url: 'http://127.0.0.1:1' } }],
      limits: { max_connections: 12, max_connections_per_address: 3 },
    }).limits;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })), { maxLength: 200 }),
        (ops) => {
          const caps = new ConnectionCaps();
          const open = new Map<string, number>();
          for (const [connect, a] of ops) {
            const addr = `10.0.0.${a}`;
            const n = open.get(addr) ?? 0;
            if (connect) {
              const total = [...open.values()].reduce((s, v) => s + v, 0);
              const refused = caps.admit(addr, limits);
              const want = total >= 12 ? 'max_connections' : n >= 3 ? 'per_address' : undefined;
              expect(refused).toBe(want);
              if (!refused) open.set(addr, n + 1);
            } else if (n > 0) {
              caps.release(addr);
              open.set(addr, n - 1);
            }
            expect(caps.open).toBe([...open.values()].reduce((s, v) => s + v, 0));
          }
        },
      ),
      { numRuns: 200, interruptAfterTimeLimit: 5000 },
    );
  });

  it('body budget: never above its bound, back to zero when everything is given back', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 100 }), (sizes) => {
        const b = new BodyBudget();
        const held: number[] = [];
        for (const n of sizes) {
          if (b.take(n, 10_000)) held.push(n);
          expect(b.used).toBeLessThanOrEqual(10_000);
          if (held.length > 3) b.give(held.shift()!);
        }
        for (const n of held) b.give(n);
        expect(b.used).toBe(0);
        expect(b.peak).toBeLessThanOrEqual(10_000);
      }),
      { numRuns: 200, interruptAfterTimeLimit: 5000 },
    );
  });
});
