/**
 * Issue 10's reproductions (items 1–3) and the other smuggling shapes tried against them, each against a real
 * recording upstream on 127.0.0.1 whose parser is independent of the gateway's (upstream.testkit.ts). Every test
 * asserts on what the upstream *parsed*, not on what the gateway says it did.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startExchangeEmulator } from '../../lab/exchange.js';
import { type GatewayConfigInput, validateGatewayConfig } from './config.js';
import { C27065, EOMT, STRICT, TestClient, tmpDir, writeTmp } from './gateway.testkit.js';
import { type Gateway, startGateway } from './server.js';
import { type RecordingUpstream, startLlhttpUpstream, startRawUpstream } from './upstream.testkit.js';

const PACK = [EOMT, STRICT, C27065];
const ANON_COOKIE =
  'X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;';
const SMUGGLED = `GET /owa/auth/x.js HTTP/1.1\r\nHost: mail\r\nCookie: ${ANON_COOKIE}\r\n\r\n`;
const WEBSHELL =
  '{"properties":{"Parameters":{"ExternalUrl":"http://f/#<script language=\\"JScript\\" runat=\\"server\\">function Page_Load(){eval(Request[\\"k\\"],\\"unsafe\\");}</script>"}}}';
const SET_OBJECT = '/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary=x';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function upstream(kind: 'llhttp' | 'raw' = 'llhttp'): Promise<RecordingUpstream> {
  const up = kind === 'llhttp' ? await startLlhttpUpstream() : await startRawUpstream();
  cleanups.push(() => up.close());
  return up;
}

async function gateway(
  port: number,
  rules = PACK,
  limits: GatewayConfigInput['limits'] = {},
): Promise<Gateway & { port: number }> {
  const g = await startGateway(
    validateGatewayConfig({
      listen: [{ host: '127.0.0.1', port: 0 }],
      routes: [{ name: 'exchange', upstream: { url: `http://127.0.0.1:${port}` }, rules }],
      limits: { shutdown_grace_ms: 500, ...limits },
    }),
  );
  cleanups.push(() => g.close());
  return Object.assign(g, { port: g.addresses[0]!.port });
}

/** Send `raw` in one write; collect everything the gateway answers until it closes (or `ms`). */
async function exchange(port: number, raw: string | Buffer, ms = 3000): Promise<string> {
  const c = await TestClient.connect(port);
  cleanups.push(() => c.close());
  c.write(raw);
  return (await c.untilClose(ms)).toString('latin1');
}

/** Let the upstream finish parsing whatever reached it. */
const settle = () => new Promise((r) => setTimeout(r, 150));

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const targets = (up: RecordingUpstream) => up.requests.map((r) => `${r.method} ${r.target}`);

describe('issue 10 item 1: a request smuggled behind an upgrade', () => {
  const UPGRADE = 'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';

  it('alone, the smuggled request is dropped (rule 4210550)', async () => {
    const up = await upstream();
    const g = await gateway(up.port);
    expect(await exchange(g.port, SMUGGLED)).toBe('');
    await settle();
    expect(up.requests).toEqual([]);
  });

  for (const kind of ['llhttp', 'raw'] as const) {
    it(`behind an upgrade the upstream (${kind}) refuses, it never reaches the upstream: answer, then close`, async () => {
      const up = await upstream(kind);
      const g = await gateway(up.port);
      const text = await exchange(g.port, UPGRADE + SMUGGLED);
      await settle();
      expect(targets(up)).toEqual(['GET /owa/']);
      expect(up.errors).toEqual([]);
      expect(statuses(text)).toEqual([200]);
      expect(text).toMatch(/Connection: close/i);
    });
  }

  it('against the Exchange emulator (bulwark lab exchange): no SSRF in its IIS or HttpProxy logs', async () => {
    const logDir = tmpDir();
    const lab = await startExchangeEmulator({
      build: '15.1.2176.2',
      http: true,
      logDir,
      isVulnerable: () => true,
    });
    cleanups.push(() => lab.close());
    const g = await gateway(lab.port);
    const text = await exchange(g.port, UPGRADE + SMUGGLED);
    expect(statuses(text).length).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    await g.close();
    await lab.close(); // flushes its log writer
    const logs: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else logs.push(readFileSync(p, 'latin1'));
      }
    };
    walk(logDir);
    expect(logs.join('\n')).toContain('/owa/'); // the emulator did log the allowed request
    expect(logs.join('\n')).not.toMatch(/ServerInfo~localhost|x\.js/);
  });

  it('bytes sent after the upgrade request in later writes, before the answer, are held too', async () => {
    const up = await upstream('raw');
    const g = await gateway(up.port);
    const c = await TestClient.connect(g.port);
    cleanups.push(() => c.close());
    c.write(`${UPGRADE.slice(0, -2)}X-Answer: 400\r\n\r\n`);
    for (const piece of [SMUGGLED.slice(0, 20), SMUGGLED.slice(20)]) {
      await new Promise((r) => setTimeout(r, 20));
      c.write(piece);
    }
    await c.untilClose(3000);
    expect(targets(up)).toEqual(['GET /owa/']);
  });

  it('after a 101 the held bytes are tunnel data: forwarded once the upstream switched, in order', async () => {
    const up = await upstream('raw');
    const g = await gateway(up.port);
    const c = await TestClient.connect(g.port);
    cleanups.push(() => c.close());
    c.write(`${UPGRADE.slice(0, -2)}X-Answer: 101\r\n\r\n${SMUGGLED}`);
    const r = await c.response();
    expect(r.head.status).toBe(101);
    c.write('more');
    const deadline = Date.now() + 3000;
    while (Buffer.concat(up.tunnels).length < SMUGGLED.length + 4 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 10));
    expect(Buffer.concat(up.tunnels).toString()).toBe(`${SMUGGLED}more`);
    expect(targets(up)).toEqual(['GET /owa/']); // tunnel bytes are not HTTP to the upstream either
  });

  it('Expect: 100-continue on the upgrade changes nothing', async () => {
    const up = await upstream();
    const g = await gateway(up.port);
    const text = await exchange(g.port, `${UPGRADE.slice(0, -2)}Expect: 100-continue\r\n\r\n${SMUGGLED}`);
    await settle();
    expect(targets(up)).toEqual(['GET /owa/']);
    expect(statuses(text).at(-1)).toBe(200);
  });

  it('h2c and other non-WebSocket upgrades are plain HTTP: headers stripped, pipelined requests inspected', async () => {
    const up = await upstream('raw');
    const g = await gateway(up.port);
    const h2c =
      'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Answer: 101\r\n\r\n';
    const text = await exchange(g.port, h2c + SMUGGLED);
    await settle();
    expect(targets(up)).toEqual(['GET /owa/']); // the smuggled request was parsed, inspected and dropped
    expect(up.requests[0]!.headers.map(([n]) => n.toLowerCase())).not.toContain('upgrade');
    expect(statuses(text)).toEqual([200]);
    for (const variant of [
      'POST /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Answer: 101\r\nContent-Length: 0\r\n\r\n',
      'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\nX-Answer: 101\r\n\r\n',
      'GET /owa/ HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\nX-Answer: 101\r\n\r\n',
      'GET /owa/ HTTP/1.0\r\nHost: mail\r\nConnection: Upgrade, keep-alive\r\nUpgrade: websocket\r\nX-Answer: 101\r\n\r\n',
    ]) {
      up.requests.length = 0;
      const t = await exchange(g.port, variant + SMUGGLED);
      await settle();
      expect(targets(up).length, variant).toBe(1);
      expect(up.tunnels, variant).toEqual([]);
      expect(statuses(t), variant).toEqual([200]);
    }
  });

  it('HTTP/1.0 keep-alive and absolute-form targets pipeline the same way: the attack is dropped', async () => {
    const up = await upstream();
    const g = await gateway(up.port);
    const text = await exchange(
      g.port,
      `GET http://mail/owa/ HTTP/1.0\r\nHost: mail\r\nConnection: keep-alive\r\n\r\nGET http://mail/owa/auth/x.js HTTP/1.1\r\nHost: mail\r\nCookie: ${ANON_COOKIE}\r\n\r\n`,
    );
    await settle();
    expect(targets(up)).toEqual(['GET /owa/']);
    expect(statuses(text)).toEqual([200]);
  });

  it('an absolute-form target naming another host than Host is refused (routes read one, rules the other)', async () => {
    const up = await upstream();
    const g = await gateway(up.port);
    const text = await exchange(g.port, 'GET http://other/owa/ HTTP/1.1\r\nHost: mail\r\n\r\n');
    expect(statuses(text)).toEqual([400]);
    const same = await exchange(
      g.port,
      'GET http://MAIL:80/owa/ HTTP/1.1\r\nHost: mail\r\nConnection: close\r\n\r\n',
    );
    expect(statuses(same)).toEqual([200]);
    await settle();
    expect(targets(up)).toEqual(['GET /owa/']);
  });

  it('CONNECT and Transfer-Encoding "chunked, identity" are refused before anything is forwarded', async () => {
    const up = await upstream();
    const g = await gateway(up.port);
    expect(
      statuses(await exchange(g.port, `CONNECT mail:443 HTTP/1.1\r\nHost: mail:443\r\n\r\n${SMUGGLED}`)),
    ).toEqual([501]);
    const te = `POST /owa/ HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`;
    expect(statuses(await exchange(g.port, te))).toEqual([400]);
    await settle();
    expect(up.requests).toEqual([]);
  });
});

describe('issue 10 item 2: body rules on upgrade requests', () => {
  it('a SetObject web-shell POST with Connection: Upgrade / Upgrade: websocket is inspected and denied', async () => {
    const up = await upstream('raw');
    const g = await gateway(up.port);
    for (const upgrade of ['Connection: Upgrade\r\nUpgrade: websocket\r\n', '']) {
      const text = await exchange(
        g.port,
        `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\n${upgrade}Content-Type: application/json\r\nContent-Length: ${WEBSHELL.length}\r\n\r\n${WEBSHELL}`,
      );
      expect(statuses(text), upgrade).toEqual([403]);
    }
    // A GET WebSocket handshake carrying the body (the one upgrade the gateway tunnels) is inspected too.
    const get = await exchange(
      g.port,
      `GET ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${WEBSHELL.length}\r\n\r\n${WEBSHELL}`,
    );
    expect(statuses(get)).toEqual([403]);
    await settle();
    expect(up.requests).toEqual([]);
  });

  it('RPC_IN_DATA is no exception: its body is inspected when a body rule could match it', async () => {
    const dir = tmpDir();
    const rule = writeTmp(
      dir,
      'rpc.conf',
      'SecRule REQUEST_METHOD "@streq RPC_IN_DATA" "id:9100,phase:2,deny,status:403,chain"\n  SecRule REQUEST_BODY "@contains evil" "t:none"\n',
    );
    const up = await upstream('raw');
    const g = await gateway(up.port, [rule], { max_inspect_body_bytes: 64 });
    const rpc = (body: string) =>
      `RPC_IN_DATA /rpc/rpcproxy.dll HTTP/1.1\r\nHost: mail\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    expect(statuses(await exchange(g.port, rpc('an evil body')))).toEqual([403]);
    expect(statuses(await exchange(g.port, rpc(`${' '.repeat(100)}evil`)))).toEqual([413]);
    const ok = await TestClient.connect(g.port);
    cleanups.push(() => ok.close());
    ok.write(rpc('fine'));
    expect((await ok.response('RPC_IN_DATA')).head.status).toBe(200);
    expect(targets(up)).toEqual(['RPC_IN_DATA /rpc/rpcproxy.dll']);
    expect(up.requests[0]!.body.toString()).toBe('fine');
  });
});

describe('issue 10 item 3: a payload behind more padding than max_inspect_body_bytes', () => {
  const padded = Buffer.concat([Buffer.alloc(1024 * 1024, ' '), Buffer.from(WEBSHELL)]);
  const post = (framing: string) =>
    `POST ${SET_OBJECT} HTTP/1.1\r\nHost: mail\r\nContent-Type: application/json\r\n${framing}\r\n`;
  const chunked = (body: Buffer) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length; i += 65536) {
      const c = body.subarray(i, i + 65536);
      parts.push(Buffer.from(`${c.length.toString(16)};ext=1\r\n`), c, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\nX-Trailer: t\r\n\r\n'));
    return Buffer.concat(parts);
  };

  it('is refused with 413 by default (Content-Length: before the body is read; chunked: at the bound)', async () => {
    const up = await upstream();
    const g = await gateway(up.port);
    const byLength = await exchange(
      g.port,
      Buffer.concat([Buffer.from(post(`Content-Length: ${padded.length}\r\n`)), padded]),
    );
    expect(statuses(byLength)).toEqual([413]);
    // Expect: 100-continue is answered 413 at once, without a 100 Continue.
    const expect100 = await exchange(
      g.port,
      post(`Content-Length: ${padded.length}\r\nExpect: 100-continue\r\n`),
    );
    expect(statuses(expect100)).toEqual([413]);
    const byChunks = await exchange(
      g.port,
      Buffer.concat([Buffer.from(post('Transfer-Encoding: chunked\r\n')), chunked(padded)]),
    );
    expect(statuses(byChunks)).toEqual([413]);
    await settle();
    expect(up.requests).toEqual([]);
  });

  it('a body of exactly max_inspect_body_bytes is still inspected whole; bodies no rule reads are not limited', async () => {
    const up = await upstream();
    const g = await gateway(up.port, PACK, { max_inspect_body_bytes: 4096 });
    const exact = Buffer.alloc(4096, ' ');
    exact.write(WEBSHELL, 4096 - WEBSHELL.length);
    expect(
      statuses(await exchange(g.port, Buffer.concat([Buffer.from(post('Content-Length: 4096\r\n')), exact]))),
    ).toEqual([403]);
    const c = await TestClient.connect(g.port);
    cleanups.push(() => c.close());
    c.write(`POST /ews/exchange.asmx HTTP/1.1\r\nHost: mail\r\nContent-Length: ${padded.length}\r\n\r\n`);
    c.write(padded);
    expect((await c.response('POST')).head.status).toBe(200);
    expect(up.requests.map((r) => r.body.length)).toEqual([padded.length]);
  });

  it('limits.over_limit_body: inspect_partial is the documented opt-in that forwards it (first bytes inspected)', async () => {
    const up = await upstream();
    const g = await gateway(up.port, PACK, { over_limit_body: 'inspect_partial' });
    const c = await TestClient.connect(g.port);
    cleanups.push(() => c.close());
    c.write(Buffer.concat([Buffer.from(post(`Content-Length: ${padded.length}\r\n`)), padded]));
    expect((await c.response('POST')).head.status).toBe(200);
    expect(up.requests.map((r) => r.body.length)).toEqual([padded.length]);
    // Within the inspected prefix it is still denied.
    const early = Buffer.concat([Buffer.from(WEBSHELL), Buffer.alloc(2 * 1024 * 1024, ' ')]);
    expect(
      statuses(
        await exchange(
          g.port,
          Buffer.concat([Buffer.from(post(`Content-Length: ${early.length}\r\n`)), early]),
        ),
      ),
    ).toEqual([403]);
  });
});
